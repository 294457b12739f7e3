"""The max flow by paths among the right nodes (``solvers/transport.py``) against OR-Tools'
general max flow on the same network, built here arc by arc."""

from __future__ import annotations

import os
import subprocess
import sys

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given, settings
from ortools.graph.python import max_flow as ortools_max_flow

from fairalloc.solvers import periods as kernels
from fairalloc.solvers import transport


def reference_value(caps, supply, demand, linked) -> int:
    """OR-Tools on the network: 0 source, 1 sink, 2 + c left node c, 2 + C + p right node p;
    a left node that is not linked gets its arcs from the source."""
    n_left, n_right = caps.shape
    flow = ortools_max_flow.SimpleMaxFlow()
    for c in range(n_left):
        if linked[c]:
            flow.add_arc_with_capacity(0, 2 + c, int(supply[c]))
        for p in range(n_right):
            if caps[c, p] > 0:
                flow.add_arc_with_capacity(2 + c if linked[c] else 0, 2 + n_left + p,
                                           int(caps[c, p]))
    for p in range(n_right):
        flow.add_arc_with_capacity(2 + n_left + p, 1, int(demand[p]))
    assert flow.solve(0, 1) == flow.OPTIMAL
    return flow.optimal_flow()


def assert_feasible(flow, caps, supply, demand, linked) -> None:
    sent = flow.T  # (C, P)
    assert sent.dtype == np.int64
    assert (sent >= 0).all()
    assert (sent <= caps).all()  # and 0 where there is no arc
    assert (sent.sum(axis=0) <= demand).all()
    assert (sent.sum(axis=1)[linked] <= supply[linked]).all()


