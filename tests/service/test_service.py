"""``fairalloc serve`` over HTTP: the real server process, talked to with httpx.

Every capability's answer is compared with the transform called here, in the test process, on
the same tables; the seed portions exchange byte for byte (names aside); every class of bad
input must get a 4xx JSON error naming the offending fields or keys, never a 500 or a
traceback; the product catalogue survives a restart; concurrent requests are all answered
correctly.
"""

from __future__ import annotations

import json
import random
import re
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pandas as pd
import polars as pl
import pytest

import fairalloc as fa
from fairalloc.service.models import REQUESTS
from fairalloc.transforms.options import VOCABULARIES
from tests.service.conftest import records, start_server

DATA = Path(__file__).resolve().parents[2] / "data"
SEED_BODY = b'{"distribution": {"portions": 8, "1": 3, "2": 1}}'


def rows(path: str, **where: object) -> list[dict]:
    df = pl.read_parquet(DATA / path)
    for column, value in where.items():
        df = df.filter(pl.col(column).is_in(value))
    return df.to_dicts()


def same_report(got: dict, report) -> None:
    expected = json.loads(json.dumps(report.to_dict(), default=str))
    for key in ("wall_time_s",):
        got.pop(key), expected.pop(key)
    assert got == expected


def post(client: httpx.Client, path: str, body: dict) -> dict:
    r = client.post(path, json=body)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    return r.json()


@pytest.fixture(scope="module")
def products(client) -> dict[int, str]:
    names = {1: "Soup of the day", 2: "Salad", 3: "Pasta", 4: "Curry", 5: "Tart"}
    for pid, name in names.items():
        r = client.post("/products/", json={"id": pid, "name": name})
        assert r.status_code == 201, r.text
    return names


# --- the seed exchange ---------------------------------------------------------------------------


