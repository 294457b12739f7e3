"""The sourcing assets, partitioned per (commodity, year), materialised into a temporary
directory: a partition's table is the ``by=`` result restricted to its group, bit for bit."""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

import dagster as dg
import pandas as pd
import polars as pl
import pytest

from fairalloc.pipelines import defs, load_output
from fairalloc.pipelines.assets import sourcing as sourcing_assets
from fairalloc.pipelines.io_manager import partition_path
from fairalloc.pipelines.jobs import RANGE_END, RANGE_START
from fairalloc.pipelines.partitions import SOURCING, partition_key
from fairalloc.pipelines.versions import versions_by_group
from fairalloc.transforms import sourcing as tf
from fairalloc.transforms.sourcing import direct_sourcing, proportional_sourcing
from tests.pipelines import DATA, materialise, read

BY = ["commodity", "year"]
CONFIG = {"ops": {"direct_sourcing": {"config": {"relative_tolerance": 0.1}}}}


def _inputs(data_dir: Path = DATA):
    return [read(data_dir, "sourcing", n) for n in ("matches", "source_capacity", "sink_demand")]


def _group(table: pd.DataFrame, key: str) -> pd.DataFrame:
    commodity, year = key.split("|")
    index = table.index
    return table[(index.get_level_values("commodity") == commodity)
                 & (index.get_level_values("year") == int(year))]


@pytest.fixture(scope="module")
def materialised(tmp_path_factory):
    storage = tmp_path_factory.mktemp("storage")
    return materialise(sourcing_assets, storage, groups=SOURCING, run_config=CONFIG), storage


def test_one_run_materialises_every_partition_and_every_check_passes(materialised):
    result, storage = materialised
    assert result.success
    groups = read(DATA, "sourcing", "matches").select(BY).unique()
    keys = sorted(partition_key(r) for r in groups.iter_rows())
    assert len(keys) == 6  # the groups that exist, not a cross product
    done = {(e.asset_key.to_user_string(), e.partition)
            for e in result.get_asset_materialization_events()}
    names = {"matches", "source_capacity", "sink_demand", "proportional_sourcing",
             "direct_sourcing"}
    assert done == {(n, k) for n in names for k in keys}
    evaluations = result.get_asset_check_evaluations()
    assert {e.check_name for e in evaluations} == {"direct_sourcing_conserves",
                                                   "proportional_sourcing_conserves"}
    assert all(e.passed for e in evaluations)
    assert not list(storage.glob("**/*.tmp"))


def test_each_partition_equals_the_by_result_restricted_to_its_group(materialised):
    _, storage = materialised
    matches, cap, dem = _inputs()
    src, sink = direct_sourcing(matches, cap, dem, relative_tolerance=0.1, by=BY)
    direct = pd.concat([src, sink], axis=1)
    prop = proportional_sourcing(matches, dem, cap, by=BY).to_frame()
    for key in SOURCING_KEYS:
        for name, full in (("direct_sourcing", direct), ("proportional_sourcing", prop)):
            stored = pd.read_parquet(partition_path(storage, name, BY, key))
            expected = _group(full, key)
            assert len(stored) == len(expected) > 0
            pd.testing.assert_frame_equal(stored, expected, check_exact=True)
    assert (direct["sink_volume"] > direct["source_volume"]).any()  # the tolerance applied
    # all partitions read back as one table are the by= result
    pd.testing.assert_frame_equal(load_output("direct_sourcing", storage=storage), direct,
                                  check_exact=True)


SOURCING_KEYS = ["cocoa|2024", "cocoa|2025", "cocoa|2026", "coffee|2024", "coffee|2025",
                 "coffee|2026"]


def test_outputs_read_back_with_polars_key_columns_first(materialised):
    _, storage = materialised
    frame = pl.read_parquet(partition_path(storage, "direct_sourcing", BY, "cocoa|2024"))
    assert frame.columns == ["commodity", "year", "source", "sink", "source_volume",
                             "sink_volume"]
    assert frame.select(BY).unique().rows() == [("cocoa", 2024)]


