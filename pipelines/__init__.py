"""fairalloc's Dagster code location ``pipelines``: assets, checks, IO manager, job, schedule."""

from fairalloc.pipelines.definitions import defs
from fairalloc.pipelines.outputs import load_output

__all__ = ["defs", "load_output"]
