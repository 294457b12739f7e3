"""Kernels of the coverage solver checked against plain Python."""

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

import fairalloc.solvers.coverage as kernels
from fairalloc.solvers.coverage import (
    Loss,
    _components,
    _max_flow_grouped,
    _prefix_min_by_segment,
    _water_fill,
    solve_coverage,
    verify,
)
from fairalloc.solvers.verify import SolverFailure
from tests.strategies import BIPARTITE_GRAPHS, SEGMENTED_VALUES


@given(SEGMENTED_VALUES)
def test_prefix_min_restarts_at_every_segment(rows):
    rows.sort(key=lambda r: r[0])  # segments sorted, values in any order within
    seg = np.array([r[0] for r in rows], np.int64)
    v = np.array([r[1] for r in rows], float)
    expected, current, last = [], np.inf, None
    for s, x in rows:
        current = x if s != last else min(current, x)
        last = s
        expected.append(current)
    assert _prefix_min_by_segment(v, seg).tolist() == expected


# --- verify: every answer is checked before it is returned ------------------------------------

def test_verify_scales_an_over_supplied_resource_exactly_onto_its_supply():
    # resource 0 (supply 0.5) carries 0.3 + 0.3; resource 1 (supply 10) is fine
    x, status = verify(np.array([0.3, 0.3, 2.0]), np.array([0, 1, 1]), np.array([0, 0, 1]),
                       np.array([1.0, 5.0]), np.array([0.5, 10.0]))
    assert status == "repaired"
    assert x[0] + x[1] <= 0.5 and x[0] + x[1] == pytest.approx(0.5, rel=1e-15)
    assert x[2] == 2.0


def test_verify_scales_a_group_above_coverage_one_back():
    # group 0 has room 1 (population 2, prior 0.5) and receives 0.8 + 0.8
    x, status = verify(np.array([0.8, 0.8]), np.array([0, 0]), np.array([0, 1]),
                       np.array([1.0]), np.array([5.0, 5.0]))
    assert status == "repaired" and x.sum() <= 1.0


def test_verify_passes_float_noise_as_optimal():
    x, status = verify(np.array([0.5 * (1 + 1e-12)]), np.array([0]), np.array([0]),
                       np.array([1.0]), np.array([0.5]))
    assert status == "optimal" and x[0] == 0.5 * (1 + 1e-12)


@pytest.mark.parametrize("bad", [np.nan, -1e-300, np.inf])
def test_verify_refuses_amounts_it_cannot_repair_naming_the_group(bad):
    with pytest.raises(SolverFailure) as info:
        verify(np.array([0.1, bad]), np.array([0, 1]), np.array([0, 0]), np.array([1.0, 1.0]),
               np.array([5.0]))
    assert info.value.what == "group" and info.value.codes == [1]
    assert info.value.status == "error"


@pytest.mark.parametrize("loss", [Loss("quadratic"), Loss("power", 400.0), Loss("power", 1e6),
                                  Loss("power", 1.0001), Loss("log", 1e-70), Loss("log", 1e-300),
                                  Loss("exp")])
@pytest.mark.parametrize("population", [1e-6, 100.0, 1e13])
def test_one_group_takes_the_whole_supply(loss, population):
    sol = solve_coverage(np.array([population]), np.zeros(1), np.ones(1),
                         np.array([population / 2]), np.array([0]), np.array([0]), loss)
    assert sol.status == "optimal"
    assert sol.x[0] <= population / 2 and sol.x[0] == pytest.approx(population / 2, rel=1e-12)


@given(BIPARTITE_GRAPHS)
def test_components_by_labels_match_scipys(graph_spec):
    """The label passes give scipy's components, numbered alike (chains of resources longer
    than the passes allow go to scipy itself)."""
    n_g, n_k, pairs, chain = graph_spec
    if chain:  # group i joins resources i and i + 1: a path through every resource
        pairs = [(i, i) for i in range(min(n_g, n_k))] + [
            (i, i + 1) for i in range(min(n_g, n_k - 1))]
    pairs = sorted({(g, k) for g, k in pairs if g < n_g and k < n_k})
    arc_g = np.array([g for g, _ in pairs], np.int64)
    arc_k = np.array([k for _, k in pairs], np.int64)
    got = _components(arc_g, arc_k, n_g, n_k)
    graph = coo_matrix((np.ones(len(pairs)), (arc_g, n_g + arc_k)), shape=(n_g + n_k,) * 2)
    count, label = connected_components(graph, directed=False)
    assert got[2] == count
    assert got[0].tolist() == label[:n_g].tolist() and got[1].tolist() == label[n_g:].tolist()


