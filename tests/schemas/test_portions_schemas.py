"""pandera contracts of the apportionment tables: they accept what ``apportion`` accepts
(str or int keys) and refuse what it refuses, naming the rule."""

from __future__ import annotations

import math

import pandas as pd
import pandera.errors
import polars as pl
import pytest

from fairalloc.schemas import portions as schemas
from fairalloc.transforms.portions import apportion
from tests.schemas import assert_both_refuse


@pytest.mark.parametrize("keys", [["a", "b", "c"], [1, 2, 3]])
def test_the_models_accept_what_the_transform_accepts(keys):
    ratios = pl.DataFrame({"key": keys, "ratio": [3, 1, 0]})  # whole-number ratios too
    assert schemas.PortionRatios.validate(ratios)["ratio"].dtype == pl.Float64
    portions = apportion(ratios, 8).to_frame()
    schemas.PortionsOutput.validate(portions)
    assert portions["portions"].sum() == 8


@pytest.mark.parametrize(
    ("keys", "ratios", "rule"),
    [([1, 2], [1.0, math.nan], "not_nullable"),
     ([1, 2], [1.0, math.inf], "finite"),
     ([1, 2], [1.0, -1.0], "greater_than_or_equal_to"),
     ([1, 1], [1.0, 1.0], "field_uniqueness"),  # apportion never collapses a repeated key
     ([1.5, 2.5], [1.0, 1.0], "str_or_int")],
)
def test_the_models_refuse_what_the_transform_refuses_naming_the_rule(keys, ratios, rule):
    bad = pl.DataFrame({"key": keys, "ratio": ratios})
    assert_both_refuse(schemas.PortionRatios, bad, rule, lambda: apportion(bad, 5))


def test_negative_portions_fail_the_output_contract():
    out = pd.DataFrame({"portions": [2, -1]}, index=pd.Index([1, 2], name="key"))
    with pytest.raises(pandera.errors.SchemaErrors) as info:
        schemas.PortionsOutput.validate(out, lazy=True)
    assert info.value.failure_cases["check"].tolist() == ["greater_than_or_equal_to(0)"]
