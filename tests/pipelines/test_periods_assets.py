"""The periods assets materialised into a temporary directory."""

from __future__ import annotations

import dagster as dg
import numpy as np
import pandas as pd
import polars as pl
import pytest

from fairalloc.pipelines.assets import of
from fairalloc.pipelines.assets import periods as period_assets
from fairalloc.pipelines.io_manager import ParquetIOManager
from fairalloc.pipelines.resources import DataDir
from fairalloc.transforms.periods import allocate_periods
from tests import ROOT

DATA = ROOT / "data"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    storage = tmp_path_factory.mktemp("storage")
    result = dg.materialize(
        of(period_assets),
        resources={"io_manager": ParquetIOManager(base_dir=str(storage)),
                   "data_dir": DataDir(path=str(DATA))},
        run_config={"ops": {"seat_lottery": {"config": {"seed": 11}}}},
    )
    return result, storage


def test_materialises_with_passing_checks(run):
    result, storage = run
    assert result.success
    evaluations = result.get_asset_check_evaluations()
    assert {e.check_name for e in evaluations} == {"period_allocation_conserves",
                                                   "lottery_within_capacity"}
    assert all(e.passed for e in evaluations)
    for name in ("period_allocation", "period_accounts", "period_summary", "seat_lottery"):
        assert (storage / f"{name}.parquet").is_file()


def test_published_scenario_read_back(run):
    _, storage = run
    table = pd.read_parquet(storage / "period_allocation.parquet")
    assert table.index.names == ["scenario", "account", "period"]
    published = table.xs("published", level="scenario")["allocation"].unstack("period")
    np.testing.assert_allclose(published.to_numpy(),
                               np.repeat([[48.0], [36.0], [24.0], [12.0]], 4, axis=1), atol=1e-9)


def test_large_scenario_equals_the_transform(run):
    _, storage = run
    pick = pl.col("scenario") == "large"
    load = [pl.read_parquet(DATA / "periods" / f"{n}.parquet").filter(pick).drop("scenario")
            for n in ("requests", "accounts", "capacities")]
    direct = allocate_periods(*load)
    stored = pd.read_parquet(storage / "period_allocation.parquet").xs("large", level="scenario")
    pd.testing.assert_frame_equal(stored, direct.allocation, check_exact=True)


def test_lottery_seed_and_capacity(run):
    result, storage = run
    draw = pd.read_parquet(storage / "seat_lottery.parquet")
    caps = pl.read_parquet(DATA / "periods" / "capacities.parquet").to_pandas()
    limit = caps.set_index(["scenario", "period"])["capacity"]
    won = draw.groupby(level=["scenario", "period"])["won"].sum()
    assert (won <= np.floor(limit.reindex(won.index))).all()
    meta = {e.asset_key.to_user_string(): e.materialization.metadata
            for e in result.get_asset_materialization_events()}
    assert meta["seat_lottery"]["seed"].value == 11
    assert meta["period_summary"]["utilization published / 1"].value == 1.0  # shown clipped
