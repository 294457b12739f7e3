"""Where a run's steps execute: one process, forked processes on one machine, Celery workers.

- **In process** (the default of the code location and of its jobs): every step runs in
  the process that launched the run. A step process of Dagster's default multiprocess executor
  first imports the code location (dagster, pandas, polars, pandera, scipy, OR-Tools): about 5 s
  per step on 2 cores, which for the sample data is far more than the work itself.
- **Forked processes** (``<job>_parallel``): the multiprocess executor with the
  ``forkserver`` start method; the fork server imports :data:`PRELOAD_MODULES` once (the code
  location, its resolved repository) and every step process is forked from it, so a step starts
  with everything loaded instead of spending seconds on imports.
- **Celery workers** (``<job>_celery``, when the ``celery`` extra is installed): each step
  is a Celery task on a Redis broker; workers on any machine that reach the broker, the Dagster
  instance (``DAGSTER_HOME``) and the storage run them. Broker and result backend come from
  ``$FAIRALLOC_CELERY_BROKER`` and ``$FAIRALLOC_CELERY_BACKEND`` when the run starts;
  ``deploy/celery.yaml`` holds the same configuration for the workers.
- **Kubernetes pods** (``<job>_k8s``, when the ``deploy`` extra is installed): the
  ``k8s_job_executor`` runs each step as a Kubernetes Job; image, namespace and environment come
  from the ``K8sRunLauncher`` of the instance (``deploy/dagster.yaml``, ``deploy/README.md``).

The parallel and Celery executors come configured with their jobs (their configuration is not
run config): a partitioned job's run config, which carries the partition, would replace a
default ``execution`` block.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from typing import Any

import dagster as dg

#: Imported once by the fork server of the ``<job>_parallel`` jobs (and by each Celery worker
#: before it forks its pool): the code location with everything its steps import.
PRELOAD_MODULES = ("fairalloc.pipelines.warm",)

#: Executor configuration of the ``<job>_parallel`` jobs (``max_concurrent`` unset: one step per
#: core).
FORKSERVER_CONFIG: Mapping[str, Any] = {
    "start_method": {"forkserver": {"preload_modules": list(PRELOAD_MODULES)}},
}

#: Environment variables naming the Celery broker and result backend (``redis://host:port/db``).
CELERY_BROKER_VARIABLE = "FAIRALLOC_CELERY_BROKER"
CELERY_BACKEND_VARIABLE = "FAIRALLOC_CELERY_BACKEND"

#: Executor configuration of the ``<job>_celery`` jobs: read from the environment at launch, so one
#: definition serves every cluster; workers import the code location before taking tasks.
CELERY_CONFIG: Mapping[str, Any] = {
    "broker": {"env": CELERY_BROKER_VARIABLE},
    "backend": {"env": CELERY_BACKEND_VARIABLE},
    "include": list(PRELOAD_MODULES),
}


def installed(module: str) -> bool:
    """Whether ``module`` can be imported (an optional extra is installed).

    Parameters
    ----------
    module : str
        A top-level module name, e.g. ``"dagster_celery"``.

    Returns
    -------
    bool
        True when the module is found; it is not imported.

    Examples
    --------
    >>> installed("dagster"), installed("no_such_module")
    (True, False)
    """
    return importlib.util.find_spec(module) is not None


def scale_out_jobs(job: dg.UnresolvedAssetJobDefinition) -> list[dg.UnresolvedAssetJobDefinition]:
    """``job`` again with each parallel executor, same selection, partitions and tags.

    Parameters
    ----------
    job : dagster.UnresolvedAssetJobDefinition
        An asset job from ``define_asset_job`` (its executor is the code location's default).

    Returns
    -------
    list of dagster.UnresolvedAssetJobDefinition
        ``<name>_parallel`` (forked processes, the executor configured with
        :data:`FORKSERVER_CONFIG`),
        ``<name>_celery`` when dagster-celery is installed (:data:`CELERY_CONFIG`) and
        ``<name>_k8s`` when dagster-k8s is installed.

    Examples
    --------
    >>> job = dg.define_asset_job("nightly", selection=dg.AssetSelection.groups("sourcing"))
    >>> [j.name for j in scale_out_jobs(job)][0]
    'nightly_parallel'
    """
    variants: list[tuple[str, Any, Mapping[str, Any] | None, str]] = [
        ("parallel", dg.multiprocess_executor, FORKSERVER_CONFIG,
         "Steps in processes forked from a preloaded fork server."),
    ]
    if installed("dagster_celery"):
        from dagster_celery import celery_executor

        variants.append(("celery", celery_executor, CELERY_CONFIG,
                         f"Steps as Celery tasks (broker ${CELERY_BROKER_VARIABLE})."))
    if installed("dagster_k8s"):
        from dagster_k8s import k8s_job_executor

        variants.append(("k8s", k8s_job_executor, None,
                         "Each step a Kubernetes Job (the deployment of deploy/README.md)."))
    return [
        dg.define_asset_job(
            f"{job.name}_{suffix}",
            selection=job.selection,  # partitions follow from the selected assets
            tags=job.tags,
            # the executor comes configured: a partitioned job's own run config (its partition)
            # would replace a default ``execution`` block
            executor_def=executor.configured(dict(config)) if config else executor,
            description=f"{job.description or ''} {note}".strip(),
        )
        for suffix, executor, config, note in variants
    ]
