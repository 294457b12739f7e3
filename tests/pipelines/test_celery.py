"""Celery on Redis as the distributed executor: a Redis server and two real Celery workers on
127.0.0.1, a single-run backfill of every sourcing partition through ``allocate_sourcing_celery``,
its tables equal to an in-process run's.

Redis runs from a temporary folder on a free port without persistence; the workers are started
exactly as ``dagster-celery worker start`` would start them, but as our own child processes, so
that the test stops them (and Redis) by process id and can check that nothing is left running.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psutil
import pytest
import yaml

from benchmarks.servers import free_port, stop
from fairalloc.pipelines.executors import (
    CELERY_BACKEND_VARIABLE,
    CELERY_BROKER_VARIABLE,
    CELERY_CONFIG,
)
from fairalloc.pipelines.jobs import range_tags
from tests import ROOT
from tests.pipelines.runs import DATA, assert_same_tables, execute, run_config

pytestmark = [
    pytest.mark.slow,
    # dagster-celery registers its task on a fresh app at every submission
    pytest.mark.filterwarnings("ignore::celery.exceptions.DuplicateTaskNameWarning"),
]

CELERY_YAML = ROOT / "deploy" / "celery.yaml"
WORKERS = 2
#: What the workers materialise: a single-run backfill of every (commodity, year) partition of
#: the sample data, registered first, the range in the run's tags.
SELECTION = dg.AssetSelection.groups("sourcing")
KEYS = ["cocoa|2024", "cocoa|2025", "cocoa|2026", "coffee|2024", "coffee|2025", "coffee|2026"]
PARTITIONS: dict[str, list[str]] = {"sourcing_groups": KEYS}
TAGS: dict[str, str] = range_tags(KEYS)
OPS = {"direct_sourcing": {"config": {"relative_tolerance": 0.1}}}


def redis_server() -> str:
    """Debian's redis-server, installed with apt-get (as root) on a fresh machine."""
    found = shutil.which("redis-server")
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-q"], check=True, env=env,
                       stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "-q", "redis-server"], check=True, env=env,
                       stdout=subprocess.DEVNULL)
        found = shutil.which("redis-server")
    if found is None:
        pytest.fail("redis-server is missing and cannot be installed (apt-get install "
                    "redis-server, as root)")
    return found


def alive(pids: set[int]) -> set[int]:
    """Those of ``pids`` still running (zombies excluded)."""
    running = set()
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                running.add(pid)
    return running


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[dict]:
    """Redis and two Celery workers sharing one DAGSTER_HOME; stopped by pid afterwards."""
    import redis
    from celery import Celery
    from dagster_celery.cli import get_config_dir

    root = tmp_path_factory.mktemp("cluster")
    home = root / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    port = free_port()
    env = {CELERY_BROKER_VARIABLE: f"redis://127.0.0.1:{port}/0",
           CELERY_BACKEND_VARIABLE: f"redis://127.0.0.1:{port}/1",
           "DAGSTER_HOME": str(home), "FAIRALLOC_DATA_DIR": str(DATA)}
    started: list[subprocess.Popen] = []
    pids: set[int] = set()  # the workers' pool processes, once they are up
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        try:
            server = subprocess.Popen(
                [redis_server(), "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                 "--appendonly", "no", "--dir", str(root), "--daemonize", "no",
                 "--logfile", str(root / "redis.log")],
                cwd=root,
            )
            started.append(server)
            client = redis.Redis(host="127.0.0.1", port=port)
            wait_until(lambda: _pings(client), 30, "redis-server")

            # what `dagster-celery worker start -y deploy/celery.yaml` runs, minus its wrapper
            # process: the broker settings as a module on PYTHONPATH, `celery worker` on the app
            config_dir = get_config_dir(str(CELERY_YAML))
            worker_env = {**os.environ, "PYTHONPATH": os.pathsep.join(
                [config_dir, *filter(None, [os.environ.get("PYTHONPATH")])])}
            for i in range(WORKERS):
                log = open(root / f"worker-{i}.log", "w")  # noqa: SIM115 (closed with the process)
                started.append(subprocess.Popen(
                    [sys.executable, "-m", "celery", "-A", "dagster_celery.app", "worker",
                     "--prefetch-multiplier=1", "--concurrency=1", "--loglevel=INFO",
                     "-I", ",".join(CELERY_CONFIG["include"]), "-n", f"fairalloc-{i}@%h",
                     "--without-gossip", "--without-mingle"],
                    env=worker_env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                ))
                log.close()
            app = Celery(broker=env[CELERY_BROKER_VARIABLE])

            def ready() -> None:
                """Wait until both workers answer (they import the code location first)."""
                wait_until(lambda: len(app.control.ping(timeout=0.5)) == WORKERS
                           or any(p.poll() is not None for p in started),
                           120, "two Celery workers")
                assert all(p.poll() is None for p in started), _logs(root)
                for p in started:
                    pids.update(c.pid for c in psutil.Process(p.pid).children(recursive=True))
                assert len(pids) >= WORKERS  # a pool process each, checked after the teardown

            yield {"home": home, "root": root, "ready": ready}
        finally:
            for process in reversed(started):
                stop(process)
    assert not alive(pids | {p.pid for p in started}), "processes left running"


def _pings(client) -> bool:
    try:
        return bool(client.ping())
    except Exception:
        return False


def _logs(root: Path) -> str:
    return "\n".join(p.read_text()[-3000:] for p in sorted(root.glob("worker-*.log")))


def test_celery_yaml_is_the_jobs_executor_config():
    """The workers' configuration file and the job's default cannot drift apart."""
    assert yaml.safe_load(CELERY_YAML.read_text()) == {"execution": {"config": CELERY_CONFIG}}


def test_celery_workers_store_the_same_tables_as_an_in_process_run(cluster, tmp_path,
                                                                    record_property):
    # the reference first, while the workers start
    reference = tmp_path / "in_process"
    reference_home = tmp_path / "reference_home"
    reference_home.mkdir()
    start = time.perf_counter()
    expected, in_process = execute("allocate_sourcing", reference_home, SELECTION,
                                   run_config(reference, OPS), TAGS, PARTITIONS)
    record_property("in_process_seconds", round(time.perf_counter() - start, 1))
    assert expected.success

    cluster["ready"]()
    storage = tmp_path / "celery"
    start = time.perf_counter()
    result, stored = execute("allocate_sourcing_celery", cluster["home"], SELECTION,
                             run_config(storage, OPS), TAGS, PARTITIONS)
    record_property("celery_seconds", round(time.perf_counter() - start, 1))
    assert result.success, _logs(cluster["root"])
    assert stored == in_process
    assert {"matches", "direct_sourcing", "proportional_sourcing"} <= stored
    assert_same_tables(stored, storage, reference)

    # the steps were spread over both workers (each takes one task at a time)
    hosts = {
        str(e.event_specific_data.metadata["Celery worker"].value)
        for e in result.all_events
        if e.event_type == dg.DagsterEventType.ENGINE_EVENT and e.event_specific_data
        and "Celery worker" in (e.event_specific_data.metadata or {})
    }
    assert len(hosts) == WORKERS, hosts
