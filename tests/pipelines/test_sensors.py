"""The sensor ``input_groups`` on a real (temporary) instance: new groups become partitions
and runs, changed groups are observed, removed groups are reported and kept."""

from __future__ import annotations

import json
import shutil

import dagster as dg
import polars as pl
import pytest

from fairalloc.pipelines.assets import sourcing as sourcing_assets
from fairalloc.pipelines.jobs import RANGE_END, RANGE_START
from fairalloc.pipelines.partitions import ASSIGNMENT, PERIODS, SOURCING
from fairalloc.pipelines.resources import DataDir
from fairalloc.pipelines.sensors import REMOVED_TAG, input_groups, sync
from tests.pipelines import DATA, materialise, read

SOURCING_KEYS = ["cocoa|2024", "cocoa|2025", "cocoa|2026", "coffee|2024", "coffee|2025",
                 "coffee|2026"]


@pytest.fixture
def data(tmp_path):
    for capability in ("sourcing", "periods", "assignment"):
        shutil.copytree(DATA / capability, tmp_path / "data" / capability)
    return tmp_path / "data"


def _tick(instance, data, cursor=None) -> dg.SensorResult:
    context = dg.build_sensor_context(instance=instance, cursor=cursor,
                                      resources={"data_dir": DataDir(path=str(data))})
    return input_groups(context)


def _apply(instance, result: dg.SensorResult) -> None:
    """What the daemon does with a tick's result (the parts the tests rely on)."""
    for event in result.asset_events:
        instance.report_runless_asset_event(event)
    for request in result.dynamic_partitions_requests:
        instance.add_dynamic_partitions(request.partitions_def_name, request.partition_keys)


def _rewrite(data, name: str, change) -> None:
    path = data / "sourcing" / f"{name}.parquet"
    change(pl.read_parquet(path)).write_parquet(path)


def test_new_groups_are_registered_observed_and_run(data):
    with dg.instance_for_test() as instance:
        result = _tick(instance, data)
        added = {r.partitions_def_name: list(r.partition_keys)
                 for r in result.dynamic_partitions_requests}
        assert added == {SOURCING.name: SOURCING_KEYS,
                         PERIODS.name: ["desks", "large", "published"],
                         ASSIGNMENT.name: ["2025-autumn", "2026-autumn", "2026-spring"]}
        # one single-run backfill per capability over its new groups (registered in order)
        runs = {r.job_name: (r.tags[RANGE_START], r.tags[RANGE_END]) for r in result.run_requests}
        assert runs == {"allocate_sourcing": ("cocoa|2024", "coffee|2026"),
                        "allocate_periods": ("desks", "published"),
                        "allocate_assignment": ("2025-autumn", "2026-spring")}
        assert len({r.run_key for r in result.run_requests}) == 3
        # every file of every group observed once, in the tick that registers it
        observed = {(e.asset_key.to_user_string(), e.partition) for e in result.asset_events}
        assert ("matches_file", "coffee|2025") in observed
        assert ("item_capacities_file", "2026-spring") in observed
        assert len(observed) == 3 * 6 + 3 * 3 + 2 * 3

        _apply(instance, result)
        again = _tick(instance, data, result.cursor)
        assert not again.run_requests and not again.dynamic_partitions_requests
        assert not again.asset_events
        assert again.skip_reason.skip_message == "no new groups"


def test_a_changed_group_is_observed_alone(data):
    with dg.instance_for_test() as instance:
        first = _tick(instance, data)
        _apply(instance, first)
        group = (pl.col("commodity") == "coffee") & (pl.col("year") == 2025)
        _rewrite(data, "source_capacity", lambda t: t.with_columns(
            pl.when(group).then(pl.col("capacity") * 2).otherwise(pl.col("capacity"))))
        result = _tick(instance, data, first.cursor)
        assert [(e.asset_key.to_user_string(), e.partition) for e in result.asset_events] == [
            ("source_capacity_file", "coffee|2025")]
        assert not result.run_requests  # the eager conditions re-run it, not the sensor


