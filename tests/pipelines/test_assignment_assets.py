"""The assignment assets materialised into a temporary directory."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import polars as pl

from fairalloc.pipelines.assets import assignment as assignment_assets
from fairalloc.pipelines.assets import of
from fairalloc.pipelines.io_manager import ParquetIOManager
from fairalloc.pipelines.resources import DataDir
from fairalloc.transforms.assignment import assign_preferences
from tests import ROOT

DATA = ROOT / "data"


def test_assignment_group_materialises_and_matches_the_transform(tmp_path):
    result = dg.materialize(
        of(assignment_assets),
        resources={"io_manager": ParquetIOManager(base_dir=str(tmp_path)),
                   "data_dir": DataDir(path=str(DATA))},
        run_config={"ops": {"assignments": {"config": {"seed": 3}}}},
    )
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())
    stored = pd.read_parquet(tmp_path / "assignments.parquet")
    direct = assign_preferences(pl.read_parquet(DATA / "assignment" / "preferences.parquet"),
                                pl.read_parquet(DATA / "assignment" / "capacities.parquet"),
                                seed=3)
    pd.testing.assert_frame_equal(stored, direct.allocation)
    summary = pd.read_parquet(tmp_path / "assignment_summary.parquet")
    assert summary["assigned"].sum() == stored["item"].notna().sum()
    limited = summary["capacity"].notna()
    assert (summary.loc[limited, "assigned"] <= summary.loc[limited, "capacity"]).all()
    assert summary.filter(like="rank_").sum(axis=1).le(summary["assigned"]).all()


def test_check_finds_an_item_over_capacity():
    from fairalloc.transforms.assignment import assignment_violations

    alloc = pd.DataFrame({"item": ["X", "X", "Y"], "rank": [1, 1, 1]},
                         index=pd.Index(["a", "b", "b"], name="user"))
    found = assignment_violations(alloc, {"X": 1, "Y": None})
    assert set(found["rule"]) == {"over_capacity", "duplicate_user"}
