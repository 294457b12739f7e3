"""Stable output schemas: every output table has the same columns and dtypes whatever the data
(an empty and a full case per table, both accepted by the table's pandera model), and an empty
table keeps its string and float types through Parquet."""

from __future__ import annotations

import io

import pandas as pd
import polars as pl
import pytest

import fairalloc as fa
from fairalloc.schemas import assignment, coverage, periods, portions, sourcing
from fairalloc.transforms.assignment import assignment_summary


def _same_schema(empty: pd.DataFrame, full: pd.DataFrame) -> None:
    assert list(empty.columns) == list(full.columns)
    assert empty.dtypes.to_dict() == full.dtypes.to_dict()
    assert list(empty.index.names) == list(full.index.names)


def _parquet_schema(frame: pd.DataFrame) -> dict:
    buffer = io.BytesIO()
    pl.from_pandas(frame.reset_index(drop=frame.index.names == [None])).write_parquet(buffer)
    buffer.seek(0)
    return dict(pl.read_parquet(buffer).schema)


# --- tables that the transforms themselves return empty or full ----------------------------------

def _audit(amounts):
    groups = pd.DataFrame({"group": ["a", "b"], "population": [10, 10], "prior": [0, 0],
                           "weight": [2.0, 1.0]})
    elig = pd.DataFrame({"group": ["a", "b"], "resource": ["R", "R"]})
    alloc = pd.Series(amounts, index=pd.MultiIndex.from_tuples([("a", "R"), ("b", "R")],
                                                               names=["group", "resource"]))
    return fa.audit_fairness(groups, alloc, elig)


def test_fairness_audit_empty_and_full_share_columns_and_dtypes():
    empty, full = _audit([0.0, 0.0]), _audit([1.0, 5.0])
    assert empty.empty and len(full) == 1
    _same_schema(empty, full)
    for table in (empty, full):
        coverage.AuditOutput.validate(table)
    schema = _parquet_schema(empty)
    assert schema["complainant"] == pl.String and schema["definition"] == pl.String
    assert schema["amount"] == pl.Float64 and schema["other_coverage"] == pl.Float64
    assert _parquet_schema(empty) == _parquet_schema(full)


def _allocation(items, ranks):
    return pd.DataFrame({"item": pd.array(items, dtype="str"),
                         "rank": pd.array(ranks, dtype="Int64")},
                        index=pd.Index(["u1", "u2", "u3"], name="user"))


def test_assignment_summary_has_every_rank_column_whatever_was_obtained():
    caps = {"X": 2, "Y": None}
    nobody = assignment_summary(_allocation([None, None, None], [None, None, None]), caps,
                                max_rank=4)
    gaps = assignment_summary(_allocation(["X", "Y", None], [1, 3, None]), caps, max_rank=4)
    assert list(gaps.columns) == ["capacity", "assigned", "rank_1", "rank_2", "rank_3",
                                  "rank_4"]
    assert gaps["rank_2"].tolist() == [0, 0] and gaps["rank_3"].tolist() == [0, 1]
    _same_schema(nobody, gaps)
    for table in (nobody, gaps):
        assignment.SummaryOutput.validate(table)
    assert _parquet_schema(nobody) == _parquet_schema(gaps)


def test_assignment_summary_model_refuses_a_missing_rank_column():
    table = assignment_summary(_allocation(["X", "Y", None], [1, 3, None]), {"X": 2, "Y": None},
                               max_rank=3)
    with pytest.raises(Exception, match="rank_columns_1_to_max"):
        assignment.SummaryOutput.validate(table.drop(columns="rank_2"), lazy=True)


def test_assignment_summary_refuses_a_max_rank_below_a_rank_obtained():
    with pytest.raises(fa.ParameterError, match="max_rank"):
        assignment_summary(_allocation(["X", "Y", None], [1, 3, None]), {"X": 2, "Y": None},
                           max_rank=2)


# --- every other output: a full table from its transform and its empty slice ---------------------

def _outputs():
    by = list(sourcing.BY)  # the pipeline's outputs: grouped by (commodity, year)
    matches = [("cocoa", 2024, "A", "X"), ("cocoa", 2024, "B", "X")]
    cap = {("cocoa", 2024, "A"): 5, ("cocoa", 2024, "B"): 5}
    dem = {("cocoa", 2024, "X"): 20}
    src, snk = fa.direct_sourcing(matches, cap, dem, by=by)
    prop = fa.proportional_sourcing(matches, dem, cap, by=by)
    req = pd.DataFrame({"scenario": "s", "account": ["A", "B"], "period": [1, 1],
                        "request": [9.0, 9.0]})
    cur = pd.DataFrame({"scenario": "s", "account": ["A", "B"], "currency": [1.0, 1.0]})
    caps = pd.DataFrame({"scenario": ["s"], "period": [1], "capacity": [10.0]})
    per = fa.allocate_period_groups(req, cur, caps, by=list(periods.BY))
    draw = fa.lottery_groups(per.allocation, caps, by=list(periods.BY))
    prefs = pd.DataFrame({"user": ["a", "b"], "item": ["X", "X"], "rank": [1, 1]})
    assign = fa.assign_preferences(prefs, {"X": 1})
    groups = pd.DataFrame({"group": ["a", "b"], "population": [10, 30], "prior": [0.0, 0.0],
                           "weight": [2.0, 1.0]})
    cov = fa.allocate_coverage(groups, groups[["group"]].assign(resource="R"), {"R": 15})
    return {
        "direct_sourcing": (sourcing.DirectOutput, pd.concat([src, snk], axis=1)),
        "proportional_sourcing": (sourcing.ProportionalOutput, prop.to_frame()),
        "period_allocation": (periods.AllocationOutput, per.allocation),
        "period_accounts": (periods.AccountsOutput, per.accounts),
        "period_summary": (periods.PeriodsOutput, per.periods),
        "seat_lottery": (periods.LotteryOutput, draw),
        "assignments": (assignment.AssignmentsOutput, assign.allocation),
        "coverage_allocation": (coverage.AllocationOutput, cov.allocation.to_frame()),
        "group_coverage": (coverage.GroupsOutput, cov.groups),
        "resource_usage": (coverage.ResourcesOutput, cov.resources),
        "portions": (portions.PortionsOutput, fa.apportion({"a": 3, "b": 1}, 8).to_frame()),
    }


OUTPUTS = _outputs()


@pytest.mark.parametrize("name", list(OUTPUTS))
def test_every_output_model_accepts_the_full_table_and_its_empty_slice(name):
    model, full = OUTPUTS[name]
    empty = full.iloc[:0]
    for table in (full, empty):
        model.validate(table)
    _same_schema(empty, full)
    assert _parquet_schema(empty) == _parquet_schema(full)
