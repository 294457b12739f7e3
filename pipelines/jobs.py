"""Jobs and schedules: one job per partition set, since a Dagster job cannot mix assets of
different partitions.

``allocate_sourcing`` (partitions ``sourcing_groups``), ``allocate_periods``
(``period_scenarios``) and ``allocate_assignment`` (``assignment_campaigns``) each materialise
their capability's partitioned assets; a run over many partitions is one single-run backfill
(one vectorised ``by=`` pass). ``allocate_unpartitioned`` materialises coverage and portions.
Together they are :data:`ALLOCATE_ALL`, what ``make run`` launches (see
:mod:`fairalloc.pipelines.run`) and what the daily schedules run: each partitioned job's
schedule asks for one run over every registered partition.
"""

from __future__ import annotations

import dagster as dg

from fairalloc.pipelines.partitions import GROUP_SETS, GroupSet

#: Run tags of a single run over a range of partitions (Dagster's own tag names).
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"

CRON = "0 3 * * *"


def _job(groups: GroupSet) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        f"allocate_{groups.capability}",
        selection=dg.AssetSelection.groups(groups.capability),  # partitioned by its assets
        description=f"Materialise the {groups.capability} tables for a range of partitions "
                    f"({', '.join(groups.by)}); checks run before storage.")


PARTITIONED_JOBS = {g.capability: _job(g) for g in GROUP_SETS}
allocate_unpartitioned = dg.define_asset_job(
    "allocate_unpartitioned",
    selection=dg.AssetSelection.groups("coverage", "portions"),
    description="Materialise the coverage and portions tables (one problem each; checks run "
                "before storage).")
#: Every job ``make run`` and the daily schedules launch: everything, one job per partition set.
ALLOCATE_ALL = [*PARTITIONED_JOBS.values(), allocate_unpartitioned]


def range_tags(keys: list[str]) -> dict[str, str]:
    """Tags of one run over the partitions ``keys`` (first to last, in registration order)."""
    return {RANGE_START: keys[0], RANGE_END: keys[-1]} if keys else {}


def _schedule(groups: GroupSet, job: dg.UnresolvedAssetJobDefinition) -> dg.ScheduleDefinition:
    @dg.schedule(name=f"{job.name}_daily", job=job, cron_schedule=CRON,
                 default_status=dg.DefaultScheduleStatus.STOPPED,
                 description=f"Daily: one run of {job.name} over every registered partition.")
    def _daily(context: dg.ScheduleEvaluationContext):
        keys = list(context.instance.get_dynamic_partitions(groups.name))
        if not keys:
            return dg.SkipReason(f"no {groups.name} partitions registered yet (the sensor "
                                 "input_groups or `make run` registers them)")
        return dg.RunRequest(tags=range_tags(keys))

    return _daily


SCHEDULES = [*(_schedule(g, PARTITIONED_JOBS[g.capability]) for g in GROUP_SETS),
             dg.ScheduleDefinition(name="allocate_unpartitioned_daily",
                                   job=allocate_unpartitioned, cron_schedule=CRON,
                                   default_status=dg.DefaultScheduleStatus.STOPPED)]
