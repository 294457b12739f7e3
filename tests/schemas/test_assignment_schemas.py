"""pandera contracts of the assignment tables: they accept what ``assign_preferences``
accepts (str or int keys, exactly repeated rows, missing capacity = unlimited) and refuse what
it refuses, naming the rule."""

from __future__ import annotations

import pandas as pd
import pandera.errors
import polars as pl
import pytest

from fairalloc.schemas import assignment as schemas
from fairalloc.transforms.assignment import assign_preferences
from tests.schemas import assert_both_refuse


def _tables(kind=int):
    k = (lambda i: f"k{i}") if kind is str else (lambda i: i)
    prefs = pl.DataFrame({"user": [k(1), k(1), k(1), k(2)], "item": [k(10), k(10), k(11), k(10)],
                          "rank": [1, 1, 2, 1]})
    caps = pl.DataFrame({"item": [k(10), k(10), k(11)], "capacity": [1, 1, None]},
                        schema_overrides={"capacity": pl.Int64})
    return prefs, caps


@pytest.mark.parametrize("kind", [str, int])
def test_the_models_accept_what_the_transform_accepts(kind):
    prefs, caps = _tables(kind)
    schemas.Preferences.validate(prefs)
    schemas.ItemCapacities.validate(caps)
    out = assign_preferences(prefs, caps).allocation
    schemas.AssignmentsOutput.validate(out)
    assert out["item"].notna().all()


@pytest.mark.parametrize(
    ("table", "column", "values", "rule"),
    [("prefs", "rank", [1, 1, 0, 1], "greater_than_or_equal_to(1)"),
     ("prefs", "rank", [1, 2, 2, 1], "one_value_per_key"),  # (user, item) given two ranks
     ("caps", "capacity", [1, 1, -1], "greater_than_or_equal_to(0)"),
     ("caps", "capacity", [1, 2, None], "one_value_per_key")],
)
def test_the_models_refuse_what_the_transform_refuses_naming_the_rule(table, column, values,
                                                                      rule):
    prefs, caps = _tables()
    if table == "prefs":
        prefs = prefs.with_columns(pl.Series(column, values))
        schema, bad = schemas.Preferences, prefs
    else:
        caps = caps.with_columns(pl.Series(column, values, dtype=pl.Int64))
        schema, bad = schemas.ItemCapacities, caps
    assert_both_refuse(schema, bad, rule, lambda: assign_preferences(prefs, caps))


def test_a_rank_below_one_fails_the_output_contract():
    out = pd.DataFrame({"item": ["i", None], "rank": pd.array([0, None], dtype="Int64")},
                       index=pd.Index(["u", "v"], name="user"))
    with pytest.raises(pandera.errors.SchemaErrors) as info:
        schemas.AssignmentsOutput.validate(out, lazy=True)
    assert info.value.failure_cases["check"].tolist() == ["greater_than_or_equal_to(1)"]
