"""Local servers that benchmarks and tests start themselves: a free port on 127.0.0.1,
``moto_server`` as an S3 endpoint, and stopping a process by its id.

One place for what every test or benchmark that starts a server needs (the Celery, S3 and
service tests, the storage and service benchmarks).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(process: subprocess.Popen, timeout: float = 30) -> int | None:
    """SIGTERM by process id (a warm shutdown), SIGKILL if it has not exited in ``timeout``
    seconds; returns the exit status."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout)
    return process.returncode


def start_moto(timeout: float = 60) -> tuple[subprocess.Popen, str]:
    """``python -m moto.server`` on 127.0.0.1 and a free port, once it answers; the process
    and its endpoint URL. Clients need credentials in their environment (any values)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                             "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=1)
            return proc, url
        except urllib.error.HTTPError:  # it answers
            return proc, url
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                stop(proc)
                raise RuntimeError(f"moto_server did not start on {url}") from None
            time.sleep(0.2)
