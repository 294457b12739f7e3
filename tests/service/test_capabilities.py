"""The ``/v1`` work in-process (no server): for any instance, the JSON answer is the library's.

What the request handlers add — records in, tables built, results written as JSON — must not
change a single number or key: each answer is compared with the transform called directly on
the same instance given as Python objects, exactly (JSON carries floats and integers of any
size without loss).
"""

from __future__ import annotations

import json

import pandas as pd
from hypothesis import given, settings

import fairalloc as fa
from fairalloc.service.capabilities import run
from tests.service.conftest import records
from tests.strategies import (
    SOURCING_MAGNITUDE_CASES,
    SOURCING_TOLERANCES,
    grouped_sourcing_cases,
    portions_instances,
    portions_magnitude_instances,
)

METHODS = ("priority", "hamilton", "jefferson", "webster", "adams", "huntington_hill")


def answer(name: str, body: dict) -> dict:
    return json.loads(run(name, json.dumps(body).encode()))


@settings(max_examples=60, deadline=None)
@given(SOURCING_MAGNITUDE_CASES, SOURCING_TOLERANCES)
def test_direct_sourcing_answer_is_the_library_result(case, tol):
    body = {"matches": [{"source": s, "sink": k} for s, k in case.matches],
            "source_capacity": [{"source": s, "capacity": v} for s, v in case.capacity.items()],
            "sink_demand": [{"sink": k, "demand": v} for k, v in case.demand.items()],
            "relative_tolerance": tol}
    got = answer("sourcing", body)
    source, sink = fa.direct_sourcing(case.matches, case.capacity, case.demand,
                                      relative_tolerance=tol)
    assert got["allocation"] == records(pd.concat([source, sink], axis=1))
    assert got["report"]["allocated"] == source.attrs["report"].allocated


@settings(max_examples=30, deadline=None)
@given(grouped_sourcing_cases())
def test_grouped_proportional_sourcing_answer_is_the_library_result(cases):
    def rows(kind):
        out = []
        for (commodity, year), case in cases.items():
            group = {"commodity": commodity, "year": year}
            if kind == "matches":
                out += [{**group, "source": s, "sink": k} for s, k in case.matches]
            elif kind == "capacity":
                out += [{**group, "source": s, "capacity": v} for s, v in case.capacity.items()]
            else:
                out += [{**group, "sink": k, "demand": v} for k, v in case.demand.items()]
        return out

    by = ["commodity", "year"]
    got = answer("sourcing", {"matches": rows("matches"), "source_capacity": rows("capacity"),
                              "sink_demand": rows("demand"), "by": by,
                              "method": "proportional"})
    volume = fa.proportional_sourcing(pd.DataFrame(rows("matches")),
                                      pd.DataFrame(rows("demand")),
                                      pd.DataFrame(rows("capacity")), by=by)
    assert got["allocation"] == records(volume)


@settings(max_examples=80, deadline=None)
@given(portions_magnitude_instances(), portions_instances())
def test_portions_answer_is_the_library_result(big, small):
    for (ratios, total), method in ((big, "priority"), (small, "webster"), (big, "hamilton")):
        got = answer("portions", {"ratios": [{"key": k, "ratio": r} for k, r in ratios.items()],
                                  "total": total, "method": method})
        expected = fa.apportion(ratios, total, method=method)
        assert got["allocation"] == records(expected)
        assert got["report"]["unallocated"] == expected.attrs["unallocated"]