def test_seed_portions_exchange_byte_for_byte(client, products):
    r = client.post("/portions/", content=SEED_BODY, headers={"content-type": "application/json"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    expected = [{"id": 1, "name": products[1], "portion": 6},
                {"id": 2, "name": products[2], "portion": 2}]
    assert r.content == json.dumps(expected, separators=(",", ":")).encode()


def test_seed_portions_are_ordered_by_id_whatever_the_key_order(client, products):
    r = client.post("/portions/", json={"distribution": {"3": 1, "portions": 10, "1": 1,
                                                          "2": 3}})
    assert r.status_code == 200
    got = r.json()
    assert [p["id"] for p in got] == [1, 2, 3]
    assert sum(p["portion"] for p in got) == 10
    assert [p["name"] for p in got] == [products[1], products[2], products[3]]


def test_fifty_concurrent_portion_requests_are_all_answered_correctly(server, products):
    rnd = random.Random(15)
    cases = []
    for _ in range(50):
        ids = rnd.sample(sorted(products), rnd.randint(1, 5))
        ratios = {pid: rnd.randint(0, 9) for pid in ids}
        ratios[ids[0]] += 1  # at least one positive ratio
        cases.append((ratios, rnd.randint(0, 200)))

    def ask(case):
        ratios, total = case
        body = {"distribution": {"portions": total, **{str(k): v for k, v in ratios.items()}}}
        with httpx.Client(base_url=server.url, timeout=120) as c:
            return c.post("/portions/", json=body)

    with ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(ask, cases))
    for (ratios, total), r in zip(cases, answers, strict=True):
        assert r.status_code == 200, r.text
        expected = fa.apportion(ratios, total, method="priority")
        assert r.json() == [{"id": k, "name": products[k], "portion": int(v)}
                            for k, v in expected.items()]


# --- one request per capability, against the library --------------------------------------------


def test_direct_sourcing_by_group_agrees_with_the_library(client):
    matches, capacity, demand = (rows(f"sourcing/{n}.parquet", year=[2024])
                                 for n in ("matches", "source_capacity", "sink_demand"))
    got = post(client, "/v1/sourcing", {
        "matches": matches, "source_capacity": capacity, "sink_demand": demand,
        "by": ["commodity", "year"], "relative_tolerance": 0.1, "redistribute": True})
    source, sink = fa.direct_sourcing(pl.DataFrame(matches), pl.DataFrame(capacity),
                                      pl.DataFrame(demand), by=["commodity", "year"],
                                      relative_tolerance=0.1, redistribute=True)
    assert got["allocation"] == records(pd.concat([source, sink], axis=1))
    same_report(got["report"], source.attrs["report"])


def test_proportional_sourcing_agrees_with_the_library(client):
    got = post(client, "/v1/sourcing", {
        "method": "proportional", "on_zero_capacity": "zero",
        "matches": [{"source": s, "sink": k} for s in ("A", "B", "Z") for k in ("X", "Y")],
        "source_capacity": [{"source": "A", "capacity": 300}, {"source": "B", "capacity": 150},
                            {"source": "Z", "capacity": 0}],
        "sink_demand": [{"sink": "X", "demand": 300}, {"sink": "Y", "demand": 300}]})
    # SPEC §1: A-X 200, A-Y 200, B-X 100, B-Y 100; Z has no capacity
    volume = {(r["source"], r["sink"]): r["volume"] for r in got["allocation"]}
    assert volume == {("A", "X"): 200, ("A", "Y"): 200, ("B", "X"): 100, ("B", "Y"): 100,
                      ("Z", "X"): 0, ("Z", "Y"): 0}
    assert got["report"]["method"] == "proportional"


def test_periods_with_the_lottery_agree_with_the_library(client):
    scenarios = ["published", "desks"]
    requests, accounts, capacities = (rows(f"periods/{n}.parquet", scenario=scenarios)
                                      for n in ("requests", "accounts", "capacities"))
    got = post(client, "/v1/periods", {
        "requests": requests, "accounts": accounts, "capacities": capacities,
        "by": ["scenario"], "lottery": True, "seed": 3, "max_iterations": 4})
    res = fa.allocate_period_groups(pl.DataFrame(requests), pl.DataFrame(accounts),
                                    pl.DataFrame(capacities), by=["scenario"], max_iterations=4)
    draw = fa.lottery_groups(res.allocation, pl.DataFrame(capacities), by=["scenario"], seed=3)
    assert got["allocation"] == records(res.allocation)
    assert got["accounts"] == records(res.accounts)
    assert got["periods"] == records(res.periods)
    assert got["lottery"] == records(draw)
    same_report(got["report"], res.report)
    # SPEC §2's published example: 48, 36, 24, 12 in every period
    published = [r for r in got["allocation"] if r["scenario"] == "published" and r["period"] == 1]
    assert [round(r["allocation"], 9) for r in published] == [48, 36, 24, 12]


def test_assignment_agrees_with_the_library(client):
    preferences, capacities = rows("assignment/preferences.parquet"), rows(
        "assignment/capacities.parquet")
    # the sample data holds three registration campaigns: each is assigned on its own
    got = post(client, "/v1/assignments", {"preferences": preferences, "capacities": capacities,
                                           "strategy": "rank_maximal", "seed": 4,
                                           "by": ["campaign"]})
    res = fa.assign_preferences(pl.DataFrame(preferences), pl.DataFrame(capacities),
                                strategy="rank_maximal", seed=4, by="campaign")
    assert {r["campaign"] for r in got["allocation"]} == {"2025-autumn", "2026-spring",
                                                          "2026-autumn"}
    assert got["allocation"] == records(res.allocation)
    same_report(got["report"], res.report)


def test_milp_assignment_with_constraints(client):
    prefs = [{"user": u, "item": i, "rank": k} for u, i, k in
             [("a", "X", 1), ("a", "Y", 2), ("b", "X", 1), ("b", "Y", 2), ("c", "X", 2),
              ("c", "Y", 1)]]
    got = post(client, "/v1/assignments", {
        "preferences": prefs, "capacities": [{"item": "X", "capacity": 1},
                                             {"item": "Y", "capacity": 2}],
        "strategy": "milp",
        "constraints": {"conflicts": [{"users": ["a", "b"], "items": ["X", "Y"]}]}})
    # unconstrained a and b would take X and Y; with the conflict both take Y and c takes X
    assert {r["user"]: r["item"] for r in got["allocation"]} == {"a": "Y", "b": "Y", "c": "X"}
    assert got["report"]["total_cost"] == 6


def test_coverage_with_the_audit_agrees_with_the_library(client):
    groups, eligibility, supply = (rows(f"coverage/{n}.parquet")
                                   for n in ("groups", "eligibility", "supply"))
    got = post(client, "/v1/coverage", {"groups": groups, "eligibility": eligibility,
                                        "supply": supply, "loss": "power", "loss_parameter": 3,
                                        "audit": True})
    res = fa.allocate_coverage(pl.DataFrame(groups), pl.DataFrame(eligibility),
                               pl.DataFrame(supply), loss=("power", 3.0))
    audit = fa.audit_fairness(pl.DataFrame(groups), res.allocation, pl.DataFrame(eligibility))
    assert got["allocation"] == records(res.allocation)
    assert got["groups"] == records(res.groups)
    assert got["resources"] == records(res.resources)
    assert got["audit"] == records(audit) == []
    same_report(got["report"], res.report)


def test_portions_agree_with_the_library(client):
    ratios = rows("portions/ratios.parquet")
    got = post(client, "/v1/portions", {"ratios": ratios, "total": 435,
                                        "method": "huntington_hill"})
    expected = fa.apportion(pl.DataFrame(ratios), 435, method="huntington_hill")
    assert got["allocation"] == records(expected)
    assert sum(r["portions"] for r in got["allocation"]) == 435
    assert got["report"] == {"unallocated": 0, "method": "huntington_hill", "status": "optimal"}


# --- the request models come from the vocabularies ---------------------------------------------


@pytest.mark.parametrize("endpoint, capability", [
    ("sourcing", "sourcing"), ("periods", "periods"), ("assignments", "assignment"),
    ("coverage", "coverage"), ("portions", "portions")])
def test_request_options_are_the_vocabulary(endpoint, capability):
    fields = REQUESTS[endpoint].model_fields
    vocabulary = VOCABULARIES[capability]
    for name in vocabulary.names():
        option = vocabulary.option(name)
        assert fields[name].default == option.default
        assert fields[name].description == option.help
        if option.choices is not None:
            assert fields[name].annotation.__args__ == option.choices


def test_openapi_documents_every_body(client):
    doc = client.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    for name, model in REQUESTS.items():
        body = doc["paths"][f"/v1/{name}"]["post"]["requestBody"]["content"]["application/json"]
        assert body["schema"]["$ref"].endswith(model.__name__)
        assert set(schemas[model.__name__]["properties"]) == set(model.model_fields)
    assert schemas["SourcingRequest"]["properties"]["method"]["enum"] == ["direct",
                                                                           "proportional"]
    assert client.get("/docs").status_code == 200


# --- bad input ------------------------------------------------------------------------------------

PORTIONS_OK = {"ratios": [{"key": "a", "ratio": 3}, {"key": "b", "ratio": 1}], "total": 8}
SOURCING_OK = {"matches": [{"source": "A", "sink": "X"}],
               "source_capacity": [{"source": "A", "capacity": 1}],
               "sink_demand": [{"sink": "X", "demand": 1}]}


def with_(base: dict, **changes) -> bytes:
    return json.dumps({**base, **changes}).encode()


#: (path, raw body, status, error type, words the message must contain)
BAD = [
    ("/v1/portions", b'{"ratios": [', 422, "ValidationError", ["json_invalid"]),
    ("/v1/portions", b"[1, 2]", 422, "ValidationError", ["model_type"]),
    ("/v1/portions", b"", 422, "ValidationError", ["json_invalid"]),
    ("/v1/portions", with_(PORTIONS_OK, colour="red"), 422, "ValidationError", ["colour"]),
    ("/v1/portions", json.dumps({"ratios": []}).encode(), 422, "ValidationError", ["total"]),
    ("/v1/portions", with_(PORTIONS_OK, ratios=[{"key": "a", "ratio": 1, "weight": 2}]), 422,
     "ValidationError", ["ratios.0.weight"]),
    ("/v1/portions", with_(PORTIONS_OK, ratios=[{"key": True, "ratio": 1}]), 422,
     "ValidationError", ["ratios.0.key"]),
    ("/v1/portions", with_(PORTIONS_OK, ratios=[{"key": "a", "ratio": "3"}]), 422,
     "ValidationError", ["ratios.0.ratio"]),
    ("/v1/portions", with_(PORTIONS_OK, ratios=[{"key": "a", "ratio": 3},
                                                 {"key": "b", "ratio": -1}]), 422,
     "InvalidAmountError", ["'b'"]),
    ("/v1/portions", b'{"ratios": [{"key": "a", "ratio": 3}, {"key": "c", "ratio": NaN}], '
                     b'"total": 8}', 422, "InvalidAmountError", ["'c'"]),
    ("/v1/portions", b'{"ratios": [{"key": "d", "ratio": Infinity}], "total": 8}', 422,
     "InvalidAmountError", ["'d'"]),
    ("/v1/portions", with_(PORTIONS_OK, ratios=[{"key": "a", "ratio": 3},
                                                 {"key": "a", "ratio": 1}]), 422,
     "DuplicateKeyError", ["'a'"]),
    ("/v1/portions", with_(PORTIONS_OK, total=-1), 422, "ParameterError", ["total"]),
    ("/v1/portions", with_(PORTIONS_OK, ratios=[]), 422, "EmptyInputError", ["ratios"]),
    ("/v1/portions", with_(PORTIONS_OK, method="banzhaf"), 422, "ValidationError",
     ["method", "huntington_hill"]),
    ("/v1/assignments", json.dumps({"preferences": [{"user": 1, "item": 1, "rank": 1}],
                                    "capacities": [{"item": 1, "capacity": 1}],
                                    "strategy": "greedy"}).encode(), 422, "ValidationError",
     ["strategy", "rank_maximal"]),
    ("/v1/coverage", json.dumps({"groups": [], "eligibility": [], "supply": [],
                                 "loss": "cubic"}).encode(), 422, "ValidationError", ["loss"]),
    ("/v1/coverage", json.dumps({"groups": [{"group": "g", "population": 1, "prior": 0,
                                             "weight": 1}],
                                 "eligibility": [{"group": "g", "resource": "r"}],
                                 "supply": [{"resource": "r", "supply": 1}],
                                 "loss": "power"}).encode(), 422, "ParameterError", ["power"]),
    ("/v1/sourcing", with_(SOURCING_OK, matches=[{"source": "A", "sink": "X"},
                                                 {"source": "Q", "sink": "X"}]), 422,
     "UnknownKeyError", ["'Q'"]),
    ("/v1/sourcing", with_(SOURCING_OK, source_capacity=[{"source": "A", "capacity": 1},
                                                         {"source": "A", "capacity": 2}]), 422,
     "DuplicateKeyError", ["'A'"]),
    ("/v1/sourcing", with_(SOURCING_OK, relative_tolerance=1.5), 422, "ParameterError",
     ["relative_tolerance"]),
    ("/v1/sourcing", with_(SOURCING_OK, on_zero_capacity="zero"), 422, "ParameterError",
     ["on_zero_capacity"]),
    ("/v1/sourcing", with_(SOURCING_OK, matches=[{"source": "A", "sink": "X", "year": 1}]), 422,
     "ParameterError", ["year"]),
    ("/v1/sourcing", with_(SOURCING_OK, by=["year"]), 422, "InputTypeError", ["year"]),
    ("/v1/periods", json.dumps({"requests": [{"account": "a", "period": 1, "request": 1}],
                                "accounts": [{"account": "a", "currency": 1}],
                                "capacities": [{"period": 1, "capacity": 1}],
                                "seed": 2}).encode(), 422, "ParameterError", ["seed"]),
    ("/portions/", b'{"distribution": {"1": 3}}', 422, "ParameterError", ["portions"]),
    ("/portions/", b'{"distribution": {"portions": 8, "soup": 3}}', 422, "ParameterError",
     ["soup"]),
    ("/portions/", b'{"distribution": {"portions": 8, "1": -3}}', 422, "InvalidAmountError",
     ["1"]),
    ("/portions/", b'{"distribution": {"portions": 8, "1": NaN}}', 422, "ValidationError",
     ["distribution.1"]),
    ("/portions/", b'{"distribution": {"portions": 8, "1": 1.5}}', 422, "ValidationError",
     ["distribution.1"]),
    ("/portions/", b'{"distribution": {"portions": 8, "1": 1, "01": 2}}', 422,
     "DuplicateKeyError", ["01"]),
    ("/portions/", b'{"distribution": [1]}', 422, "ValidationError", ["distribution"]),
    ("/portions/", b'{"portions": 8}', 422, "ValidationError", ["portions"]),
    ("/portions/", b'{"distribution": {"portions": 8, "1": 3, "77": 1, "78": 1}}', 404,
     "ProductNotFoundError", ["77", "78"]),
    ("/products/", json.dumps({"name": "x" * 101}).encode(), 422, "ValidationError", ["name"]),
    ("/products/", json.dumps({"id": 1, "name": "again"}).encode(), 409, "ProductExistsError",
     ["1"]),
]


@pytest.mark.parametrize("path, body, status, error, words", BAD,
                         ids=[f"{p}-{e}-{i}" for i, (p, _, _, e, _) in enumerate(BAD)])
def test_bad_input_is_a_4xx_json_error_naming_the_fields(client, products, path, body, status,
                                                          error, words):
    r = client.post(path, content=body, headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    got = r.json()
    assert got["error"] == error
    assert "Traceback" not in r.text
    text = got["detail"] + json.dumps(got.get("errors", []))
    for word in words:
        assert word in text


def test_unknown_product_and_malformed_path(client, products):
    r = client.get("/products/999")
    assert r.status_code == 404 and r.json()["keys"] == [999]
    r = client.get("/products/soup")
    assert r.status_code == 422 and "product_id" in r.text
    assert client.put("/products/999", json={"name": "x"}).status_code == 404
    assert client.delete("/products/999").status_code == 404


def test_bodies_above_the_limit_are_refused_with_413(client):
    big = b" " * 3_000_001  # the module's server allows 3,000,000 bytes
    r = client.post("/v1/portions", content=big)  # with Content-Length
    assert r.status_code == 413 and r.json()["error"] == "BodyTooLargeError"
    # no Content-Length (chunked): counted as the body arrives
    r = client.post("/v1/sourcing", content=iter([big[:1_000_000]] * 4))
    assert r.status_code == 413 and "3,000,000" in r.json()["detail"]
    r = client.post("/products/", content=iter([big[:1_000_000]] * 4),
                    headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert client.get("/healthz").json() == {"status": "ok"}


def test_no_request_failed_inside_the_server(server, client):
    """Run last in the module: the bad inputs above left no traceback in the server's log."""
    client.get("/healthz")
    log = server.log.read_text()
    assert "Traceback" not in log and " 500 " not in log


# --- the catalogue ------------------------------------------------------------------------------


@pytest.mark.slow
def test_product_crud_survives_a_restart(tmp_path):
    db = tmp_path / "products.db"
    first = start_server(tmp_path, db)
    try:
        with httpx.Client(base_url=first.url, timeout=60) as c:
            assert c.get("/products/").json() == []
            assert c.post("/products/", json={"name": "Soup"}).json() == {"id": 1, "name": "Soup"}
            assert c.post("/products/", json={"id": 7, "name": "Salad"}).status_code == 201
            assert c.post("/products/", json={"name": "Tart"}).json()["id"] == 8
            assert c.put("/products/1", json={"name": "Leek soup"}).json() == {
                "id": 1, "name": "Leek soup"}
            assert c.delete("/products/8").status_code == 204
            assert c.get("/products/8").status_code == 404
    finally:
        assert first.stop() in (0, 143)
    second = start_server(tmp_path, db)
    try:
        with httpx.Client(base_url=second.url, timeout=60) as c:
            assert c.get("/products/").json() == [{"id": 1, "name": "Leek soup"},
                                                  {"id": 7, "name": "Salad"}]
            assert c.get("/products/7").json() == {"id": 7, "name": "Salad"}
            r = c.post("/portions/", json={"distribution": {"portions": 8, "1": 3, "7": 1}})
            assert r.json() == [{"id": 1, "name": "Leek soup", "portion": 6},
                                {"id": 7, "name": "Salad", "portion": 2}]
    finally:
        second.stop()


@pytest.mark.slow
def test_default_database_is_fairalloc_db_in_the_working_directory(tmp_path):
    srv = start_server(tmp_path)  # neither --database nor FAIRALLOC_DATABASE_URL
    try:
        assert httpx.post(f"{srv.url}/products/", json={"name": "Soup"}).status_code == 201
    finally:
        srv.stop()
    assert (tmp_path / "fairalloc.db").is_file()


def test_large_bodies_go_through_a_worker_process_with_the_same_answers_and_errors(client):
    """Above 1 MB the work runs in a worker process: results and errors are the same."""
    ratios = [{"key": f"k{i:06d}", "ratio": (i % 7) + 0.5} for i in range(40_000)]
    body = {"ratios": ratios, "total": 1_000_003, "method": "webster"}
    assert len(json.dumps(body)) > 1_000_000
    got = post(client, "/v1/portions", body)
    expected = fa.apportion(pl.DataFrame(ratios), 1_000_003, method="webster")
    assert got["allocation"] == records(expected)
    ratios[12_345]["ratio"] = -2
    r = client.post("/v1/portions", json=body)
    assert r.status_code == 422
    assert r.json()["error"] == "InvalidAmountError" and r.json()["keys"] == ["k012345"]
    ratios[12_345]["colour"] = "red"
    r = client.post("/v1/portions", json=body)
    assert r.status_code == 422 and r.json()["error"] == "ValidationError"
    assert r.json()["errors"][0]["loc"] == ["ratios", "12345", "colour"]


# --- the README's session ------------------------------------------------------------------------


def readme_session() -> list[tuple[str, str, bytes, str]]:
    """(method, path, body, shown answer) for every ``$ curl`` line of the README."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    (block,) = [b for b in re.findall(r"```sh\n(.*?)```", readme, re.S) if "$ curl" in b]
    out = []
    for cmd, shown in re.findall(r"^\$ (curl .*)\n(.*)\n", block, re.M):
        argv = shlex.split(cmd)
        url = next(a for a in argv if a.startswith("http://"))
        out.append((argv[argv.index("-X") + 1], url.split("8000", 1)[1],
                    argv[argv.index("-d") + 1].encode(), shown))
    return out


def without_times(answer: object) -> object:
    if isinstance(answer, dict):
        return {k: without_times(v) for k, v in answer.items() if k != "wall_time_s"}
    return answer


@pytest.mark.slow
def test_the_readme_session_gives_what_the_readme_shows(tmp_path):
    session = readme_session()
    assert len(session) >= 5 and any(p == "/portions/" for _, p, _, _ in session)
    srv = start_server(tmp_path, tmp_path / "readme.db")
    try:
        with httpx.Client(base_url=srv.url, timeout=60) as c:
            for method, path, body, shown in session:
                r = c.request(method, path, content=body,
                              headers={"content-type": "application/json"})
                assert without_times(r.json()) == without_times(json.loads(shown)), path
    finally:
        srv.stop()


def test_serve_help_imports_no_web_or_data_library():
    code = ("import sys; from fairalloc.cli import main; main(['serve', '--help']); "
            "heavy = {'fastapi', 'sqlalchemy', 'polars', 'pandas'} & set(sys.modules); "
            "sys.exit(f'imported {heavy}' if heavy else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert "--database" in proc.stdout and "FAIRALLOC_DATABASE_URL" in proc.stdout


def test_a_body_with_very_many_errors_gets_the_first_twenty_and_the_count(client):
    body = {"ratios": [{"key": i, "ratio": 1, "x": 0} for i in range(30_000)], "total": 3}
    assert len(json.dumps(body)) > 1_000_000  # through a worker process
    r = client.post("/v1/portions", json=body)
    assert r.status_code == 422
    got = r.json()
    assert got["count"] == 30_000 and len(got["errors"]) == 20
    assert got["errors"][0]["loc"] == ["ratios", "0", "x"]
    r = client.post("/v1/portions", json={**body, "ratios": body["ratios"][:30]})
    assert r.json()["count"] == 30 and len(r.json()["errors"]) == 20  # in a thread: the same
