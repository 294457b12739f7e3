"""The HTTP service (``fairalloc serve``) against the library call it wraps.

A real server process on a free port of 127.0.0.1 (its catalogue in a temporary SQLite file).
Throughput: seed-compatible ``POST /portions/`` requests (five products, varied ratios and
totals) sent by 10 concurrent clients, each on its own keep-alive connection, for a fixed
number of requests; every answer is checked against the library. Overhead: ``POST /v1/sourcing``
(direct) with M matches, timed from sending the pre-encoded body to receiving the last byte of
the answer, against ``direct_sourcing`` on the same tables in this process; the ratio of the
medians is what the service adds (JSON in and out, validation, the copy to a worker process
for bodies above 1 MB).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import polars as pl

from benchmarks.bench_sourcing import make_inputs
from benchmarks.harness import fmt_seconds, markdown, measure
from benchmarks.servers import free_port
from fairalloc.service.settings import PROCESS_BODY_BYTES
from fairalloc.transforms.portions import apportion
from fairalloc.transforms.sourcing import direct_sourcing

#: Matches of the sourcing requests (10^4: a body under 1 MB, handled in a thread; 10^5: in a
#: worker process).
SIZES = (10_000, 100_000)
REPEATS = {10_000: 7, 100_000: 5}
CLIENTS = 10
REQUESTS = 2_000


def start_server(workdir: Path) -> tuple[subprocess.Popen, str]:
    """``fairalloc serve`` in ``workdir``; returns the process and its URL once it answers."""
    port = free_port()
    cmd = [sys.executable, "-m", "fairalloc", "serve", "--port", str(port), "--quiet",
           "--database", f"sqlite:///{workdir / 'bench.db'}"]
    proc = subprocess.Popen(cmd, cwd=workdir, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.2)
    os.kill(proc.pid, signal.SIGTERM)
    raise RuntimeError("the server did not start")


def portions_throughput(url: str) -> tuple[float, float]:
    """Requests per second and median latency of ``POST /portions/`` with 10 clients."""
    names = {}
    with httpx.Client(base_url=url) as c:
        for pid in range(1, 6):
            names[pid] = c.post("/products/", json={"id": pid, "name": f"meal {pid}"}).json()
    rnd = random.Random(0)
    cases = [({pid: rnd.randint(0, 9) + (pid == 1) for pid in range(1, 6)}, rnd.randint(0, 500))
             for _ in range(REQUESTS)]

    def client(part: list) -> list[float]:
        latencies = []
        with httpx.Client(base_url=url, timeout=60) as c:
            for ratios, total in part:
                body = {"distribution": {"portions": total,
                                         **{str(k): v for k, v in ratios.items()}}}
                t0 = time.perf_counter()
                r = c.post("/portions/", json=body)
                latencies.append(time.perf_counter() - t0)
                expected = apportion(ratios, total, method="priority")
                assert [p["portion"] for p in r.json()] == expected.tolist(), r.text
        return latencies

    parts = [cases[i::CLIENTS] for i in range(CLIENTS)]
    start = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        latencies = sorted(x for part in pool.map(client, parts) for x in part)
    elapsed = time.perf_counter() - start
    return REQUESTS / elapsed, latencies[len(latencies) // 2]


def sourcing_overhead(url: str, m: int, repeats: int) -> tuple:
    """One table row: library and service medians for ``m`` matches, and their ratio."""
    matches, cap, dem = (pl.from_pandas(t) for t in make_inputs(m))
    body = json.dumps({"matches": matches.to_dicts(), "source_capacity": cap.to_dicts(),
                       "sink_demand": dem.to_dicts()}).encode()
    library = measure(lambda: direct_sourcing(matches, cap, dem), repeats)
    expected = direct_sourcing(matches, cap, dem)[0]
    with httpx.Client(base_url=url, timeout=600) as c:
        def call() -> bytes:
            r = c.post("/v1/sourcing", content=body,
                       headers={"content-type": "application/json"})
            assert r.status_code == 200, r.text[:300]
            return r.content

        got = json.loads(call())  # warm-up (and the worker processes' imports), checked
        assert [row["source_volume"] for row in got["allocation"]] == expected.tolist()
        service = measure(call, repeats)
    print(f"  sourcing {m:,} matches: library {fmt_seconds(library.median)}, "
          f"service {fmt_seconds(service.median)}", flush=True)
    where = "process" if len(body) > PROCESS_BODY_BYTES else "thread"
    return (f"{m:,}", f"{len(body) / 1e6:.1f} MB ({where})", fmt_seconds(library.median),
            fmt_seconds(service.median), f"{service.median / library.median:.1f}×",
            f"{service.median - library.median:.3f} s", repeats)


def run(sizes=SIZES, repeats: int | None = None) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_server(Path(tmp))
        try:
            rps, latency = portions_throughput(url)
            print(f"  portions: {rps:.0f} requests/s, median latency "
                  f"{fmt_seconds(latency)}", flush=True)
            rows = [sourcing_overhead(url, m, repeats or REPEATS[m]) for m in sizes]
        finally:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)
    head = markdown(("endpoint", "clients", "requests", "requests/s", "median latency"),
                    [("POST /portions/", CLIENTS, f"{REQUESTS:,}", f"{rps:.0f}",
                      fmt_seconds(latency))])
    table = markdown(("matches", "body", "direct_sourcing (median)",
                      "POST /v1/sourcing (median)", "service / library", "added", "runs"),
                     rows)
    return head + "\n\n" + table
