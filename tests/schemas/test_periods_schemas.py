"""pandera contracts of the multi-period tables: they accept what ``allocate_period_groups``
accepts (str or int keys, exactly repeated rows) and refuse what it refuses, naming the rule."""

from __future__ import annotations

import math

import pandas as pd
import pandera.errors
import polars as pl
import pytest

from fairalloc.schemas import periods as schemas
from fairalloc.transforms.periods import allocate_period_groups, lottery_groups
from tests.schemas import assert_both_refuse

BY = list(schemas.BY)


def _tables(kind=int):
    k = (lambda i: f"k{i}") if kind is str else (lambda i: i)
    accounts = pl.DataFrame({"scenario": [k(0)] * 3, "account": [k(1), k(1), k(2)],
                             "currency": [3.0, 3.0, 1.0]})
    requests = pl.DataFrame({"scenario": [k(0)] * 4, "account": [k(1), k(2), k(1), k(2)],
                             "period": [1, 1, 2, 2], "request": [2.0, 2.0, 1.0, 1.0]})
    capacities = pl.DataFrame({"scenario": [k(0)] * 3, "period": [1, 2, 2],
                               "capacity": [2.0, 3.0, 3.0]})
    return requests, accounts, capacities


@pytest.mark.parametrize("kind", [str, int])
def test_the_models_accept_what_the_transform_accepts(kind):
    requests, accounts, capacities = _tables(kind)
    schemas.Accounts.validate(accounts)
    schemas.PeriodRequests.validate(requests)
    schemas.PeriodCapacities.validate(capacities)
    res = allocate_period_groups(requests, accounts, capacities, by=BY)
    schemas.AllocationOutput.validate(res.allocation)
    schemas.AccountsOutput.validate(res.accounts)
    schemas.PeriodsOutput.validate(res.periods)
    schemas.LotteryOutput.validate(lottery_groups(res.allocation, capacities, by=BY))


@pytest.mark.parametrize(
    ("table", "column", "values", "rule"),
    [("accounts", "currency", [3.0, 3.0, math.inf], "finite"),
     ("accounts", "currency", [3.0, 4.0, 1.0], "one_value_per_key"),
     ("requests", "request", [2.0, -2.0, 1.0, 1.0], "greater_than_or_equal_to(0)"),
     ("capacities", "capacity", [2.0, math.nan, math.nan], "not_nullable")],
)
def test_the_models_refuse_what_the_transform_refuses_naming_the_rule(table, column, values,
                                                                      rule):
    tables = dict(zip(("requests", "accounts", "capacities"), _tables(), strict=True))
    tables[table] = tables[table].with_columns(pl.Series(column, values))
    schema = {"requests": schemas.PeriodRequests, "accounts": schemas.Accounts,
              "capacities": schemas.PeriodCapacities}[table]
    assert_both_refuse(schema, tables[table], rule,
                       lambda: allocate_period_groups(*tables.values(), by=BY))


def test_a_binding_reason_outside_the_list_fails_the_output_contract():
    cols = ("currency", "entitlement_share", "lambda", "u_cap", "weighted_request",
            "weighted_allocated")
    out = pd.DataFrame({**{c: [1.0] for c in cols}, "binding": ["luck"]},
                       index=pd.MultiIndex.from_tuples([("s", "a")],
                                                       names=["scenario", "account"]))
    with pytest.raises(pandera.errors.SchemaErrors) as info:
        schemas.AccountsOutput.validate(out, lazy=True)
    assert [c.split("(")[0] for c in info.value.failure_cases["check"]] == ["isin"]