@pytest.mark.parametrize("seed", [0, 1])
def test_a_long_chain_in_random_order_goes_to_scipy_with_the_same_components(seed, monkeypatch):
    """A path through 1 000 resources numbered at random needs more label passes than
    :func:`_components` makes: scipy decides, and the numbering is still scipy's."""
    import fairalloc.solvers.coverage as kernel

    rng = np.random.default_rng(seed)
    n = 1_000
    perm = rng.permutation(n)  # resource perm[i] sits at position i of the path
    arc_g = np.concatenate([np.arange(n), np.arange(n - 1)])
    arc_k = np.concatenate([perm, perm[1:]])
    order = np.lexsort((arc_k, arc_g))
    arc_g, arc_k = arc_g[order], arc_k[order]
    fallbacks = []
    scipy_components = kernel._scipy_components
    monkeypatch.setattr(kernel, "_scipy_components",
                        lambda *a: fallbacks.append(1) or scipy_components(*a))
    got = _components(arc_g, arc_k, n, n)
    assert fallbacks == [1]
    graph = coo_matrix((np.ones(len(arc_g)), (arc_g, n + arc_k)), shape=(2 * n,) * 2)
    count, label = connected_components(graph, directed=False)
    assert count == got[2] == 1
    assert got[0].tolist() == label[:n].tolist() and got[1].tolist() == label[n:].tolist()


@given(st.integers(1, 30), st.integers(0, 2**32 - 1), st.sampled_from(
    [Loss("quadratic"), Loss("power", 1.5), Loss("power", 40.0), Loss("log", 0.1),
     Loss("log", 1e-6), Loss("exp")]), st.sampled_from([1e-9, 0.3, 1.0, 0.999999, 5.0]))
def test_the_price_search_of_one_component_is_the_general_search(n_g, seed, loss, share):
    # one component searched on numpy scalars gives the bits of the per-component arrays'
    # search (here: the same component beside an empty one, which is never searched)
    rng = np.random.default_rng(seed)
    n = np.round(rng.lognormal(3, 2, n_g)) * 10.0 ** rng.integers(-6, 12) + 1e-6
    f = rng.choice([0.0, 0.3, 0.9, 0.999], n_g)
    log_w = np.log(rng.choice([1.0, 2.0, 1e-3, 1e4], n_g))
    cap = n * (1.0 - f)
    supply = share * cap.sum()
    comp = np.zeros(n_g, np.int64)
    one = _water_fill(comp, n, f, log_w, cap, np.array([supply]), loss, 1)
    two = _water_fill(comp, n, f, log_w, cap, np.array([supply, 1.0]), loss, 2)
    assert np.array_equal(one[0], two[0]) and np.array_equal(np.signbit(one[0]),
                                                             np.signbit(two[0]))
    assert np.array_equal(one[1], two[1][:1]) and one[2].tolist() == two[2][:1].tolist()


@given(st.integers(0, 10**6))
def test_merged_max_flow_flows_follow_their_arcs_in_any_order(seed):
    """_max_flow_grouped maps the merged node's flows back to each arc wherever it stands:
    arcs in any order get the flows they get sorted (by group, then resource); every group
    keeps to its ask, every resource to its capacity, and groups of one node (the same
    resources) take them in proportion to their asks."""
    rng = np.random.default_rng(seed)
    n_g, n_k = int(rng.integers(2, 12)), int(rng.integers(1, 6))
    sets = [np.sort(rng.choice(n_k, int(rng.integers(1, n_k + 1)), replace=False))
            for _ in range(3)]
    pick = rng.integers(0, 3, n_g)
    ag = np.concatenate([np.full(len(sets[p]), g) for g, p in enumerate(pick)])
    ak = np.concatenate([sets[p] for p in pick])
    ask = rng.integers(1, 50, n_g)
    give = rng.integers(0, 60, n_k)
    flows, short, unused, _ = _max_flow_grouped(ag, ak, ask, give)
    order = rng.permutation(len(ag))
    moved, *_ = _max_flow_grouped(ag[order], ak[order], ask, give)
    np.testing.assert_allclose(moved, flows[order], rtol=1e-12)
    per_g = np.bincount(ag, weights=flows, minlength=n_g)
    per_k = np.bincount(ak, weights=flows, minlength=n_k)
    assert (per_g <= ask * (1 + 1e-12)).all() and (per_k <= give * (1 + 1e-12) + 1e-9).all()
    assert per_k.sum() == pytest.approx(give.sum() - unused.sum())
    for p in range(3):  # one node per resource set: flows per unit of ask alike
        members = np.flatnonzero(pick == p)
        if len(members) > 1:
            unit = np.array([flows[ag == g] / ask[g] for g in members])
            np.testing.assert_allclose(unit, np.broadcast_to(unit[0], unit.shape), rtol=1e-12)


