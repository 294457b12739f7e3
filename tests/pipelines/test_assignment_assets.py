"""The assignment assets, partitioned per campaign, materialised into a temporary directory."""

from __future__ import annotations

import pandas as pd
import polars as pl
import pytest

from fairalloc.pipelines import load_output
from fairalloc.pipelines.assets import assignment as assignment_assets
from fairalloc.pipelines.io_manager import partition_path
from fairalloc.pipelines.partitions import ASSIGNMENT
from fairalloc.transforms.assignment import (
    assign_preferences,
    assignment_summary,
    assignment_violations,
)
from tests.pipelines import DATA, materialise, read

BY = ["campaign"]
CAMPAIGNS = ["2025-autumn", "2026-autumn", "2026-spring"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    storage = tmp_path_factory.mktemp("storage")
    result = materialise(assignment_assets, storage, groups=ASSIGNMENT,
                         run_config={"ops": {"assignments": {"config": {"seed": 3}}}})
    return result, storage


def test_every_campaign_is_a_partition_with_a_passing_check(run):
    result, _ = run
    assert result.success
    (check,) = result.get_asset_check_evaluations()
    assert check.check_name == "assignments_respect_capacity" and check.passed
    done = {(e.asset_key.to_user_string(), e.partition)
            for e in result.get_asset_materialization_events()}
    assert {k for n, k in done if n == "assignments"} == set(CAMPAIGNS)


def test_each_partition_equals_the_by_result_restricted_to_its_campaign(run):
    _, storage = run
    prefs, caps = read(DATA, "assignment", "preferences"), read(DATA, "assignment", "capacities")
    full = assign_preferences(prefs, caps, by=BY, seed=3).allocation
    summary = assignment_summary(full, caps, by=BY)
    for name, table in (("assignments", full), ("assignment_summary", summary)):
        for key in CAMPAIGNS:
            stored = pd.read_parquet(partition_path(storage, name, BY, key))
            expected = table[table.index.get_level_values("campaign") == key]
            assert len(stored) == len(expected) > 0
            pd.testing.assert_frame_equal(stored, expected, check_exact=True)


def test_a_campaign_equals_its_solve_alone(run):
    _, storage = run
    pick = pl.col("campaign") == "2026-spring"
    alone = assign_preferences(read(DATA, "assignment", "preferences").filter(pick).drop(BY),
                               read(DATA, "assignment", "capacities").filter(pick).drop(BY),
                               seed=3)
    stored = load_output("assignments", storage=storage).xs("2026-spring", level="campaign")
    pd.testing.assert_frame_equal(stored, alone.allocation, check_exact=True)


def test_summary_counts_are_consistent(run):
    _, storage = run
    assigned = load_output("assignments", storage=storage)
    summary = load_output("assignment_summary", storage=storage)
    assert summary.index.names == ["campaign", "item"]
    assert summary["assigned"].sum() == assigned["item"].notna().sum()
    limited = summary["capacity"].notna()
    assert (summary.loc[limited, "assigned"] <= summary.loc[limited, "capacity"]).all()
    caps = read(DATA, "assignment", "capacities")
    assert assignment_violations(assigned, caps, by=BY).empty


def test_check_finds_an_item_over_capacity():
    alloc = pd.DataFrame({"item": ["X", "X", "Y"], "rank": [1, 1, 1]},
                         index=pd.Index(["a", "b", "b"], name="user"))
    found = assignment_violations(alloc, {"X": 1, "Y": None})
    assert set(found["rule"]) == {"over_capacity", "duplicate_user"}
