"""The sensor ``input_groups``: new groups in the inputs become partitions and runs.

Every tick it reads the group columns of each partitioned capability's input files
(:data:`~fairalloc.pipelines.partitions.GROUP_SETS`; only those columns, and one ``group_by``
per file for the fingerprints) and

* registers the groups it has not seen as dynamic partitions and requests one run of the
  capability's job over them (a single-run backfill: they are registered last, in order, so
  they form one partition range; the run key is made of the groups and their fingerprints, so
  the same content is never asked for twice);
* observes the input files: for every group whose rows changed since the last tick (or that is
  new), an observation of ``<input>_file`` with the new fingerprint as data version, so the
  eager automation conditions re-materialise exactly the changed partitions;
* reports groups that are registered but no longer in the inputs. They are **kept**, not
  deleted: their stored tables and run history stay addressable, and deleting a partition is a
  decision for a person (the UI, or ``instance.delete_dynamic_partition``). They are **not
  hidden** either: each tick logs a warning naming them, and says so in its skip reason (a tick
  with nothing else to do) or in the tags of the runs it requests (``fairalloc/removed_groups``).

:func:`sync` does the same at once on an instance (no sensor daemon): ``make run`` and the
tests use it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import dagster as dg

from fairalloc.pipelines.assets.inputs import file_key
from fairalloc.pipelines.jobs import PARTITIONED_JOBS, range_tags
from fairalloc.pipelines.partitions import GROUP_SETS, GroupSet
from fairalloc.pipelines.resources import DataDir
from fairalloc.pipelines.versions import versions_by_group

#: Dagster's tag of an observation's data version.
DATA_VERSION_TAG = "dagster/data_version"
#: Run tag listing the groups registered but gone from the inputs (kept, see the module).
REMOVED_TAG = "fairalloc/removed_groups"


def job_name(groups: GroupSet) -> str:
    """The job that materialises the partitioned assets of ``groups``' capability."""
    return PARTITIONED_JOBS[groups.capability].name


@dataclass
class Scan:
    """What the inputs of one capability hold: the groups, and each file's fingerprints."""

    groups: GroupSet
    found: list[str]
    versions: dict[str, dict[str, str]] = field(default_factory=dict)  # asset → key → version

    def fingerprint(self, key: str) -> str:
        """One text for the group ``key`` over all the capability's files."""
        return "-".join(self.versions[a].get(key, "none") for a in sorted(self.versions))


def scan(data_dir: DataDir, group_sets: Sequence[GroupSet] = GROUP_SETS) -> list[Scan]:
    """Read the group columns and per-group fingerprints of every partitioned input file.

    A group in any of a capability's files counts as found (a group missing from one of its
    files then fails its run with the groups named, rather than being ignored).
    """
    out = []
    for groups in group_sets:
        versions = {}
        for asset, stem in groups.files.items():
            lazy, _ = data_dir.scan(groups.capability, stem)
            versions[file_key(asset).to_user_string()] = versions_by_group(lazy, groups.by)
        found = sorted(set().union(*(v.keys() for v in versions.values())))
        out.append(Scan(groups, found, versions))
    return out


def observations(scans: Sequence[Scan],
                 last: Mapping[str, Mapping[str, str]]) -> list[dg.AssetObservation]:
    """Observations of the input files, for the groups whose fingerprint differs from ``last``
    (asset → key → version of the previous tick). A new group is observed in the tick that
    registers it, before its first run, so that run does not count as stale afterwards."""
    out = []
    for s in scans:
        for asset, versions in s.versions.items():
            before = last.get(asset, {})
            for key, version in versions.items():
                if before.get(key) != version:
                    out.append(dg.AssetObservation(
                        asset_key=dg.AssetKey.from_user_string(asset), partition=key,
                        tags={DATA_VERSION_TAG: version}))
    return out


def _registered(instance: dg.DagsterInstance) -> dict[str, list[str]]:
    return {g.name: list(instance.get_dynamic_partitions(g.name)) for g in GROUP_SETS}


