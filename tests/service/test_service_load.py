"""One large request does not stall the others: ``/healthz`` answers within 1 s while a
sourcing request of 10^6 matches is validated, solved and written (in a worker thread).
"""

from __future__ import annotations

import json
import threading
import time

import httpx
import numpy as np
import pytest

from tests.service.conftest import start_server

SOURCES, SINKS = 2000, 500  # every pair: 10^6 matches


@pytest.fixture(scope="module")
def big_server(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("big")
    srv = start_server(workdir, workdir / "catalogue.db")  # the default 50 MB body limit
    yield srv
    srv.stop()


def body() -> bytes:
    src, sink = np.divmod(np.arange(SOURCES * SINKS), SINKS)
    matches = ",".join(f'{{"source":{s},"sink":{k}}}' for s, k in zip(src.tolist(),
                                                                       sink.tolist(),
                                                                       strict=True))
    capacity = [{"source": s, "capacity": 10.0} for s in range(SOURCES)]
    demand = [{"sink": k, "demand": 100.0} for k in range(SINKS)]
    return (f'{{"matches":[{matches}],"source_capacity":{json.dumps(capacity)},'
            f'"sink_demand":{json.dumps(demand)}}}').encode()


@pytest.mark.slow
def test_healthz_answers_within_a_second_while_a_large_request_runs(big_server):
    raw = body()
    assert len(raw) < 50_000_000
    result: dict = {}

    def large() -> None:
        with httpx.Client(base_url=big_server.url, timeout=600) as c:
            t0 = time.perf_counter()
            r = c.post("/v1/sourcing", content=raw, headers={"content-type": "application/json"})
            result.update(status=r.status_code, content=r.content,
                          seconds=time.perf_counter() - t0)

    worker = threading.Thread(target=large)
    worker.start()
    latencies = []
    with httpx.Client(base_url=big_server.url, timeout=30) as c:
        while worker.is_alive():
            t0 = time.perf_counter()
            assert c.get("/healthz").json() == {"status": "ok"}
            latencies.append(time.perf_counter() - t0)
            time.sleep(0.1)
    worker.join()
    assert result["status"] == 200, result["content"][:500]
    assert len(latencies) >= 5, (latencies, result["seconds"])  # it did run alongside
    assert max(latencies) < 1.0, sorted(latencies)[-5:]
    got = json.loads(result["content"])
    assert got["report"]["matches"] == SOURCES * SINKS
    assert len(got["allocation"]) == SOURCES * SINKS
    # demand 500 × 100 = 50 000 against capacity 2000 × 10 = 20 000: every source exhausted
    assert got["report"]["allocated"] == pytest.approx(20_000, rel=1e-12)
