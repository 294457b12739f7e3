"""deploy/: the Kubernetes instance, the run config and the Celery configuration validate against
the installed dagster libraries (a misspelt class or field fails here, not on the cluster);
every dagster-* package is pinned to dagster's version."""

from __future__ import annotations

import re
import shutil
from importlib.metadata import version

import pytest
import yaml
from dagster._config import validate_config
from dagster._core.instance.config import dagster_instance_config
from dagster._serdes.config_class import class_from_code_pointer
from sqlalchemy.engine import make_url

from tests import ROOT
from tests.pipelines.test_executors import IN_KUBERNETES

DEPLOY = ROOT / "deploy"


def _load(name: str) -> dict:
    return yaml.safe_load((DEPLOY / name).read_text())


def test_instance_validates_against_dagsters_schema(tmp_path):
    shutil.copy(DEPLOY / "dagster.yaml", tmp_path / "dagster.yaml")
    config, custom_class = dagster_instance_config(str(tmp_path))
    assert custom_class is None
    assert "postgres" in config["storage"]


@pytest.mark.parametrize(("entry", "cls"), [
    ("run_launcher", "K8sRunLauncher"),
    ("run_coordinator", "QueuedRunCoordinator"),
    ("compute_logs", "S3ComputeLogManager"),
])
def test_each_instance_class_imports_and_accepts_its_config(entry, cls):
    spec = _load("dagster.yaml")[entry]
    assert spec["class"] == cls
    klass = class_from_code_pointer(spec["module"], spec["class"])
    result = validate_config(klass.config_type(), spec["config"])
    assert result.success, [e.message for e in result.errors]


def test_postgres_storage_uses_psycopg2():
    from dagster_postgres import DagsterPostgresStorage
    from dagster_postgres.utils import pg_url_from_config

    config = _load("dagster.yaml")["storage"]["postgres"]
    assert validate_config(DagsterPostgresStorage.config_type(), config).success
    resolved = {**config["postgres_db"], "username": "u", "password": "p", "hostname": "h",
                "db_name": "d"}
    url = make_url(pg_url_from_config({"postgres_db": resolved}))
    assert url.drivername == "postgresql+psycopg2"
    assert url.get_dialect().import_dbapi().__name__ == "psycopg2"  # installed, loadable
    assert _load("values.yaml")["postgresql"]["postgresqlScheme"] == url.drivername


def test_k8s_run_config_validates_against_the_job():
    job = IN_KUBERNETES.resolve_job_def("allocate_unpartitioned_k8s")
    assert job.executor_def.name == "k8s"
    result = validate_config(job.run_config_schema.config_type, _load("k8s-run.yaml"))
    assert result.success, [e.message for e in result.errors]


def test_celery_config_validates_against_the_executor():
    from dagster_celery import celery_executor

    result = validate_config(celery_executor.config_schema.config_type,
                             _load("celery.yaml")["execution"]["config"])
    assert result.success, [e.message for e in result.errors]


def test_helm_values_and_image_start_the_code_location():
    values = _load("values.yaml")
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    assert deployment["dagsterApiGrpcArgs"] == ["-m", "fairalloc.pipelines"]
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert '"-m", "fairalloc.pipelines"' in (DEPLOY / "Dockerfile").read_text()
    instance = _load("dagster.yaml")
    assert instance["run_launcher"]["config"]["instance_config_map"] in (
        DEPLOY / "README.md").read_text()


def test_every_dagster_package_is_pinned_to_dagsters_version_and_installed():
    pins = dict(re.findall(r'"(dagster[\w-]*)==([\w.]+)"', (ROOT / "pyproject.toml").read_text()))
    assert {"dagster", "dagster-webserver", "dagster-celery", "dagster-k8s", "dagster-postgres",
            "dagster-aws"} <= set(pins)
    major, minor, patch = pins["dagster"].split(".")
    library = f"0.{int(minor) + 16}.{patch}"  # dagster 1.x.y ships its libraries as 0.(x+16).y
    for name, pinned in pins.items():
        expected = pins["dagster"] if name in ("dagster", "dagster-webserver") else library
        assert pinned == expected, name
        assert version(name) == pinned, name
