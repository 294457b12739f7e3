"""pandera contracts of the sourcing tables."""

from __future__ import annotations

import math

import pandas as pd
import pandera.errors
import polars as pl
import pytest

from fairalloc.schemas import sourcing as schemas


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
