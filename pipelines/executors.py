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
- **Kubernetes pods** (``<job>_k8s``, when the ``deploy`` extra is installed and the code
  location runs in Kubernetes): the ``k8s_job_executor`` runs each step as a Kubernetes Job;
  image, namespace and environment come from the ``K8sRunLauncher`` of the instance
  (``deploy/dagster.yaml``, ``deploy/README.md``). Kubernetes sets
  :data:`KUBERNETES_VARIABLE` in every pod; elsewhere the jobs are left out, as they could not
  run, and so is the import of dagster-k8s with the Kubernetes client (about 1 s of every
  start of the code location: ``make run``, each ``dagster`` command). ``FAIRALLOC_K8S_JOBS=1``
  (:data:`K8S_JOBS_VARIABLE`) defines them anywhere, e.g. to launch them from a shell outside
  the cluster; ``0`` never.

The parallel and Celery executors come configured with their jobs (their configuration is not
run config): a partitioned job's run config, which carries the partition, would replace a
default ``execution`` block.
"""

from __future__ import annotations

import importlib.util
import os
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

#: Set by Kubernetes in every pod: the ``<job>_k8s`` jobs are defined where they can run.
KUBERNETES_VARIABLE = "KUBERNETES_SERVICE_HOST"
#: ``1`` defines the ``<job>_k8s`` jobs outside Kubernetes too, ``0`` never (unset: only in a pod).
K8S_JOBS_VARIABLE = "FAIRALLOC_K8S_JOBS"


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


def in_kubernetes() -> bool:
    """Whether the ``<job>_k8s`` jobs are defined: :data:`K8S_JOBS_VARIABLE` when set (``1`` or
    ``0``), else whether this process runs in a Kubernetes pod (:data:`KUBERNETES_VARIABLE`).

    Returns
    -------
    bool
        True in a pod, or with ``FAIRALLOC_K8S_JOBS=1``.

    Raises
    ------
    fairalloc.ParameterError
        ``FAIRALLOC_K8S_JOBS`` is set to anything but ``1`` or ``0``.

    Examples
    --------
    >>> in_kubernetes() == ("KUBERNETES_SERVICE_HOST" in os.environ)  # FAIRALLOC_K8S_JOBS unset
    True
    """
    flag = os.environ.get(K8S_JOBS_VARIABLE)
    if flag is None:
        return bool(os.environ.get(KUBERNETES_VARIABLE))
    if flag not in ("0", "1"):
        from fairalloc.transforms.errors import ParameterError

        raise ParameterError(f"{K8S_JOBS_VARIABLE} must be 1 or 0, not {flag!r}")
    return flag == "1"


def scale_out_jobs(job: dg.UnresolvedAssetJobDefinition, kubernetes: bool | None = None
                   ) -> list[dg.UnresolvedAssetJobDefinition]:
    """``job`` again with each parallel executor, same selection, partitions and tags.

    Parameters
    ----------
    job : dagster.UnresolvedAssetJobDefinition
        An asset job from ``define_asset_job`` (its executor is the code location's default).
    kubernetes : bool, optional
        Whether to add the ``<name>_k8s`` job; default :func:`in_kubernetes`.

    Returns
    -------
    list of dagster.UnresolvedAssetJobDefinition
        ``<name>_parallel`` (forked processes, the executor configured with
        :data:`FORKSERVER_CONFIG`),
        ``<name>_celery`` when dagster-celery is installed (:data:`CELERY_CONFIG`) and
        ``<name>_k8s`` when dagster-k8s is installed and ``kubernetes``.

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
    if (in_kubernetes() if kubernetes is None else kubernetes) and installed("dagster_k8s"):
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
