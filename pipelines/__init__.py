"""fairalloc's Dagster code location ``pipelines``: assets, checks, IO manager, job, schedule."""

from pipelines.definitions import defs
from pipelines.outputs import load_output

__all__ = ["defs", "load_output"]
