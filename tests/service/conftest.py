"""The real server: ``fairalloc serve`` in a subprocess on a free port of 127.0.0.1.

Each test module starts one server (module scope) with its own SQLite file and stops it by
its process id; a test that needs a restart starts another with :func:`start_server`.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd
import pytest

from benchmarks.servers import free_port, stop

SCRIPT = Path(sys.executable).parent / "fairalloc"
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "fairalloc"]
STARTUP_S = 120


@dataclass
class Server:
    """A running ``fairalloc serve``: its process, base URL and log file."""

    process: subprocess.Popen
    url: str
    log: Path

    def stop(self) -> int:
        """SIGTERM by pid, then SIGKILL if it lingers; returns the exit status."""
        return stop(self.process)


def start_server(workdir: Path, database: Path | None = None, *args: str) -> Server:
    """Start ``fairalloc serve`` in ``workdir`` and wait until ``/healthz`` answers."""
    port = free_port()
    log = workdir / f"server-{port}.log"
    cmd = [*COMMAND, "serve", "--host", "127.0.0.1", "--port", str(port), *args]
    if database is not None:
        cmd += ["--database", f"sqlite:///{database}"]
    env = {k: v for k, v in os.environ.items() if k != "FAIRALLOC_DATABASE_URL"}
    with open(log, "wb") as out:
        process = subprocess.Popen(cmd, cwd=workdir, stdout=out, stderr=subprocess.STDOUT,
                                   env=env)
    server = Server(process, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.2)
    server.stop()
    raise AssertionError(f"server did not answer in {STARTUP_S} s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def server_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("server")


@pytest.fixture(scope="module")
def server(server_dir) -> Iterator[Server]:
    """One server per test module, bodies limited to 3 MB, catalogue in its own SQLite file."""
    srv = start_server(server_dir, server_dir / "catalogue.db", "--max-body-bytes", "3000000")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def client(server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=120) as c:
        yield c


def records(table: pd.DataFrame | pd.Series) -> list[dict]:
    """A library result as records: index levels first, missing values as None."""
    frame = table.to_frame() if isinstance(table, pd.Series) else table
    flat = frame.reset_index().astype(object)
    return [{k: (None if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA
                 else v) for k, v in r.items()} for r in flat.to_dict("records")]
