"""fairalloc's Dagster code location ``pipelines``: assets (checks run before storage),
partitions, jobs, schedules, the sensor ``input_groups`` and the IO manager.
``python -m fairalloc.pipelines.run`` is ``make run``."""

from fairalloc.pipelines.definitions import defs
from fairalloc.pipelines.outputs import load_output

__all__ = ["defs", "load_output"]
