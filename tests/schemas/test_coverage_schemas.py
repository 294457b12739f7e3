"""pandera contracts of the coverage tables: they accept what ``allocate_coverage`` accepts
(str or int keys, exactly repeated rows and pairs) and refuse what it refuses, naming the
rule."""

from __future__ import annotations

import math

import pandas as pd
import pandera.errors
import polars as pl
import pytest

from fairalloc.schemas import coverage as schemas
from fairalloc.transforms.coverage import allocate_coverage
from tests.schemas import assert_both_refuse


def _tables(kind=int):
    k = (lambda i: f"k{i}") if kind is str else (lambda i: i)
    groups = pl.DataFrame({"group": [k(1), k(1), k(2)], "population": [10.0, 10.0, 20.0],
                           "prior": [0.0, 0.0, 0.5], "weight": [1.0, 1.0, 2.0]})
    eligibility = pl.DataFrame({"group": [k(1), k(1), k(2)], "resource": [k(7)] * 3})
    supply = pl.DataFrame({"resource": [k(7), k(7)], "supply": [5.0, 5.0]})
    return groups, eligibility, supply


@pytest.mark.parametrize("kind", [str, int])
def test_the_models_accept_what_the_transform_accepts(kind):
    groups, eligibility, supply = _tables(kind)
    schemas.PopulationGroups.validate(groups)
    schemas.Eligibility.validate(eligibility)
    schemas.ResourceSupply.validate(supply)
    res = allocate_coverage(groups, eligibility, supply)
    schemas.AllocationOutput.validate(res.allocation.to_frame())
    schemas.GroupsOutput.validate(res.groups)
    schemas.ResourcesOutput.validate(res.resources)


@pytest.mark.parametrize(
    ("table", "column", "values", "rule"),
    [("groups", "population", [10.0, 10.0, 0.0], "greater_than(0)"),
     ("groups", "prior", [0.0, 0.0, 1.0], "less_than(1)"),
     ("groups", "weight", [1.0, 1.0, math.inf], "finite"),
     ("groups", "weight", [1.0, 3.0, 2.0], "one_value_per_key"),
     ("supply", "supply", [5.0, math.nan], "not_nullable"),
     ("supply", "supply", [-5.0, -5.0], "greater_than(0)")],
)
def test_the_models_refuse_what_the_transform_refuses_naming_the_rule(table, column, values,
                                                                      rule):
    groups, eligibility, supply = _tables()
    if table == "groups":
        groups = groups.with_columns(pl.Series(column, values))
        schema, bad = schemas.PopulationGroups, groups
    else:
        supply = supply.with_columns(pl.Series(column, values))
        schema, bad = schemas.ResourceSupply, supply
    assert_both_refuse(schema, bad, rule, lambda: allocate_coverage(groups, eligibility, supply))


def test_coverage_above_one_fails_the_output_contract():
    cols = ("population", "prior", "weight", "shortfall", "allocated", "marginal_value")
    out = pd.DataFrame({**{c: [1.0] for c in cols}, "coverage": [1.5]},
                       index=pd.Index(["g"], name="group"))
    out["prior"] = 0.5
    with pytest.raises(pandera.errors.SchemaErrors) as info:
        schemas.GroupsOutput.validate(out, lazy=True)
    assert info.value.failure_cases["check"].tolist() == ["less_than_or_equal_to(1)"]
