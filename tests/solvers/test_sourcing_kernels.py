"""Sourcing kernels on integer codes, and the strategy registry."""

from __future__ import annotations

import numpy as np
import pytest

from solvers import sourcing as k
from solvers.registry import Registry


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
