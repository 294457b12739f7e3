"""Every transform's report carries an honest status from one vocabulary, and a message."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import fairalloc as fa
from fairalloc.transforms._report import Report


def _reports():
    src, _ = fa.direct_sourcing([("A", "X")], {"A": 1.0}, {"X": 2.0})
    requests = pd.DataFrame({"account": ["a", "b"], "period": [1, 1], "request": [50.0, 50.0]})
    periods = fa.allocate_periods(requests, {"a": 1.0, "b": 1.0}, {1: 60.0})
    prefs = pd.DataFrame({"user": ["u1"], "item": ["i1"], "rank": [1]})
    assigned = fa.assign_preferences(prefs, {"i1": 1})
    groups = pd.DataFrame({"group": ["g"], "population": [10.0], "prior": [0.0],
                           "weight": [1.0]})
    eligible = pd.DataFrame({"group": ["g"], "resource": ["r"]})
    coverage = fa.allocate_coverage(groups, eligible, {"r": 5.0})
    return {"sourcing": src.attrs["report"], "periods": periods.report,
            "assignment": assigned.report, "coverage": coverage.report}


def test_unknown_status_is_refused():
    with pytest.raises(ValueError):
        Report(status="ok", wall_time_s=0.0)


def test_message_defaults_to_the_status_meaning_and_can_be_given():
    assert Report(status="optimal", wall_time_s=0.0).message == fa.Status.OPTIMAL.describe
    assert Report(status="optimal", wall_time_s=0.0, message="why").message == "why"


@pytest.mark.parametrize("name", ["sourcing", "periods", "assignment", "coverage"])
def test_every_capability_reports_a_status_and_message(name):
    report = _reports()[name]
    assert isinstance(report.status, fa.Status) and report.status == "optimal"
    assert report.message == fa.Status.OPTIMAL.describe
    plain = report.to_dict()
    assert type(plain["status"]) is str and json.loads(json.dumps(plain))["status"] == "optimal"


@pytest.mark.parametrize("status", list(fa.Status))
def test_every_status_has_a_meaning(status):
    assert Report(status=status, wall_time_s=0.0).message == status.describe != ""
