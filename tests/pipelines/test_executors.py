"""Where steps run: in process by default; the forkserver job, run as a user runs it, stores the
same tables as an in-process run."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys

import dagster as dg
import pytest
import yaml

from fairalloc.pipelines import defs
from fairalloc.pipelines.assets import ASSETS
from fairalloc.pipelines.definitions import resources
from fairalloc.pipelines.executors import (
    FORKSERVER_CONFIG,
    K8S_JOBS_VARIABLE,
    KUBERNETES_VARIABLE,
    PRELOAD_MODULES,
    in_kubernetes,
    scale_out_jobs,
)
from fairalloc.pipelines.jobs import ALLOCATE_ALL
from fairalloc.pipelines.outputs import list_outputs
from fairalloc.transforms.errors import ParameterError
from tests import ROOT
from tests.pipelines.runs import assert_same_tables, execute, run_config

#: A small selection for the forked run (two assets and a check, three steps).
SELECTION = dg.AssetSelection.groups("portions")
OPS = {"portions": {"config": {"total": 90, "method": "hamilton"}}}


JOBS = [job.name for job in ALLOCATE_ALL]


def test_every_job_but_the_scale_out_ones_runs_in_process():
    executors = {job.name: job.executor_def.name
                 for job in defs.get_repository_def().get_all_jobs()}
    assert executors["__ASSET_JOB"] == "in_process"  # the UI's "Materialize"
    for name in JOBS:
        assert executors[name] == "in_process", name
        assert executors[f"{name}_parallel"] == "multiprocess", name
        assert executors[f"{name}_celery"] == "celery", name
        # Kubernetes jobs only in a pod (or when asked for): the suite's machine has none
        assert (f"{name}_k8s" in executors) == in_kubernetes(), name


def test_the_kubernetes_jobs_exist_where_kubernetes_runs(monkeypatch):
    monkeypatch.delenv(K8S_JOBS_VARIABLE, raising=False)
    monkeypatch.delenv(KUBERNETES_VARIABLE, raising=False)
    assert not in_kubernetes()
    monkeypatch.setenv(KUBERNETES_VARIABLE, "10.96.0.1")  # what Kubernetes sets in a pod
    assert in_kubernetes()
    monkeypatch.setenv(K8S_JOBS_VARIABLE, "0")
    assert not in_kubernetes()
    monkeypatch.delenv(KUBERNETES_VARIABLE)
    monkeypatch.setenv(K8S_JOBS_VARIABLE, "1")
    assert in_kubernetes()
    assert [j.name for j in scale_out_jobs(ALLOCATE_ALL[0])][-1] == f"{ALLOCATE_ALL[0].name}_k8s"
    monkeypatch.setenv(K8S_JOBS_VARIABLE, "yes")
    with pytest.raises(ParameterError, match=K8S_JOBS_VARIABLE):
        in_kubernetes()


#: The code location as it is in a Kubernetes pod: with the ``<job>_k8s`` jobs.
IN_KUBERNETES = dg.Definitions(
    assets=ASSETS, resources=resources(), executor=dg.in_process_executor,
    jobs=[*ALLOCATE_ALL,
          *(v for job in ALLOCATE_ALL for v in scale_out_jobs(job, kubernetes=True))])


def test_scale_out_jobs_select_and_partition_what_their_job_does():
    graph = defs.get_repository_def().asset_graph
    executable = set()
    for name in JOBS:
        job = defs.resolve_job_def(name)
        expected = job.asset_layer.executable_asset_keys
        executable |= expected
        assert IN_KUBERNETES.resolve_job_def(f"{name}_k8s").executor_def.name == "k8s"
        for suffix in ("parallel", "celery", "k8s"):
            variant = IN_KUBERNETES.resolve_job_def(f"{name}_{suffix}")
            assert variant.asset_layer.executable_asset_keys == expected, variant.name
            assert variant.partitions_def == job.partitions_def, variant.name
    # together the jobs of "allocate all" materialise every asset
    assert executable == dg.AssetSelection.all().resolve(graph)


@pytest.mark.parametrize("name", [f"{job.name}_parallel" for job in ALLOCATE_ALL])
def test_the_fork_server_preloads_the_resolved_code_location(name):
    # the executor comes configured, partitioned jobs too (whose own run config would replace a
    # default execution block)
    resolved = defs.resolve_job_def(name).executor_def.apply_config_mapping({})
    assert resolved.success
    assert resolved.value["config"]["start_method"] == FORKSERVER_CONFIG["start_method"]
    assert FORKSERVER_CONFIG["start_method"]["forkserver"]["preload_modules"] == list(
        PRELOAD_MODULES)
    for module in PRELOAD_MODULES:
        assert importlib.import_module(module)


@pytest.mark.slow
def test_forkserver_run_from_the_command_line_equals_an_in_process_run(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    storage = tmp_path / "forked"
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(run_config(storage, OPS)))
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    done = subprocess.run(
        [sys.executable, "-m", "dagster", "job", "execute", "-m", "fairalloc.pipelines",
         "-j", "allocate_unpartitioned_parallel", "-c", str(config),
         "-o", ",".join(k.to_user_string() for k in SELECTION.resolve(
             defs.get_repository_def().asset_graph))],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-5000:]
    assert "Executing steps using multiprocess executor" in log
    assert "RUN_SUCCESS" in log, log[-5000:]

    reference = tmp_path / "in_process"
    (tmp_path / "reference_home").mkdir()
    result, stored = execute("allocate_unpartitioned", tmp_path / "reference_home", SELECTION,
                             run_config(reference, OPS))
    assert result.success
    assert set(list_outputs(storage)) == stored == {"portion_ratios", "portions"}
    assert_same_tables(stored, storage, reference)