def test_a_removed_group_is_reported_and_kept(data, caplog):
    with dg.instance_for_test() as instance:
        _apply(instance, _tick(instance, data))
        gone = (pl.col("commodity") == "coffee") & (pl.col("year") == 2026)
        for name in ("matches", "source_capacity", "sink_demand"):
            _rewrite(data, name, lambda t: t.filter(~gone))
        result = _tick(instance, data)
        assert "coffee|2026" in result.skip_reason.skip_message
        assert "kept" in result.skip_reason.skip_message
        assert "coffee|2026" in instance.get_dynamic_partitions(SOURCING.name)  # not deleted
        assert not result.dynamic_partitions_requests
        # with a new group at the same time, its runs carry the removed groups in a tag
        _rewrite(data, "matches", lambda t: pl.concat(
            [t, t.head(1).with_columns(pl.lit(2027, pl.Int64).alias("year"))]))
        result = _tick(instance, data)
        (request,) = result.run_requests
        assert request.tags[RANGE_START] == request.tags[RANGE_END] == "cocoa|2027"
        assert json.loads(request.tags[REMOVED_TAG]) == {SOURCING.name: ["coffee|2026"]}


def test_sync_registers_and_observes_once(data):
    with dg.instance_for_test() as instance:
        keys = sync(instance, DataDir(path=str(data)))
        assert keys[SOURCING.name] == SOURCING_KEYS
        record = instance.get_latest_data_version_record(
            dg.AssetKey("matches_file"), is_source=True, partition_key="cocoa|2024")
        assert record is not None
        before = instance.get_event_records(
            dg.EventRecordsFilter(dg.DagsterEventType.ASSET_OBSERVATION), limit=1000)
        sync(instance, DataDir(path=str(data)))  # nothing changed: nothing written
        after = instance.get_event_records(
            dg.EventRecordsFilter(dg.DagsterEventType.ASSET_OBSERVATION), limit=1000)
        assert len(after) == len(before) == 3 * 6 + 3 * 3 + 2 * 3


@pytest.mark.slow
def test_only_the_changed_partition_is_re_materialised(data, tmp_path):
    """Declarative automation after one group's input changed: that partition of the changed
    input and of everything downstream, nothing else."""
    storage = tmp_path / "storage"
    with dg.instance_for_test() as instance:
        data_dir = DataDir(path=str(data))
        keys = sync(instance, data_dir)[SOURCING.name]
        assert materialise(sourcing_assets, storage, data_dir=data, groups=SOURCING, keys=keys,
                           instance=instance).success
        defs = dg.Definitions(assets=sourcing_assets_list(), resources={"data_dir": data_dir})
        first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        assert first.total_requested == 0

        group = (pl.col("commodity") == "coffee") & (pl.col("year") == 2025)
        _rewrite(data, "source_capacity", lambda t: t.with_columns(
            pl.when(group).then(pl.col("capacity") * 2).otherwise(pl.col("capacity"))))
        sync(instance, data_dir)
        second = dg.evaluate_automation_conditions(defs=defs, instance=instance,
                                                   cursor=first.cursor)
        requested = {name: second.get_requested_partitions(dg.AssetKey(name))
                     for name in ("matches", "source_capacity", "sink_demand",
                                  "proportional_sourcing", "direct_sourcing")}
        assert requested == {"matches": set(), "sink_demand": set(),
                             "source_capacity": {"coffee|2025"},
                             "proportional_sourcing": {"coffee|2025"},
                             "direct_sourcing": {"coffee|2025"}}


def sourcing_assets_list() -> list:
    from fairalloc.pipelines.assets import of

    return of(sourcing_assets)


def test_the_sample_data_groups_are_what_the_readme_says():
    matches = read(DATA, "sourcing", "matches")
    assert matches.select("commodity", "year").unique().height == len(SOURCING_KEYS)


def test_observing_a_file_asset_gives_the_sensors_fingerprints(data):
    """The observable source assets (the UI's "Observe" button) and the sensor agree."""
    from dagster._core.definitions.observe import observe

    from fairalloc.pipelines.sensors import scan

    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(SOURCING.name, SOURCING_KEYS)
        result = observe([sourcing_assets.matches_file], instance=instance,
                         resources={"data_dir": DataDir(path=str(data))})
        assert result.success
        observed = {e.event_specific_data.asset_observation.partition:
                    e.event_specific_data.asset_observation.tags["dagster/data_version"]
                    for e in result.all_events if e.event_type_value == "ASSET_OBSERVATION"}
        (sourcing_scan,) = [s for s in scan(DataDir(path=str(data)))
                            if s.groups.name == SOURCING.name]
        assert observed == sourcing_scan.versions["matches_file"]
        assert set(observed) == set(SOURCING_KEYS)
