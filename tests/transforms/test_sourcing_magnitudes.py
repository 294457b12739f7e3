"""Sourcing at any magnitude (issue 11): capacities and demands spread over 1e-6 .. 1e12 in one
instance, with tolerance, redistribution and groups. Conservation is recomputed here with
pandas from the returned Series and the inputs, never with the package's own checker; the
only exceptions allowed out are FairallocError subclasses."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fairalloc.transforms.errors import FairallocError
from fairalloc.transforms.sourcing import direct_sourcing, proportional_sourcing
from tests import reference_sourcing as ref
from tests.strategies import (
    MAGNITUDE,
    SOURCING_MAGNITUDE_CASES,
    SOURCING_MAGNITUDE_TOLERANCES,
    SOURCING_ODD_AMOUNT,
    grouped_sourcing_cases,
)

RTOL = 1e-9


def _sums(series: pd.Series, level: str) -> pd.Series:
    return series.groupby(level=level).sum()


def assert_conserves(src: pd.Series, sink: pd.Series | None, capacity: dict, demand: dict,
                     by: tuple = ()) -> None:
    """No source over capacity, no sink over demand (sink units), nothing negative or NaN."""
    for s in (src, sink):
        if s is not None:
            values = s.to_numpy()
            assert np.isfinite(values).all() and (values >= 0).all()
    if capacity is not None:
        used = _sums(src, [*by, "source"] if by else "source")
        for key, total in used.items():
            assert total <= capacity[key] * (1 + RTOL), (key, total, capacity[key])
    received = _sums(src if sink is None else sink, [*by, "sink"] if by else "sink")
    for key, total in received.items():
        assert total <= demand[key] * (1 + RTOL), (key, total, demand[key])


def approx(got: pd.Series, expected: dict) -> None:
    assert set(got.index) == set(expected)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-300), key


@settings(max_examples=80)
@given(SOURCING_MAGNITUDE_CASES, SOURCING_MAGNITUDE_TOLERANCES, st.booleans())
def test_direct_conserves_at_any_magnitude(case, tol, redistribute):
    src, sink = direct_sourcing(case.matches, case.capacity, case.demand,
                                relative_tolerance=tol, redistribute=redistribute)
    assert_conserves(src, sink, case.capacity, case.demand)
    report = src.attrs["report"]
    assert report.status in ("optimal", "repaired", "iteration_limit")
    if not redistribute:
        exp_src, exp_sink = ref.direct(case.matches, case.capacity, case.demand, tol)
        approx(src, exp_src)
        if tol == 0:
            approx(sink, exp_sink)
    else:  # maximal: no match joins spare capacity to unmet demand (beyond 1e-6 relative)
        used, received = _sums(src, "source"), _sums(sink, "sink")
        for s, k in set(case.matches):
            spare = case.capacity[s] - used[s] > 1e-6 * case.capacity[s]
            unmet = case.demand[k] - received[k] > 1e-6 * case.demand[k]
            assert not (spare and unmet) or report.status == "iteration_limit", (s, k)


@settings(max_examples=60)
@given(SOURCING_MAGNITUDE_CASES, st.sampled_from(["even", "zero"]))
def test_proportional_serves_demand_at_any_magnitude(case, policy):
    got = proportional_sourcing(case.matches, case.demand, case.capacity, policy)
    assert_conserves(got, None, None, case.demand)
    approx(got, ref.proportional(case.matches, case.capacity, case.demand, policy))


@settings(max_examples=30)
@given(grouped_sourcing_cases(amounts=MAGNITUDE), SOURCING_MAGNITUDE_TOLERANCES, st.booleans())
def test_groups_conserve_at_any_magnitude_and_equal_separate_runs(groups, tol, redistribute):
    rows_m, cap, dem = [], {}, {}
    for (c, y), case in groups.items():
        rows_m += [(c, y, s, k) for s, k in case.matches]
        cap |= {(c, y, s): v for s, v in case.capacity.items()}
        dem |= {(c, y, k): v for k, v in case.demand.items()}
    m = pd.DataFrame(rows_m, columns=["commodity", "year", "source", "sink"])
    by = ("commodity", "year")
    src, sink = direct_sourcing(m, cap, dem, tol, redistribute=redistribute, by=list(by))
    assert_conserves(src, sink, cap, dem, by)
    for (c, y), case in groups.items():
        alone, _ = direct_sourcing(case.matches, case.capacity, case.demand, tol,
                                   redistribute=redistribute)
        part = src.xs((c, y), level=list(by))
        assert part.to_numpy().tobytes() == alone.to_numpy().tobytes()


@settings(max_examples=40)
@given(SOURCING_MAGNITUDE_CASES, SOURCING_MAGNITUDE_TOLERANCES)
def test_an_unrelated_huge_source_changes_nothing(case, tol):
    # the example, generalised: adding a source no match names, of capacity 1e300
    base = direct_sourcing(case.matches, case.capacity, case.demand, tol)
    more = direct_sourcing(case.matches, case.capacity | {"huge": 1e300}
                           if isinstance(next(iter(case.capacity)), str)
                           else case.capacity | {10**6: 1e300}, case.demand, tol)
    for a, b in zip(base, more, strict=True):
        assert a.to_numpy().tobytes() == b.to_numpy().tobytes()


#: Anything a caller might pass as an amount: valid, out of range, or of the wrong type.
@settings(max_examples=80)
@given(SOURCING_MAGNITUDE_CASES, st.data())
def test_only_fairalloc_errors_escape(case, data):
    cap = {k: data.draw(SOURCING_ODD_AMOUNT) for k in case.capacity}
    dem = {k: data.draw(SOURCING_ODD_AMOUNT) for k in case.demand}
    tol = data.draw(st.one_of(SOURCING_MAGNITUDE_TOLERANCES,
                              st.sampled_from([True, -0.1, 1.0, "0.1", np.nan])))
    flag = data.draw(st.sampled_from([True, False, np.True_, "no", 1, None]))
    for call in (lambda: direct_sourcing(case.matches, cap, dem, tol, redistribute=flag),
                 lambda: direct_sourcing(case.matches, cap, dem, tol, run_qa=flag),
                 lambda: proportional_sourcing(case.matches, dem, cap)):
        try:
            out = call()
        except FairallocError:
            continue
        first = out[0] if isinstance(out, tuple) else out
        values = first.to_numpy()
        assert np.isfinite(values).all() and (values >= 0).all()
