"""The library and the pipeline accept the same input tables: a table passes the pandera
schema derived from its definition exactly when the transform's coercion
(:func:`fairalloc.transforms._tables.table_input`, reading the same definition) accepts it.
"""

import pandera.errors
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fairalloc.schemas import assignment, coverage, periods, portions, sourcing
from fairalloc.transforms import errors
from fairalloc.transforms._tables import table_input
from tests.strategies import defined_tables

#: Every input table a transform coerces through its definition, with the definition's rules.
INPUTS = [sourcing.SOURCE_CAPACITY, sourcing.SINK_DEMAND, periods.ACCOUNTS, periods.REQUESTS,
          periods.CAPACITIES, assignment.PREFERENCES, coverage.GROUPS, coverage.SUPPLIES,
          coverage.ALLOCATION, portions.RATIOS]


def _schema_accepts(table, frame: pl.DataFrame) -> bool:
    try:
        table.polars().validate(frame, lazy=True)
    except pandera.errors.SchemaErrors:
        return False
    return True


def _transform_accepts(table, frame: pl.DataFrame) -> bool:
    try:
        table_input(frame, table, what=table.name)
    except errors.FairallocError:
        return False
    return True


@pytest.mark.parametrize("table", INPUTS, ids=lambda t: t.name)
@settings(max_examples=120, deadline=None)
@given(data=st.data())
def test_schema_and_transform_accept_the_same_tables(table, data):
    frame = data.draw(defined_tables(table))
    assert _schema_accepts(table, frame) == _transform_accepts(table, frame), frame


@pytest.mark.parametrize("table, frame, accepted", [
    # a repeated key with the same value collapses; with another value it is refused
    (sourcing.SOURCE_CAPACITY, pl.DataFrame({"source": ["a", "a"], "capacity": [1.0, 1.0]}),
     True),
    (sourcing.SOURCE_CAPACITY, pl.DataFrame({"source": ["a", "a"], "capacity": [1.0, 2.0]}),
     False),
    # portions refuse any repeated key
    (portions.RATIOS, pl.DataFrame({"key": ["a", "a"], "ratio": [1.0, 1.0]}), False),
    # zero is an amount, but not a population; a prior of 1 is not below 1
    (coverage.SUPPLIES, pl.DataFrame({"resource": ["r"], "supply": [0.0]}), False),
    (coverage.GROUPS, pl.DataFrame({"group": ["g"], "population": [1.0], "prior": [1.0],
                                    "weight": [1.0]}), False),
    (coverage.ALLOCATION, pl.DataFrame({"group": ["g"], "resource": ["r"], "amount": [0.0]}),
     True),
    (assignment.PREFERENCES, pl.DataFrame({"user": [1], "item": [2], "rank": [0]}), False),
])
def test_examples_on_both_sides(table, frame, accepted):
    assert _schema_accepts(table, frame) is accepted
    assert _transform_accepts(table, frame) is accepted