@dg.sensor(name="input_groups", jobs=list(PARTITIONED_JOBS.values()), minimum_interval_seconds=60,
           default_status=dg.DefaultSensorStatus.STOPPED,
           description="Registers new groups of the inputs as partitions and requests their "
                       "runs; observes changed groups; reports groups gone from the inputs.")
def input_groups(context: dg.SensorEvaluationContext, data_dir: DataDir) -> dg.SensorResult:
    """See the module docstring."""
    scans = scan(data_dir)
    registered = _registered(context.instance)
    last = json.loads(context.cursor) if context.cursor else {}
    requests, runs, removed = [], [], {}
    for s in scans:
        known = registered[s.groups.name]
        new = [k for k in s.found if k not in known]
        gone = sorted(set(known) - set(s.found))
        if gone:
            removed[s.groups.name] = gone
            context.log.warning("groups registered in %s but no longer in the inputs (kept, "
                                "not deleted): %s", s.groups.name, ", ".join(gone))
        if new:
            requests.append(dg.AddDynamicPartitionsRequest(s.groups.name, new))
            context.log.info("new groups in %s: %s", s.groups.name, ", ".join(new))
            # one single-run backfill over the new groups (registered last, in order)
            fingerprint = hashlib.sha256(
                "".join(f"{k}:{s.fingerprint(k)};" for k in new).encode()).hexdigest()[:16]
            runs.append(dg.RunRequest(job_name=job_name(s.groups), tags=range_tags(new),
                                      run_key=f"{s.groups.capability}:{fingerprint}"))
    tags = {REMOVED_TAG: json.dumps(removed, sort_keys=True)} if removed else {}
    runs = [r.with_replaced_attrs(tags={**r.tags, **tags}) for r in runs]
    observed = observations(scans, last)
    cursor = {a: v for s in scans for a, v in s.versions.items()}
    skip = None
    if not runs:
        skip = "no new groups" + (f"; groups gone from the inputs (kept): "
                                  f"{json.dumps(removed, sort_keys=True)}" if removed else "")
    return dg.SensorResult(run_requests=runs, dynamic_partitions_requests=requests,
                           asset_events=observed, cursor=json.dumps(cursor, sort_keys=True),
                           skip_reason=skip)


def sync(instance: dg.DagsterInstance, data_dir: DataDir) -> dict[str, list[str]]:
    """Register every group of the inputs and record the input files' fingerprints on
    ``instance`` (what the sensor does over its ticks, at once). Returns the partition keys
    per partitions definition; groups gone from the inputs are logged and kept."""
    scans = scan(data_dir)
    for s in scans:
        known = instance.get_dynamic_partitions(s.groups.name)
        new = [k for k in s.found if k not in known]
        if new:
            instance.add_dynamic_partitions(s.groups.name, new)
        gone = sorted(set(known) - set(s.found))
        if gone:
            dg.get_dagster_logger().warning(
                "groups registered in %s but no longer in the inputs (kept, not deleted): %s",
                s.groups.name, ", ".join(gone))
    registered = _registered(instance)
    for event in observations(scans, _recorded(instance, scans, registered)):
        instance.report_runless_asset_event(event)
    return registered


def _recorded(instance: dg.DagsterInstance, scans: Sequence[Scan],
              registered: Mapping[str, Sequence[str]]) -> dict[str, dict[str, str]]:
    """The data versions last observed on ``instance`` for the scanned files' registered
    groups (so an unchanged group is not observed again: writes cost far more than reads)."""
    out: dict[str, dict[str, str]] = {}
    for s in scans:
        for asset in s.versions:
            key, got = dg.AssetKey.from_user_string(asset), out.setdefault(asset, {})
            for partition in registered.get(s.groups.name, ()):
                record = instance.get_latest_data_version_record(key, is_source=True,
                                                                 partition_key=partition)
                observation = record.asset_observation if record else None
                if observation is not None and DATA_VERSION_TAG in observation.tags:
                    got[partition] = observation.tags[DATA_VERSION_TAG]
    return out