def test_metadata_shows_counts_schema_source_file_and_fingerprints(materialised):
    result, _ = materialised
    events = {e.asset_key.to_user_string(): e.materialization.metadata
              for e in result.get_asset_materialization_events()}
    meta = events["direct_sourcing"]
    assert meta["dagster/row_count"].value > 10_000
    names = [c.name for c in meta["dagster/column_schema"].value.columns]
    assert names[:4] == ["commodity", "year", "source", "sink"]
    assert meta["unallocated_demand"].value > 0
    assert meta["relative_tolerance"].value == pytest.approx(0.1)
    assert "| commodity |" in meta["preview"].value
    inputs = events["matches"]
    assert inputs["source_file"].value.endswith("sourcing/matches.parquet")
    assert set(inputs["fingerprints"].value) == set(SOURCING_KEYS)
    assert len(inputs["fingerprint"].value) == 16


def test_a_single_partition_reads_only_its_group(tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(SOURCING.name, SOURCING_KEYS)
    result = materialise(sourcing_assets, tmp_path, groups=SOURCING, keys=["coffee|2025"],
                         instance=instance)
    assert result.success
    done = {(e.asset_key.to_user_string(), e.partition)
            for e in result.get_asset_materialization_events()}
    assert {k for _, k in done} == {"coffee|2025"}
    meta = {e.asset_key.to_user_string(): e.materialization.metadata
            for e in result.get_asset_materialization_events()}
    group = read(DATA, "sourcing", "matches").filter(
        (pl.col("commodity") == "coffee") & (pl.col("year") == 2025))
    assert meta["matches"]["dagster/row_count"].value == group.height
    # its data version is the group's fingerprint, the one the observed file carries
    tags = {e.asset_key.to_user_string(): e.materialization.tags
            for e in result.get_asset_materialization_events()}
    fingerprint = versions_by_group(read(DATA, "sourcing", "matches"), BY)["coffee|2025"]
    assert tags["matches"]["dagster/data_version"] == fingerprint
    assert sorted(p.parent.parent.name + "/" + p.parent.name
                  for p in (tmp_path / "matches").rglob("*.parquet")) == [
        "commodity=coffee/year=2025"]


def test_hive_partitioned_input_folders_give_the_same_tables(tmp_path, materialised):
    _, storage = materialised
    data = tmp_path / "data" / "sourcing"
    data.mkdir(parents=True)
    shutil.copy(DATA / "sourcing" / "sink_demand.parquet", data)
    for name in ("matches", "source_capacity"):  # folders, without the key columns inside
        table = read(DATA, "sourcing", name)
        for (commodity, year), part in table.partition_by(BY, as_dict=True).items():
            folder = data / name / f"commodity={commodity}" / f"year={year}"
            folder.mkdir(parents=True)
            part.drop(BY).write_parquet(folder / "part-0.parquet")
    out = tmp_path / "out"
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(SOURCING.name, SOURCING_KEYS)
    result = materialise(sourcing_assets, out, data_dir=tmp_path / "data", groups=SOURCING,
                         keys=["cocoa|2025", "cocoa|2026"], instance=instance,
                         run_config=CONFIG)
    assert result.success
    for key in ("cocoa|2025", "cocoa|2026"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(partition_path(out, "direct_sourcing", BY, key)),
            pd.read_parquet(partition_path(storage, "direct_sourcing", BY, key)),
            check_exact=True)
    source = {e.asset_key.to_user_string(): e.materialization.metadata["source_file"].value
              for e in result.get_asset_materialization_events()
              if e.partition == "cocoa|2025" and "source_file" in e.materialization.metadata}
    assert source["matches"].endswith("sourcing/matches")


def test_invalid_input_stops_downstream_and_logs_the_rows_with_their_rule(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(DATA / "sourcing", data / "sourcing")
    cap = read(data, "sourcing", "source_capacity")
    cap = cap.with_columns(
        pl.when(pl.int_range(pl.len()) == 3).then(-5.0).otherwise(pl.col("capacity"))
        .alias("capacity"))
    cap.write_parquet(data / "sourcing" / "source_capacity.parquet")
    instance = dg.DagsterInstance.ephemeral()
    result = materialise(sourcing_assets, tmp_path / "storage", data_dir=data, groups=SOURCING,
                         instance=instance, raise_on_error=False)
    assert not result.success
    done = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert not {"source_capacity", "direct_sourcing", "proportional_sourcing"} & done
    failure = next(e for e in result.all_events
                   if e.event_type_value == "STEP_FAILURE" and e.step_key == "source_capacity")
    data_ = failure.step_failure_data.user_failure_data
    assert data_.metadata["failing_row_count"].value == 1
    assert "-5" in data_.metadata["failing_rows"].value
    # the description (the terminal's text) and the run log name the row and its rule
    assert "capacity: greater_than_or_equal_to(0)" in data_.description
    assert "| R0004 | -5 |" in data_.description
    errors = [r.user_message for r in instance.all_logs(result.run_id)
              if r.level >= 40 and "failed validation" in (r.user_message or "")]
    assert errors and "capacity: greater_than_or_equal_to(0)" in errors[0]
    assert "R0004" in errors[0]


def test_a_failing_check_keeps_the_stored_table_and_records_the_failure(tmp_path,
                                                                        monkeypatch):
    instance = dg.DagsterInstance.ephemeral()
    assert materialise(sourcing_assets, tmp_path, groups=SOURCING, instance=instance).success
    stored = partition_path(tmp_path, "direct_sourcing", BY, "cocoa|2024")
    before = stored.read_bytes()
    honest = tf.direct_sourcing

    def over_capacity(*args, **kwargs):
        src, sink = honest(*args, **kwargs)
        return src * 10, sink * 10

    monkeypatch.setattr(tf, "direct_sourcing", over_capacity)
    result = materialise(sourcing_assets, tmp_path, groups=SOURCING, instance=instance,
                         keys=SOURCING_KEYS, raise_on_error=False)
    assert not result.success
    failed = [e for e in result.get_asset_check_evaluations()
              if e.check_name == "direct_sourcing_conserves"]
    assert len(failed) == 1 and not failed[0].passed
    assert failed[0].metadata["over_capacity count"].value > 0
    assert stored.read_bytes() == before  # storage only ever holds tables that passed
    done = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "direct_sourcing" not in done and "proportional_sourcing" in done
    # the failure is recorded on the instance, where the UI shows it
    record = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(dg.AssetKey("direct_sourcing"), "direct_sourcing_conserves")])
    (execution,) = record.values()
    assert execution.status.value == "FAILED"


