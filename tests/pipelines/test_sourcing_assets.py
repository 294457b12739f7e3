"""The sourcing assets materialised into a temporary directory, read back with pandas and polars."""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

import dagster as dg
import pandas as pd
import polars as pl
import pytest

from fairalloc.pipelines import defs, load_output
from fairalloc.pipelines.assets import of
from fairalloc.pipelines.assets import sourcing as sourcing_assets
from fairalloc.pipelines.io_manager import ParquetIOManager
from fairalloc.pipelines.resources import DataDir
from fairalloc.transforms.sourcing import direct_sourcing, proportional_sourcing
from tests import ROOT

DATA = ROOT / "data"
BY = ["commodity", "year"]


def _materialize(data_dir: Path, storage: Path, run_config: dict | None = None, **kwargs):
    return dg.materialize(
        of(sourcing_assets),
        resources={"io_manager": ParquetIOManager(base_dir=str(storage)),
                   "data_dir": DataDir(path=str(data_dir))},
        run_config=run_config,
        **kwargs,
    )


def _inputs(data_dir: Path):
    return [pl.read_parquet(data_dir / "sourcing" / f"{n}.parquet")
            for n in ("matches", "source_capacity", "sink_demand")]


@pytest.fixture(scope="module")
def materialised(tmp_path_factory):
    storage = tmp_path_factory.mktemp("storage")
    config = {"ops": {"direct_sourcing": {"config": {"relative_tolerance": 0.1}}}}
    result = _materialize(DATA, storage, config)
    return result, storage


def test_every_asset_materialises_and_every_check_passes(materialised):
    result, storage = materialised
    assert result.success
    keys = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert keys == {"matches", "source_capacity", "sink_demand", "proportional_sourcing",
                    "direct_sourcing"}
    evaluations = result.get_asset_check_evaluations()
    assert {e.check_name for e in evaluations} == {"direct_sourcing_conserves",
                                                   "proportional_sourcing_conserves"}
    assert all(e.passed for e in evaluations)
    assert not list(storage.glob("**/*.tmp"))


def test_outputs_read_back_equal_to_the_transform(materialised):
    _, storage = materialised
    matches, cap, dem = _inputs(DATA)
    src, sink = direct_sourcing(matches, cap, dem, relative_tolerance=0.1, by=BY)
    stored = pd.read_parquet(storage / "direct_sourcing.parquet")
    assert stored.index.names == ["commodity", "year", "source", "sink"]
    assert list(stored.columns) == ["source_volume", "sink_volume"]
    pd.testing.assert_index_equal(stored.index, src.index)
    pd.testing.assert_series_equal(stored["source_volume"], src, check_exact=True)
    pd.testing.assert_series_equal(stored["sink_volume"], sink, check_exact=True)
    assert (stored["sink_volume"] > stored["source_volume"]).any()  # the tolerance was applied

    prop = proportional_sourcing(matches, dem, cap, by=BY)
    stored = load_output("proportional_sourcing", storage=storage)
    pd.testing.assert_series_equal(stored["volume"], prop, check_exact=True)


def test_outputs_read_back_with_polars(materialised):
    _, storage = materialised
    frame = pl.read_parquet(storage / "direct_sourcing.parquet")
    assert frame.columns == ["commodity", "year", "source", "sink", "source_volume",
                             "sink_volume"]
    assert frame.height == pd.read_parquet(storage / "direct_sourcing.parquet").shape[0]
    assert frame["source_volume"].min() >= 0


def test_metadata_shows_counts_schema_totals_and_preview(materialised):
    result, _ = materialised
    events = {e.asset_key.to_user_string(): e.materialization.metadata
              for e in result.get_asset_materialization_events()}
    meta = events["direct_sourcing"]
    assert meta["dagster/row_count"].value > 10_000
    names = [c.name for c in meta["dagster/column_schema"].value.columns]
    assert names[:4] == ["commodity", "year", "source", "sink"]
    assert meta["unallocated_demand"].value > 0
    assert meta["unmatched_sinks"].value > 0
    assert "| commodity |" in meta["preview"].value
    assert meta["relative_tolerance"].value == pytest.approx(0.1)
    assert events["matches"]["dagster/row_count"].value > 10_000


def test_invalid_input_stops_downstream_and_shows_failing_rows(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(DATA / "sourcing", data / "sourcing")
    cap = pl.read_parquet(data / "sourcing" / "source_capacity.parquet")
    cap = cap.with_columns(
        pl.when(pl.int_range(pl.len()) == 3).then(-5.0).otherwise(pl.col("capacity"))
        .alias("capacity"))
    cap.write_parquet(data / "sourcing" / "source_capacity.parquet")
    result = _materialize(data, tmp_path / "storage", raise_on_error=False)
    assert not result.success
    done = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "source_capacity" not in done
    assert not {"direct_sourcing", "proportional_sourcing"} & done
    failure = next(e for e in result.all_events
                   if e.event_type_value == "STEP_FAILURE" and e.step_key == "source_capacity")
    meta = failure.step_failure_data.user_failure_data.metadata
    assert meta["failing_row_count"].value == 1
    assert "-5" in meta["failing_rows"].value


def test_definitions_job_and_stopped_schedule():
    job = defs.resolve_job_def("allocate_all")
    assert job is not None
    schedule = defs.resolve_schedule_def("allocate_all_daily")
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    assert schedule.job_name == "allocate_all"


def test_load_output_names_what_is_stored(tmp_path):
    with pytest.raises(FileNotFoundError, match="none yet"):
        load_output("direct_sourcing", storage=tmp_path)


def test_metadata_shows_the_chart_and_a_summary_per_group(materialised):
    result, storage = materialised
    meta = {e.asset_key.to_user_string(): e.materialization.metadata
            for e in result.get_asset_materialization_events()}["direct_sourcing"]
    chart = meta["chart"].value
    prefix = "![chart](data:image/png;base64,"
    assert chart.startswith(prefix) and chart.endswith(")")
    png = base64.b64decode(chart[len(prefix):-1])
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000
    summary = meta["summary"].value
    columns = [c.name for c in summary.schema.columns]
    assert columns == ["group", "matches", "source_volume", "sink_volume", "demand", "unmet",
                       "fulfilment"]
    assert all(c.description for c in summary.schema.columns)
    rows = [r.data for r in summary.records]
    assert sorted(r["group"] for r in rows) == [f"{c} / {y}" for c in ("cocoa", "coffee")
                                                for y in (2024, 2025, 2026)]
    stored = pd.read_parquet(storage / "direct_sourcing.parquet")
    assert sum(r["matches"] for r in rows) == len(stored)
    demand = pl.read_parquet(DATA / "sourcing" / "sink_demand.parquet")
    for r in rows:  # rounded for display: 6 significant digits, fractions 4 decimals
        commodity, year = r["group"].split(" / ")
        exact = demand.filter((pl.col("commodity") == commodity)
                              & (pl.col("year") == int(year)))["demand"].sum()
        assert r["demand"] == float(f"{exact:.6g}")
        assert 0 <= r["fulfilment"] <= 1 and r["fulfilment"] == round(r["fulfilment"], 4)
    assert meta["allocated"].value == float(f"{meta['allocated'].value:.6g}")


def test_assets_carry_owners_and_tags_of_their_capability():
    from fairalloc.pipelines.assets import ASSETS

    for assets_def in ASSETS:
        for spec in assets_def.specs:
            assert spec.owners == [f"team:{spec.group_name}"], spec.key
            assert spec.tags["capability"] == spec.group_name, spec.key
