"""The periods assets, partitioned per scenario, materialised into a temporary directory."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest

from fairalloc.pipelines import load_output
from fairalloc.pipelines.assets import periods as period_assets
from fairalloc.pipelines.io_manager import partition_path
from fairalloc.pipelines.partitions import PERIODS
from fairalloc.transforms.periods import allocate_period_groups, allocate_periods, lottery_groups
from tests.pipelines import DATA, materialise, read

BY = ["scenario"]
SCENARIOS = ["desks", "large", "published"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    storage = tmp_path_factory.mktemp("storage")
    result = materialise(period_assets, storage, groups=PERIODS,
                         run_config={"ops": {"seat_lottery": {"config": {"seed": 11}}}})
    return result, storage


def test_one_run_per_scenario_partition_with_passing_checks(run):
    result, storage = run
    assert result.success
    evaluations = result.get_asset_check_evaluations()
    assert {e.check_name for e in evaluations} == {"period_allocation_conserves",
                                                   "lottery_within_capacity"}
    assert all(e.passed for e in evaluations)
    done = {(e.asset_key.to_user_string(), e.partition)
            for e in result.get_asset_materialization_events()}
    for name in ("period_allocation", "period_accounts", "period_summary", "seat_lottery"):
        assert {k for n, k in done if n == name} == set(SCENARIOS)
        for key in SCENARIOS:
            assert partition_path(storage, name, BY, key).is_file()


def test_each_partition_equals_the_by_result_restricted_to_its_scenario(run):
    _, storage = run
    req, acc, cap = (read(DATA, "periods", n) for n in ("requests", "accounts", "capacities"))
    full = allocate_period_groups(req, acc, cap, by=BY)
    draw = lottery_groups(full, cap, by=BY, seed=11)
    for name, table in (("period_allocation", full.allocation), ("period_accounts", full.accounts),
                        ("period_summary", full.periods), ("seat_lottery", draw)):
        for key in SCENARIOS:
            stored = pd.read_parquet(partition_path(storage, name, BY, key))
            expected = table[table.index.get_level_values("scenario") == key]
            assert len(stored) == len(expected) > 0
            pd.testing.assert_frame_equal(stored, expected, check_exact=True)


def test_published_scenario_read_back(run):
    _, storage = run
    table = load_output("period_allocation", storage=storage)
    assert table.index.names == ["scenario", "account", "period"]
    published = table.xs("published", level="scenario")["allocation"].unstack("period")
    np.testing.assert_allclose(published.to_numpy(),
                               np.repeat([[48.0], [36.0], [24.0], [12.0]], 4, axis=1), atol=1e-9)


def test_large_scenario_equals_the_transform_alone(run):
    _, storage = run
    pick = pl.col("scenario") == "large"
    load = [read(DATA, "periods", n).filter(pick).drop("scenario")
            for n in ("requests", "accounts", "capacities")]
    direct = allocate_periods(*load)
    stored = pd.read_parquet(partition_path(storage, "period_allocation", BY, "large"))
    pd.testing.assert_frame_equal(stored.xs("large", level="scenario"), direct.allocation,
                                  check_exact=True)


def test_lottery_seed_and_capacity(run):
    result, storage = run
    draw = load_output("seat_lottery", storage=storage)
    caps = read(DATA, "periods", "capacities").to_pandas()
    limit = caps.set_index(["scenario", "period"])["capacity"]
    won = draw.groupby(level=["scenario", "period"])["won"].sum()
    assert (won <= np.floor(limit.reindex(won.index))).all()
    meta = {e.asset_key.to_user_string(): e.materialization.metadata
            for e in result.get_asset_materialization_events()}
    assert meta["seat_lottery"]["seed"].value == 11
    assert meta["period_summary"]["utilization published / 1"].value == 1.0  # shown clipped