def test_definitions_one_job_per_partition_set_schedules_and_sensor():
    for job, partitions in (("allocate_sourcing", "sourcing_groups"),
                            ("allocate_periods", "period_scenarios"),
                            ("allocate_assignment", "assignment_campaigns")):
        assert defs.resolve_job_def(job).partitions_def.name == partitions
    assert defs.resolve_job_def("allocate_unpartitioned").partitions_def is None
    schedule = defs.resolve_schedule_def("allocate_sourcing_daily")
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    assert schedule.job_name == "allocate_sourcing"
    assert defs.resolve_sensor_def("input_groups") is not None


def test_the_daily_schedule_asks_for_one_run_over_every_registered_partition():
    schedule = defs.resolve_schedule_def("allocate_sourcing_daily")
    with dg.instance_for_test() as instance:
        empty = schedule.evaluate_tick(dg.build_schedule_context(instance=instance))
        assert not empty.run_requests and "no sourcing_groups" in empty.skip_message
        instance.add_dynamic_partitions(SOURCING.name, SOURCING_KEYS)
        (request,) = schedule.evaluate_tick(
            dg.build_schedule_context(instance=instance)).run_requests
    assert request.tags[RANGE_START] == SOURCING_KEYS[0]
    assert request.tags[RANGE_END] == SOURCING_KEYS[-1]


def test_load_output_names_what_is_stored(tmp_path):
    with pytest.raises(FileNotFoundError, match="none yet"):
        load_output("direct_sourcing", storage=tmp_path)


def test_metadata_shows_the_chart_and_a_summary_per_group(materialised):
    result, storage = materialised
    metas = [e.materialization.metadata for e in result.get_asset_materialization_events()
             if e.asset_key.to_user_string() == "direct_sourcing"]
    meta = metas[0]
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
    stored = load_output("direct_sourcing", storage=storage)
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
        if not isinstance(assets_def, dg.AssetsDefinition):  # an observed input file
            assert assets_def.tags["capability"] == assets_def.group_name, assets_def.key
            continue
        for spec in assets_def.specs:
            assert spec.owners == [f"team:{spec.group_name}"], spec.key
            assert spec.tags["capability"] == spec.group_name, spec.key
