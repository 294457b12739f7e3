"""The ``pipelines`` code location: every asset (checks on their assets), the jobs (one per
partition set, each also with the parallel executors of :mod:`fairalloc.pipelines.executors`),
their daily schedules and the sensor that registers new groups.

Steps run in process unless a job says otherwise.
"""

from __future__ import annotations

import dagster as dg

from fairalloc.pipelines.assets import ASSETS
from fairalloc.pipelines.executors import scale_out_jobs
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
    jobs=[*ALLOCATE_ALL, *(variant for job in ALLOCATE_ALL for variant in scale_out_jobs(job))],
    schedules=SCHEDULES,
    sensors=[input_groups],
    resources=resources(),
    # steps run in the run's process: a process per step would import the code location again
    # for every step (seconds each); the parallel variants of each job are chosen per run
    executor=dg.in_process_executor,
)
