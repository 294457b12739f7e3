"""The ``pipelines`` code location: every asset (checks on their assets), the jobs (one per
partition set), their daily schedules and the sensor that registers new groups."""

from __future__ import annotations

import dagster as dg

from fairalloc.pipelines.assets import ASSETS
from fairalloc.pipelines.io_manager import ParquetIOManager
from fairalloc.pipelines.jobs import ALLOCATE_ALL, SCHEDULES
from fairalloc.pipelines.resources import DataDir
from fairalloc.pipelines.sensors import input_groups


def resources() -> dict[str, object]:
    """Data directory and IO manager (paths from the environment, see
    fairalloc.pipelines.resources)."""
    return {"io_manager": ParquetIOManager(), "data_dir": DataDir()}


defs = dg.Definitions(
    assets=ASSETS,
    jobs=ALLOCATE_ALL,
    schedules=SCHEDULES,
    sensors=[input_groups],
    resources=resources(),
    # steps run in the run's process: a process per step would import the code location again
    # for every step (seconds each); parallel executors are chosen by deployment
    executor=dg.in_process_executor,
)
