"""The ``pipelines`` code location: every asset, its checks, a job over all of them, a schedule.

Steps run in process unless a job says otherwise (see :mod:`fairalloc.pipelines.executors`).
"""

from __future__ import annotations

import dagster as dg

from fairalloc.pipelines.assets import ASSETS, CHECKS
from fairalloc.pipelines.executors import scale_out_jobs
from fairalloc.pipelines.io_manager import ParquetIOManager
from fairalloc.pipelines.resources import DataDir

allocate_all = dg.define_asset_job(
    "allocate_all",
    selection=dg.AssetSelection.all(),
    description="Materialise every allocation table (and run its checks).",
)

daily = dg.ScheduleDefinition(
    name="allocate_all_daily",
    job=allocate_all,
    cron_schedule="0 3 * * *",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)


def resources() -> dict[str, object]:
    """Data directory and IO manager (paths from the environment, see
    fairalloc.pipelines.resources)."""
    return {"io_manager": ParquetIOManager(), "data_dir": DataDir()}


defs = dg.Definitions(
    assets=ASSETS,
    asset_checks=CHECKS,
    jobs=[allocate_all, *scale_out_jobs(allocate_all)],
    schedules=[daily],
    resources=resources(),
    executor=dg.in_process_executor,
)
