"""pandera contracts of the sourcing tables."""

from __future__ import annotations

import math

import pandas as pd
import pandera.errors
import polars as pl
import pytest

from fairalloc.schemas import sourcing as schemas
from fairalloc.transforms import sourcing as tf
from tests.schemas import assert_both_refuse


def _cap(**overrides):
    data = {"commodity": ["c", "c"], "year": [2024, 2024], "source": ["A", "B"],
            "capacity": [1.0, 2.0]} | overrides
    return pl.DataFrame(data)


def test_valid_capacity_passes():
    assert schemas.GroupedSourceCapacity.validate(_cap()).height == 2


@pytest.mark.parametrize(
    ("overrides", "check"),
    [
        ({"capacity": [1.0, -2.0]}, "greater_than_or_equal_to"),
        ({"capacity": [1.0, math.inf]}, "finite"),
        ({"capacity": [1.0, math.nan]}, "not_nullable"),
        ({"source": ["A", "A"]}, "one_value_per_key"),
    ],
)
def test_bad_capacity_rows_are_reported(overrides, check):
    with pytest.raises(pandera.errors.SchemaErrors) as info:
        schemas.GroupedSourceCapacity.validate(_cap(**overrides), lazy=True)
    cases = info.value.failure_cases
    assert any(check in c for c in cases["check"].to_list())


def test_demand_must_be_finite():
    bad = pl.DataFrame({"sink": ["X"], "demand": [math.inf]})
    with pytest.raises(pandera.errors.SchemaErrors):
        schemas.SinkDemand.validate(bad, lazy=True)


def test_direct_output_schema_checks_index_and_values():
    index = pd.MultiIndex.from_tuples([("c", 2024, "A", "X")],
                                      names=["commodity", "year", "source", "sink"])
    good = pd.DataFrame({"source_volume": [1.0], "sink_volume": [1.0]}, index=index)
    schemas.DirectOutput.validate(good)
    with pytest.raises(pandera.errors.SchemaError):
        schemas.DirectOutput.validate(good.assign(sink_volume=-1.0))
    with pytest.raises(pandera.errors.SchemaError):
        schemas.DirectOutput.validate(good.reset_index(level="year", drop=True))


# --- schema and transform agree --------------------------------------------------------------

def _tables(kind):
    """Grouped inputs with str or int keys; a repeated match and an exactly repeated capacity
    row (both collapse in the transform)."""
    k = (lambda i: f"k{i}") if kind is str else (lambda i: i)
    matches = pl.DataFrame({"commodity": [k(1)] * 3, "year": [2024] * 3,
                            "source": [k(0), k(0), k(1)], "sink": [k(9)] * 3})
    capacity = pl.DataFrame({"commodity": [k(1)] * 3, "year": [2024] * 3,
                             "source": [k(0), k(0), k(1)], "capacity": [1.0, 1.0, 2.0]})
    demand = pl.DataFrame({"commodity": [k(1)], "year": [2024], "sink": [k(9)],
                           "demand": [2.5]})
    return matches, capacity, demand


@pytest.mark.parametrize("kind", [str, int])
def test_the_models_accept_what_the_transforms_accept(kind):
    matches, capacity, demand = _tables(kind)
    schemas.GroupedMatches.validate(matches)
    schemas.GroupedSourceCapacity.validate(capacity)
    schemas.GroupedSinkDemand.validate(demand)
    by = list(schemas.BY)
    source_volume, sink_volume = tf.direct_sourcing(matches, capacity, demand, by=by)
    schemas.DirectOutput.validate(pd.concat([source_volume, sink_volume], axis=1))
    volume = tf.proportional_sourcing(matches, demand, capacity, by=by)
    schemas.ProportionalOutput.validate(volume.to_frame())


@pytest.mark.parametrize(
    ("column", "values", "rule"),
    [("capacity", [1.0, 1.0, math.nan], "not_nullable"),
     ("capacity", [1.0, 1.0, math.inf], "finite"),
     ("capacity", [1.0, 1.0, -2.0], "greater_than_or_equal_to"),
     ("capacity", [1.0, 3.0, 2.0], "one_value_per_key"),
     ("source", [0.5, 0.5, 1.5], "str_or_int")],
)
def test_the_models_refuse_what_the_transforms_refuse_naming_the_rule(column, values, rule):
    matches, capacity, demand = _tables(int)
    bad = capacity.with_columns(pl.Series(column, values))
    assert_both_refuse(schemas.GroupedSourceCapacity, bad, rule, lambda: tf.direct_sourcing(
        matches.with_columns(pl.Series("source", [0.5, 0.5, 1.5])) if column == "source"
        else matches, bad, demand, by=list(schemas.BY)))


def test_an_infinite_volume_fails_the_output_contract():
    index = pd.MultiIndex.from_tuples([("c", 2024, "A", "X")],
                                      names=["commodity", "year", "source", "sink"])
    out = pd.DataFrame({"volume": [math.inf]}, index=index)
    with pytest.raises(pandera.errors.SchemaErrors) as info:
        schemas.ProportionalOutput.validate(out, lazy=True)
    assert info.value.failure_cases["check"].tolist() == ["finite"]
