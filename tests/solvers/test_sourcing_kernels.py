"""Sourcing kernels on integer codes, and the strategy registry."""

from __future__ import annotations

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given

from fairalloc.solvers import sourcing as k
from fairalloc.solvers.registry import Registry
from fairalloc.solvers.verify import SolverFailure


def test_proportional_split_flags_zero_capacity_sinks():
    src, sink = np.array([0, 1, 2]), np.array([0, 0, 1])
    flows, zero = k.proportional_split(src, sink, np.array([0.0, 0.0, 5.0]),
                                       np.array([10.0, 4.0, 7.0]), "even")
    assert flows.tolist() == [5.0, 5.0, 4.0]
    assert zero.tolist() == [True, False, False]  # sink 2 has no match: not flagged


def test_unknown_policy_lists_the_known_ones():
    with pytest.raises(KeyError, match="'even', 'zero', 'raise'"):
        k.proportional_split(np.array([0]), np.array([0]), np.ones(1), np.ones(1), "spread")


def test_scale_leaves_sources_within_capacity_alone():
    scaled, requested = k.scale_to_capacity(np.array([0, 1]), np.array([5.0, 50.0]),
                                            np.array([10.0, 25.0]))
    assert scaled.tolist() == [5.0, 25.0] and requested.tolist() == [5.0, 50.0]


def test_direct_allocation_reports_first_pass_demand_and_zero_sinks():
    res = k.direct_allocation(np.array([0, 0]), np.array([0, 1]), np.array([30.0]),
                              np.array([20.0, 40.0]))
    assert res.requested.tolist() == [60.0]
    assert res.source_flow.tolist() == [10.0, 20.0]
    assert res.rounds == 1 and res.converged and not res.zero_sinks.any()


def test_redistribute_round_limit_is_reported():
    # sink 0 only has source 0 (10), which sink 1 shares with source 1 (100): round 1 asks
    # 10 + 10/11 of source 0 and scales it down; round 2 moves sink 1's shortfall to source 1.
    src, sink = np.array([0, 0, 1]), np.array([0, 1, 1])
    res = k.direct_allocation(src, sink, np.array([10.0, 100.0]), np.array([10.0, 10.0]),
                              redistribute=True, max_rounds=1)
    assert res.rounds == 1 and not res.converged
    full = k.direct_allocation(src, sink, np.array([10.0, 100.0]), np.array([10.0, 10.0]),
                               redistribute=True)
    assert full.converged and full.rounds == 2
    assert np.bincount(sink, full.sink_flow).tolist() == pytest.approx([10 / (1 + 1 / 11), 10.0])
    assert np.bincount(src, full.source_flow)[0] == pytest.approx(10.0)


def test_registry_rejects_double_registration():
    r = Registry("thing")
    r.register("a")(len)
    with pytest.raises(KeyError, match="already"):
        r.register("a")(len)
    assert "a" in r and "b" not in r


def test_round_limit_is_the_iteration_limit_status():
    src, sink = np.array([0, 0, 1]), np.array([0, 1, 1])
    res = k.direct_allocation(src, sink, np.array([10.0, 100.0]), np.array([10.0, 10.0]),
                              redistribute=True, max_rounds=1)
    assert res.status == "iteration_limit"
    full = k.direct_allocation(src, sink, np.array([10.0, 100.0]), np.array([10.0, 10.0]),
                               redistribute=True)
    assert full.status == "optimal"


def test_verify_flows_repairs_sources_then_sinks_exactly():
    src, sink = np.array([0, 0, 1]), np.array([0, 1, 1])
    capacity, demand = np.array([0.3, 10.0]), np.array([5.0, 0.7])
    source_flow = np.array([0.2, 0.2, 0.6])
    sink_flow = source_flow * 1.25
    sf, kf, n = k.verify_flows(src, sink, source_flow, sink_flow, capacity, demand)
    assert n == 2  # source 0 (0.4 > 0.3), then sink 1
    assert np.bincount(src, sf)[0] <= 0.3 and np.bincount(sink, kf)[1] <= 0.7
    assert np.bincount(sink, kf)[1] == pytest.approx(0.7, rel=1e-15)
    np.testing.assert_allclose(kf / sf, 1.25)  # one factor per match for both units
    assert source_flow.tolist() == [0.2, 0.2, 0.6]  # inputs untouched


def test_verify_flows_within_float_noise_changes_nothing():
    src, sink = np.array([0]), np.array([0])
    flows = np.array([1.0 + 1e-12])
    sf, _, n = k.verify_flows(src, sink, flows, flows, np.array([1.0]), np.array([2.0]))
    assert n == 0 and sf is flows


@pytest.mark.parametrize("bad", [-1e-300, np.nan, np.inf])
def test_verify_flows_refuses_negative_and_non_finite_flows(bad):
    src, sink = np.array([0, 1]), np.array([0, 0])
    flows = np.array([1.0, bad])
    with pytest.raises(SolverFailure) as info:
        k.verify_flows(src, sink, flows, flows, np.array([5.0, 5.0]), np.array([5.0]))
    assert info.value.what == "source" and info.value.codes == [1]


def test_verify_flows_without_repair_names_the_sink():
    src, sink = np.array([0, 1]), np.array([0, 1])
    with pytest.raises(SolverFailure) as info:
        k.verify_flows(src, sink, np.array([1.0, 3.0]), None, None, np.array([5.0, 2.0]),
                       repair=False)
    assert info.value.what == "sink" and info.value.codes == [1]


def test_shrink_scales_a_sum_beyond_float_range_onto_the_limit():
    src, sink = np.array([0, 0]), np.array([0, 1])
    flows = np.array([1.5e308, 1.5e308])
    sf, _, n = k.verify_flows(src, sink, flows, None, np.array([1e308]), np.full(2, 1.7e308))
    assert n == 1 and sf.tolist() == [5e307, 5e307]


def test_scale_to_capacity_keeps_tiny_flows_beside_huge_ones():
    # requested 1e308 + 1e308 overflows: the exponent path must keep the 1e-300 flow's digits
    scaled, requested = k.scale_to_capacity(np.array([0, 0, 0]),
                                            np.array([1e308, 1e308, 1e-300]), np.array([1e308]))
    assert requested[0] == np.inf
    assert scaled.tolist() == pytest.approx([5e307, 5e307, 5e-301], rel=1e-12, abs=0)
    assert scaled.sum() <= 1e308


_ODD_FLOWS = st.lists(st.sampled_from([0.0, -0.0, 1.5, 1e308, 5e-324, -5e-324, -1.0, np.nan,
                                       np.inf, -np.inf]), max_size=40)


@given(_ODD_FLOWS, _ODD_FLOWS)
def test_bad_flows_are_the_negative_and_non_finite_ones(a, b):
    # the quick reductions and the search by blocks agree with the rule element by element
    n = min(len(a), len(b))
    flows = [np.array(a[:n]), np.array(b[:n])]
    bad = ~np.logical_and.reduce([np.isfinite(f) & (f >= 0) for f in flows]) if n else []
    assert k._bad_flows(flows).tolist() == np.flatnonzero(bad).tolist()
