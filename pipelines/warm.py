"""Imported once by a fork server or a Celery worker before it starts step processes.

Importing the code location costs seconds (dagster, pandas, polars, pandera, scipy, OR-Tools),
and so do resolving its repository (asset graph, jobs) and Dagster's SQL storage modules, which
a step process imports when it rebuilds the job from its module. A process forked after all
three starts its step at once. Listed in :data:`fairalloc.pipelines.executors.PRELOAD_MODULES`.
"""

import contextlib
import importlib

from fairalloc.pipelines.definitions import defs

repository = defs.get_repository_def()
repository.get_all_jobs()

# Dagster's loader imports this (with sqlalchemy and alembic) when a step process rebuilds the
# repository; a private module, so its absence in another Dagster version only costs time.
with contextlib.suppress(ImportError):
    importlib.import_module("dagster._utils.test")