def test_a_merged_node_asking_nothing_gets_no_flow():
    flows, short, unused, _ = _max_flow_grouped(np.array([0, 1]), np.array([0, 1]),
                                                np.array([0, 5]), np.array([4, 4]))
    assert np.isfinite(flows).all() and flows.tolist() == [0.0, 4.0]
    assert short.tolist() == [0, 1] and unused.tolist() == [4, 0]


@given(st.integers(1, 40), st.integers(0, 2**32 - 1),
       st.sampled_from([Loss("quadratic"), Loss("power", 1.5), Loss("power", 40.0)]))
def test_a_newton_step_of_a_power_loss_never_passes_the_price_and_lands_on_it(n_g, seed, loss):
    # the total is convex and piecewise linear in e^t: from below the price (total over the
    # supply) a step stays below it, and lands on it when the groups taking something are
    # the same at both ends (a step in t would stop short by a second-order term)
    rng = np.random.default_rng(seed)
    n = rng.lognormal(3, 2, n_g)
    f = rng.choice([0.0, 0.3, 0.9], n_g)
    log_w = np.log(rng.choice([1.0, 2.0, 1e-3, 1e4], n_g))
    cap = n * (1.0 - f)
    a = loss.offsets(log_w - log_w.max())
    t_root = float(rng.uniform(-3.0, 3.0)) + np.median(a)
    total = loss.totals(np.full(n_g, t_root), a, n, f, cap)[0]
    supply = total.sum()
    if supply <= 0:
        return
    t0 = t_root - float(rng.exponential(1.0))
    s0, ds0 = loss.totals(np.full(n_g, t0), a, n, f, cap)
    t1 = loss.newton(t0, s0.sum() - supply, ds0.sum())
    got = loss.totals(np.full(n_g, t1), a, n, f, cap)[0].sum()
    assert got >= supply * (1 - 1e-12)
    if ((s0 > 0) == (total > 0)).all():
        assert got == pytest.approx(supply, rel=1e-9)


def test_arcs_in_any_order_give_the_same_allocation_on_a_merged_network():
    # a network above GROUPED_ARCS, its arcs shuffled: each arc keeps its amount (the solver
    # checks the order once and sorts where it must)
    rng = np.random.default_rng(5)
    n_g, n_k = 12_000, 12
    deg = rng.integers(1, 4, n_g)
    ag = np.repeat(np.arange(n_g), deg)
    ak = np.concatenate([np.sort(rng.choice(n_k, d, replace=False)) for d in deg])
    assert len(ag) >= kernels.GROUPED_ARCS
    n = rng.lognormal(4, 1, n_g)
    f = rng.uniform(0, 0.5, n_g)
    w = rng.choice([1.0, 2.0, 5.0], n_g)
    b = rng.lognormal(0, 1, n_k)
    b *= 0.4 * (n * (1 - f)).sum() / b.sum()
    loss = Loss("quadratic")
    ordered = solve_coverage(n, f, w, b, ag, ak, loss)
    perm = rng.permutation(len(ag))
    moved = solve_coverage(n, f, w, b, ag[perm], ak[perm], loss)
    assert ordered.rounds > 1 and moved.status == ordered.status == "optimal"
    np.testing.assert_allclose(moved.x, ordered.x[perm], rtol=1e-9, atol=1e-9 * b.max())


def test_the_arc_order_check_does_not_wrap_in_narrow_or_unsigned_codes():
    # group × resources as one number overflowed int32 codes (and unsigned steps down wrapped
    # to large steps up): arcs out of order passed as sorted, and the merged max flow
    # skipped its sort
    check = kernels._by_group_then_resource
    assert not check(np.array([40_000, 0], np.int32), np.array([0, 5], np.int32))
    assert not check(np.array([1, 0], np.uint32), np.array([0, 0], np.uint32))
    assert not check(np.array([0, 0], np.int64), np.array([3, 3], np.int64))  # a repeat
    assert check(np.array([0, 0, 40_000], np.int32), np.array([2, 7, 0], np.int32))
    assert check(np.zeros(0, np.int32), np.zeros(0, np.int32))