@st.composite
def networks(draw, max_left: int = 40, max_right: int = 7):
    """(caps C × P whole floats, supply C, demand P, linked C) with some arcs missing, some
    left nodes without a limit, and magnitudes up to 2**52."""
    n_left = draw(st.integers(1, max_left))
    n_right = draw(st.integers(2, max_right))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    top = 2 ** draw(st.sampled_from([3, 10, 30, 46]))
    caps = rng.integers(1, top, (n_left, n_right)).astype(float)
    caps[rng.random(caps.shape) < draw(st.floats(0.0, 0.9))] = 0.0
    supply = rng.integers(0, top * n_right // 2 + 1, n_left)
    demand = rng.integers(0, top * max(n_left // 3, 1) + 1, n_right)
    linked = rng.random(n_left) < draw(st.floats(0.3, 1.0))
    return caps, supply, demand, linked


@settings(max_examples=200, deadline=None)
@given(networks())
def test_max_flow_equals_ortools_and_keeps_every_limit(net):
    caps, supply, demand, linked = net
    flow = transport.max_flow(caps, supply, demand, linked, work_per_arc=1e9)
    assert flow is not None
    assert_feasible(flow, caps, supply, demand, linked)
    assert int(flow.sum()) == reference_value(caps, supply, demand, linked)


#: A process that solves one large network and prints a digest of its flow (its BLAS allowed
#: the number of threads the environment says).
_SOLVE = """
import hashlib
import numpy as np
from fairalloc.solvers import transport
rng = np.random.default_rng(7)
caps = np.floor(rng.lognormal(3, 2, (60_000, 9)) * (rng.random((60_000, 9)) < 0.6) * 2.0**30)
supply = rng.integers(0, 400 << 30, 60_000)
demand = (caps.sum(axis=0) * rng.uniform(0.1, 0.5, 9)).astype(np.int64)
linked = rng.random(60_000) < 0.9
start = transport._Network.start(caps, supply, demand, linked).flow
flow = transport.max_flow(caps, supply, demand, linked)
print(hashlib.sha256(start.tobytes() + flow.tobytes()).hexdigest())
"""


def test_the_flow_does_not_depend_on_the_number_of_blas_threads():
    # the fit's products run in blocks BLAS keeps on one thread, so the starting flow, and
    # with it the paths and the answer, are the same bits however many threads BLAS may use
    # (amounts of 2^30 and more: a difference in the fit's last bits shows in the floors)
    def digest(threads: str) -> str:
        env = {**os.environ, "OPENBLAS_NUM_THREADS": threads, "OMP_NUM_THREADS": threads}
        out = subprocess.run([sys.executable, "-c", _SOLVE], env=env, check=True,
                             capture_output=True, text=True, timeout=300)
        return out.stdout.strip()

    assert digest("1") == digest("2")


def from_flow(caps, supply, demand, linked, sent):
    """The network started from the flow ``sent`` (C × P) instead of the fit."""
    flow = np.ascontiguousarray(np.asarray(sent, np.int64).T)
    res = np.ascontiguousarray(caps.T.astype(np.int64)) - flow
    return transport._Network.with_flow(flow, res, supply, demand, linked)


def test_paths_move_flow_between_right_nodes():
    # left node 0 starts on right node 1; the maximum needs it on right node 0 so that left
    # node 1, which only reaches right node 1, fits: source → 1 → (0 moves to 0) → 0 → sink
    caps = np.array([[8.0, 8.0], [0.0, 8.0]])
    net = from_flow(caps, np.array([8, 8]), np.array([8, 8]), np.array([True, True]),
                    [[0, 8], [0, 0]])
    assert net.path() == [1, 0]  # (the one-node paths found nothing to do)
    flow = transport._augment(net, np.inf)
    assert flow.T.tolist() == [[8, 0], [0, 8]]


@settings(max_examples=200, deadline=None)
@given(networks(), st.integers(0, 2**32 - 1))
def test_paths_reach_the_maximum_from_any_feasible_flow(net, seed):
    # the fit often leaves little to do on small networks: here the paths start from a
    # random feasible flow (each arc a random share of its capacity, then every row and
    # column scaled down into its limit)
    caps, supply, demand, linked = net
    rng = np.random.default_rng(seed)
    sent = np.floor(caps * rng.random(caps.shape))
    rows = np.where(linked, supply, np.inf)
    sent = np.floor(sent * np.minimum(1, rows / np.maximum(sent.sum(axis=1), 1))[:, None])
    sent = np.floor(sent * np.minimum(1, demand / np.maximum(sent.sum(axis=0), 1))[None, :])
    flow = transport._augment(from_flow(caps, supply, demand, linked, sent), np.inf)
    assert_feasible(flow, caps, supply, demand, linked)
    assert int(flow.sum()) == reference_value(caps, supply, demand, linked)


#: Left node 1 only reaches right node 0. The one-node paths give right node 0 left node 0
#: (the first), so left node 1 needs a path that moves left node 0 over to right node 1.
NEEDS_A_MOVE = (np.array([[1.0, 1.0], [1.0, 0.0]]), np.array([1, 1]), np.array([1, 1]),
                np.array([True, True]))


def test_a_start_over_a_limit_is_dropped_and_the_paths_make_up_for_it():
    # the guard behind the fit's margin: left node 0 starts at 8, over its supply of 4, and
    # right node 1 at 4 + 4 = 8, over its demand of 4; both flows are dropped, not trimmed
    caps = np.array([[4.0, 4.0], [0.0, 4.0]])
    args = (caps, np.array([4, 4]), np.array([4, 4]), np.array([True, True]))
    net = from_flow(*args, [[4, 4], [0, 4]])
    assert (net.spare_in >= 0).all() and (net.spare_out >= 0).all()
    flow = transport._augment(net, np.inf)
    assert_feasible(flow, *args)
    assert int(flow.sum()) == 8


def test_max_flow_gives_up_beyond_its_budget():
    assert transport.max_flow(*NEEDS_A_MOVE, work_per_arc=0) is None
    assert transport.max_flow(*NEEDS_A_MOVE).T.tolist() == [[0, 1], [1, 0]]


def test_the_final_counts_are_taken_afresh(monkeypatch):
    # the certificate: a path search that ends on updated counts is repeated on counts taken
    # from the flow itself; counts that wrongly say "no path" are caught there. Two copies of
    # NEEDS_A_MOVE side by side need two paths
    caps = np.zeros((4, 4))
    caps[:2, :2] = caps[2:, 2:] = NEEDS_A_MOVE[0]
    args = (caps, np.ones(4, np.int64), np.ones(4, np.int64), np.ones(4, bool))
    net = from_flow(*args, np.zeros((4, 4)))
    pushes = []
    real_push = transport._Network.push

    def push_and_lose_the_counts(self, path):
        sent = real_push(self, path)
        pushes.append(path)
        self.entries[:] = 0  # as if the updates had gone wrong
        self.moves[:] = 0
        return sent

    monkeypatch.setattr(transport._Network, "push", push_and_lose_the_counts)
    flow = transport._augment(net, np.inf)
    assert int(flow.sum()) == 4 and len(pushes) == 2


def _linked_round(seed: int, n: int, p: int):
    rng = np.random.default_rng(seed)
    upper = rng.integers(0, 20, (n, p)).astype(float)
    sizes = rng.integers(1, 4, n).astype(float)
    wp = rng.uniform(0.5, 3.0, p)
    remaining = upper.sum(axis=0) * rng.uniform(0.1, 0.5, p)
    ent = np.where(rng.random(n) < 0.9, rng.uniform(1, 30, n), np.inf)
    return upper, sizes, wp, remaining, ent


@pytest.mark.parametrize("seed", range(4))
def test_step2_falls_back_to_ortools_when_the_paths_give_up(monkeypatch, seed):
    # the same round through the paths and, with no budget, through OR-Tools: both at the
    # LP's optimum, and the fallback really ran
    round_ = _linked_round(seed, 300, 6)
    real = transport.max_flow
    answers = []

    def spy(*args, **kw):
        answers.append(real(*args, **kw))
        return answers[-1]

    monkeypatch.setattr(transport, "max_flow", spy)
    by_paths = kernels._step2_max_flow(*(x.copy() for x in round_))
    assert len(answers) == 1 and answers[0] is not None  # the paths answered
    calls = []

    def gives_up(*args, **kw):
        calls.append(args)
        return None

    monkeypatch.setattr(transport, "max_flow", gives_up)
    by_ortools = kernels._step2_max_flow(*(x.copy() for x in round_))
    assert len(calls) == 1
    lp = kernels.STEP2_SOLVERS.get("lp")(*(x.copy() for x in round_))
    upper, sizes, wp = round_[0], round_[1], round_[2]

    def value(b):
        return float(((b * sizes[:, None]).sum(axis=0)) @ wp)

    assert value(by_paths) == pytest.approx(value(lp), rel=1e-9)
    assert value(by_ortools) == pytest.approx(value(lp), rel=1e-9)
    for b in (by_paths, by_ortools):
        _, repaired = kernels.verify_round(b, round_[3], upper, wp, round_[4], sizes)
        assert not repaired


@pytest.mark.parametrize("seed", range(6))
def test_components_apart_and_classes_without_a_row_across_them(monkeypatch, seed):
    # two groups of periods linked only within themselves by classes with entitlement rows,
    # weighted 10^±12 apart (each its own power-of-two scale), and classes without a row that
    # ask in both groups (their arcs come from the source, at each group's scale): the paths
    # answer, at the LP's optimum and within every limit
    rng = np.random.default_rng(seed)
    n, half = 120, 3
    upper = np.zeros((n, 2 * half))
    upper[:40, :half] = rng.integers(0, 20, (40, half))
    upper[40:80, half:] = rng.integers(0, 20, (40, half))
    upper[80:] = rng.integers(0, 20, (40, 2 * half))
    wp = np.concatenate([rng.uniform(0.5, 2, half), rng.uniform(0.5, 2, half) * 1e12])
    # entitlement rows in weighted units: the second group's are 10^12 times larger
    ent = np.concatenate([rng.uniform(1, 30, 40), rng.uniform(1, 30, 40) * 1e12,
                          np.full(40, np.inf)])
    sizes = rng.integers(1, 4, n).astype(float)
    remaining = upper.sum(axis=0) * rng.uniform(0.1, 0.6, 2 * half)
    round_ = (upper, sizes, wp, remaining, ent)
    answers = []
    real = transport.max_flow

    def spy(*args, **kw):
        answers.append(real(*args, **kw))
        return answers[-1]

    monkeypatch.setattr(transport, "max_flow", spy)
    b = kernels._step2_max_flow(*(x.copy() for x in round_))
    assert len(answers) == 1 and answers[0] is not None
    monkeypatch.setattr(transport, "max_flow", lambda *a, **k: None)
    fallback = kernels._step2_max_flow(*(x.copy() for x in round_))

    def value(x):
        return float(((x * sizes[:, None]).sum(axis=0)) @ wp)

    assert value(b) == pytest.approx(value(fallback), rel=1e-12)
    _, repaired = kernels.verify_round(b, remaining, upper, wp, ent, sizes)
    assert not repaired
    assert (b >= 0).all() and (b <= upper).all()
