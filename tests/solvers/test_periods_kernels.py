"""The period kernels on their own: scaling per period and per class, verification and repair
of every answer, and the step-2 strategies at any magnitude (issue 11)."""

from __future__ import annotations

import hypothesis.strategies as st
import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings

from fairalloc.solvers import periods as kernels
from fairalloc.solvers.verify import SolverFailure
from fairalloc.transforms.periods import allocate_periods
from tests.strategies import step2_rounds

STRATEGIES = ("max_flow", "lp")


def conserves(sol, requests, capacity) -> bool:
    """Independent check: per period Σ ≤ X (1 + 1e-9), a ≤ r (1 + 1e-9), a ≥ 0."""
    alloc = sol.step1 + sol.step2
    return bool((alloc >= 0).all() and (alloc <= requests * (1 + 1e-9)).all()
                and (alloc.sum(axis=0) <= capacity * (1 + 1e-9)).all())


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_issue_example_keeps_the_small_period_within_its_capacity(strategy):
    # issue 11: period 1 (capacity 0.5) received 4.7, reported optimal
    requests = np.array([[1e10, 1e10], [1e9, 1.0]])
    capacity = np.array([0.5, 1000.0])
    weights = kernels.default_weights(requests)
    sol = kernels.solve_periods(requests, np.array([1.0, 100.0]), capacity, weights,
                                step2_strategy=strategy)
    used = (sol.step1 + sol.step2).sum(axis=0)
    assert used[0] <= 0.5 * (1 + 1e-9)
    assert used[1] <= 1000 * (1 + 1e-9)
    assert conserves(sol, requests, capacity)
    assert sol.status in ("optimal", "repaired")


@pytest.mark.parametrize("big", [1e6, 1e15, 1e20, 1e50])
def test_step1_alone_holds_capacity_at_large_requests(big):
    # the issue saw 0.5000005 of 0.5 at requests ≤ 1e6, and a "Model error" at 1e15–1e20
    requests = np.array([[big, big], [big / 10, 1.0]])
    capacity = np.array([0.5, 1000.0])
    lam, _, u, _, _, status = kernels.step1(requests, np.array([1.0, 100.0]), capacity,
                                            np.ones(2))
    used = (lam[:, None] * requests).sum(axis=0)
    assert (used <= capacity * (1 + 1e-9)).all()
    assert (lam >= 0).all() and (lam <= u).all()
    assert status in ("optimal", "repaired")
    assert used[0] == pytest.approx(0.5, rel=1e-6)  # and the capacity is not wasted


def test_lp_error_is_a_solver_failure():
    err = kernels.LPError("step-1", 4, "numerical trouble")
    assert isinstance(err, SolverFailure)
    assert err.capability == "periods" and err.status == "4"


def test_verify_step1_shrinks_lambda_onto_capacity():
    requests = np.array([[3.0, 1.0], [1.0, 0.0], [0.0, 5.0]])
    lam, status = kernels.verify_step1(np.array([1.0, 1.0, 0.1]), np.ones(3), requests,
                                       np.array([2.0, 10.0]))
    assert status == "repaired"
    assert (lam[:, None] * requests).sum(axis=0)[0] <= 2.0
    assert lam[2] == 0.1  # asks nothing in the over-full period: untouched
    assert lam[0] == lam[1] == pytest.approx(0.5)


def test_verify_step1_leaves_a_fitting_answer_alone():
    lam = np.array([0.25, 0.5])
    got, status = kernels.verify_step1(lam, np.ones(2), np.array([[2.0], [2.0]]),
                                       np.array([1.5]))
    assert status == "optimal" and got.tolist() == [0.25, 0.5]


def test_verify_step1_refuses_nan_naming_the_account():
    with pytest.raises(SolverFailure) as info:
        kernels.verify_step1(np.array([0.5, np.nan]), np.ones(2), np.ones((2, 1)),
                             np.array([5.0]))
    assert info.value.what == "account" and info.value.codes == [1]


def test_verify_round_shrinks_capacity_gap_and_entitlement():
    extra = np.array([[4.0, 1.0], [1.0, 1.0]])
    gap = np.array([[3.0, 5.0], [5.0, 5.0]])
    ent = np.array([np.inf, 1.5])  # account 1: Σ w b ≤ 1.5 with w = (1, 1)
    got, repaired = kernels.verify_round(extra, np.array([3.5, 10.0]), gap, np.ones(2), ent)
    assert repaired
    assert (got <= gap).all()
    assert got[1].sum() <= 1.5
    assert (got.sum(axis=0) <= np.array([3.5, 10.0])).all()
    assert (got >= 0).all()


def test_max_flow_serves_a_small_period_next_to_a_huge_one():
    # one power of two for the whole network floored the 1e-6 period to 0
    upper = np.array([[1.0, 1e13]])
    got = kernels._step2_max_flow(upper, np.ones(1), np.ones(2), np.array([1e-6, 1e12]),
                                  np.array([np.inf]))
    assert got[0, 0] == pytest.approx(1e-6, rel=1e-12)
    assert got[0, 1] == pytest.approx(1e12, rel=1e-12)
    assert got[0, 0] <= 1e-6 and got[0, 1] <= 1e12


def test_max_flow_scales_components_apart_with_entitlement_rows():
    # two classes with entitlement rows, each asking for one period only: two components
    upper = np.array([[1.0, 0.0], [0.0, 1e13]])
    ent = np.array([1e-6, 1e12])
    got = kernels._step2_max_flow(upper, np.ones(2), np.ones(2), np.array([1e-6, 1e12]), ent)
    assert got[0, 0] == pytest.approx(1e-6, rel=1e-12) and got[0, 0] <= 1e-6
    assert got[1, 1] == pytest.approx(1e12, rel=1e-12) and got[1, 1] <= 1e12



@pytest.mark.parametrize("tiny", [1e-300, 1e-295])
def test_max_flow_of_a_component_near_underflow_is_scaled_back_exactly(tiny):
    # a component totalling about 1e-300 is scaled by 2**k with k above 1000 (the ldexp
    # branch): the one optimum (class 1 can only use period 0, so class 0 takes period 1)
    # must come back at its magnitude, per account (class 1 holds 3, period 0 weighs 2)
    upper = np.array([[1.0, 1.0], [1.0, 0.0]]) * tiny
    wp, sizes = np.array([2.0, 1.0]), np.array([1.0, 3.0])
    remaining = np.array([3.0, 1.0]) * tiny
    ent = np.array([1.0, 2.0]) * tiny
    got = kernels._step2_max_flow(upper, sizes, wp, remaining, ent)
    assert got[0, 0] == 0 and got[1, 1] == 0
    assert got[0, 1] == pytest.approx(tiny, rel=1e-12) and got[0, 1] <= tiny
    assert got[1, 0] == pytest.approx(tiny, rel=1e-12) and got[1, 0] <= tiny
    assert 3 * got[1, 0] <= remaining[0]

@pytest.mark.parametrize("strategy", STRATEGIES)
def test_step2_strategies_respect_every_limit_at_spread_magnitudes(strategy):
    rng = np.random.default_rng(5)
    for _ in range(30):
        c, p = rng.integers(1, 5), rng.integers(1, 4)
        upper = rng.uniform(1, 10, (c, p)) * 10.0 ** rng.integers(-6, 13, (c, p))
        remaining = rng.uniform(1, 10, p) * 10.0 ** rng.integers(-6, 13, p)
        wp = rng.uniform(0.5, 3, p)
        sizes = rng.integers(1, 4, c).astype(float)
        ent = np.where(rng.random(c) < 0.7,
                       rng.uniform(1, 10, c) * 10.0 ** rng.integers(-6, 13, c), np.inf)
        b = kernels.STEP2_SOLVERS.get(strategy)(upper, sizes, wp, remaining, ent)
        b = np.clip(b, 0, upper)
        # solvers answer within their own tolerance; verify_round brings them onto the limits
        fixed, _ = kernels.verify_round(np.repeat(b, sizes.astype(int), axis=0), remaining,
                                        np.repeat(upper, sizes.astype(int), axis=0), wp,
                                        np.repeat(ent / 1.0, sizes.astype(int)))
        assert (fixed.sum(axis=0) <= remaining * (1 + 1e-9)).all()
        finite = np.isfinite(np.repeat(ent, sizes.astype(int)))
        assert ((fixed @ wp)[finite] <= np.repeat(ent, sizes.astype(int))[finite]
                * (1 + 1e-9)).all()


def test_wide_random_instances_conserve_with_both_strategies():
    # the issue: about 0.5 % of such instances broke a capacity, reported optimal
    rng = np.random.default_rng(11)
    statuses = set()
    for i in range(150):
        n, t = rng.integers(1, 7), rng.integers(1, 4)

        def mag(shape):
            x = rng.uniform(1, 10, shape) * 10.0 ** rng.integers(-6, 13, shape)
            return np.where(rng.random(shape) < 0.15, 0.0, x)

        requests, currency, capacity = mag((n, t)), mag(n), mag(t)
        sol = kernels.solve_periods(requests, currency, capacity, np.ones(t),
                                    step2_strategy=STRATEGIES[i % 2])
        assert conserves(sol, requests, capacity), i
        statuses.add(sol.status)
    assert statuses <= {"optimal", "repaired"}


def test_zero_capacity_period_is_priced_so_that_lambda_zero_is_optimal():
    # A asks in the closed period 1 and in period 2; B only in period 2
    requests = np.array([[10.0, 10.0], [0.0, 10.0]])
    lam, price, u, _, _, _ = kernels.step1(requests, np.ones(2), np.array([0.0, 100.0]),
                                           np.ones(2))
    assert lam[0] == 0 and lam[1] == pytest.approx(u[1])
    reduced = requests.sum(axis=1) - requests @ price
    assert reduced[0] <= 1e-9  # λ_A = 0 is consistent with the prices


def test_verify_round_counts_every_account_of_a_class_row():
    # one row stands for 3 accounts of 2.0 each: 6.0 against 4.0 left, shrunk to 4/3 each;
    # a row of 1 account next to it that fits is shrunk in proportion too
    extra = np.array([[2.0], [1.0]])
    got, repaired = kernels.verify_round(extra, np.array([4.0]), np.full((2, 1), 5.0),
                                         np.ones(1), np.full(2, np.inf), np.array([3.0, 1.0]))
    assert repaired
    assert float(np.array([3.0, 1.0]) @ got[:, 0]) <= 4.0 * (1 + 1e-12)
    assert got[0, 0] == pytest.approx(2.0 * 4.0 / 7.0) and got[1, 0] == pytest.approx(4.0 / 7.0)
    fits, again = kernels.verify_round(extra, np.array([7.0]), np.full((2, 1), 5.0),
                                       np.ones(1), np.full(2, np.inf), np.array([3.0, 1.0]))
    assert not again and (fits == extra).all()


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 4))
def test_unmet_counts_per_class_equal_the_accounts_count(seed, t):
    # accounts that differ by less than the class rounding (1e-6) share a class; with the
    # threshold set to one of their gaps, some classes straddle it (met and unmet accounts)
    rng = np.random.default_rng(seed)
    n = 40
    base = rng.integers(1, 6, (n // 4, t)).astype(float)
    requests = np.repeat(base, 4, axis=0) + rng.integers(0, 4, (n, t)) * 1e-7
    currency = np.repeat(rng.integers(1, 3, n // 4).astype(float), 4)
    share = currency / currency.sum()
    first = np.zeros_like(requests)
    group = kernels._group(currency, requests)
    assert len(group.sizes) < n  # near-identical accounts were grouped
    state = kernels._Leftover.after_step1(group, requests, first, share)
    state.extra[:] = rng.uniform(0, 1, state.extra.shape)  # some step-2 amount so far
    periods = np.arange(t)
    gap = requests - first - state.extra[group.ids]
    threshold = float(rng.choice(gap.ravel()))
    low = state.low[:, periods] - state.extra[:, periods]
    count, shares = kernels._unmet_counts(state, periods, low, threshold, group, requests,
                                          first, share)
    unmet = (gap > threshold).any(axis=1)
    n_cls = len(group.sizes)
    assert count.tolist() == np.bincount(group.ids[unmet], minlength=n_cls).tolist()
    assert shares == pytest.approx(np.bincount(group.ids[unmet], weights=share[unmet],
                                               minlength=n_cls), abs=1e-15)


def _round_limits(upper, sizes, wp, remaining, ent):
    """Per (class, period): the most the class's accounts could take there together, in
    weighted units (unmet request, entitlement row, the period's remaining capacity)."""
    lim = upper * wp[None, :] * sizes[:, None]
    lim = np.minimum(lim, np.where(np.isfinite(ent), ent * sizes, np.inf)[:, None])
    return np.minimum(lim, (wp * remaining)[None, :])


def _round_value(b, sizes, wp):
    return float(((b * sizes[:, None]).sum(axis=0)) @ wp)


@settings(max_examples=150, deadline=None)
@given(step2_rounds(), st.integers(0, 2**32 - 1))
def test_unlinked_rounds_fill_every_period_by_one_fraction(round_, seed):
    # one period, or no entitlement rows: no class links two periods, so the max flow is
    # Σ_t min(w_t R_t, Σ_c limit_ct), and the closed form gives every class in a period the
    # same fraction of its limit there
    upper, sizes, wp, remaining, ent = round_
    b = kernels.STEP2_SOLVERS.get("max_flow")(upper, sizes, wp, remaining, ent)
    lim = _round_limits(upper, sizes, wp, remaining, ent)
    best = float(np.minimum(wp * remaining, lim.sum(axis=0)).sum())
    assert _round_value(b, sizes, wp) == pytest.approx(best, rel=1e-12, abs=1e-300)
    assert (b >= 0).all() and (b <= upper * (1 + 1e-12)).all()
    assert ((sizes @ b) <= remaining * (1 + 1e-12)).all()
    finite = np.isfinite(ent)
    assert ((b @ wp)[finite] <= ent[finite] * (1 + 1e-12)).all()
    frac = np.divide(b * wp[None, :] * sizes[:, None], lim, out=np.full(lim.shape, np.nan),
                     where=lim > 0)
    for t in range(lim.shape[1]):
        col = frac[lim[:, t] > 0, t]
        if col.size:
            assert col.max() - col.min() <= 1e-12 * col.max()
    # identical classes get identical amounts
    rows = np.column_stack([upper, sizes, ent])
    same = (rows[:, None, :] == rows[None, :, :]).all(axis=2)
    assert all((b[i] == b[j]).all() for i, j in zip(*np.nonzero(same), strict=True))


@settings(max_examples=60, deadline=None)
@example(seed=185144, n=22)  # an unmet request on the threshold to the last bit
@example(seed=142, n=2)  # every request drawn 0
@given(st.integers(0, 2**32 - 1), st.integers(2, 40))
def test_one_period_rounds_do_not_depend_on_the_account_order(seed, n):
    # every round of a one-period instance takes the closed form; the promise of order
    # independence is the public one (allocate_periods orders the accounts by key before the
    # kernel sees them): the same rows shuffled give the same bits. The kernel alone sums its
    # rows in the order given, and a class whose unmet request lands on the threshold to the
    # last bit (0.1 ± 1e-16) can count as unmet in one order and not in another
    rng = np.random.default_rng(seed)
    requests = rng.integers(0, 20, (n, 1)).astype(float)
    if not requests.any():  # default weights are undefined for a period without demand
        requests[0] = 1.0
    currency = rng.integers(0, 6, n).astype(float)
    capacity = np.floor(requests.sum(axis=0) * rng.uniform(0.2, 0.9)) + 1
    names = np.array([f"acct{i:03d}" for i in range(n)])
    tidy = pd.DataFrame({"account": names, "period": 1, "request": requests[:, 0]})
    cur = pd.Series(currency, index=pd.Index(names, name="account"))
    order = rng.permutation(n)
    a = allocate_periods(tidy, cur, {1: capacity[0]})
    b = allocate_periods(tidy.iloc[order], cur.iloc[order[::-1]], {1: capacity[0]})
    pd.testing.assert_frame_equal(a.allocation, b.allocation, check_exact=True)
    sol = kernels.solve_periods(requests, currency, capacity, np.ones(1))
    assert conserves(sol, requests, capacity)


@settings(max_examples=60, deadline=None)
@given(step2_rounds(spread=False), step2_rounds(linked=True, spread=False))
def test_max_flow_rounds_reach_the_lp_optimum(unlinked, linked):
    # both paths of the max-flow strategy against HiGHS on the LP of the round (small integer
    # amounts: the LP is exact to its tolerance there; spread ones are checked above)
    for upper, sizes, wp, remaining, ent in (unlinked, linked):
        flow = kernels.STEP2_SOLVERS.get("max_flow")(upper, sizes, wp, remaining, ent)
        lp = kernels.STEP2_SOLVERS.get("lp")(upper, sizes, wp, remaining, ent)
        assert _round_value(flow, sizes, wp) == pytest.approx(_round_value(lp, sizes, wp),
                                                              rel=1e-8, abs=1e-9)
        fixed, repaired = kernels.verify_round(np.clip(flow, 0, upper), remaining, upper, wp,
                                               ent, sizes)
        assert not repaired


@pytest.mark.parametrize("upper, ent", [
    ([[0.0, 0.0], [1.0, 1.0]], [1.0, np.inf]),  # the class with a row asks for nothing
    ([[1.0, 1.0], [1.0, 1.0]], [0.0, np.inf]),  # the class with a row may take nothing
])
def test_max_flow_with_entitlement_rows_but_no_linked_arc(upper, ent):
    # the components come from the linked classes' arcs: here there are none, and the
    # class without a row takes what it asks for in each period
    got = kernels._step2_max_flow(np.array(upper), np.ones(2), np.ones(2), np.array([5.0, 5.0]),
                                  np.array(ent))
    assert got[1].tolist() == [1.0, 1.0] and got[0].tolist() == [0.0, 0.0]


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 30_000), st.integers(1, 60))
def test_blocked_products_equal_the_plain_ones(seed, n, k):
    # the products in blocks BLAS runs on one thread: the same values as the plain products,
    # for any number of rows (a partial last block, fewer rows than one block, none)
    rng = np.random.default_rng(seed)
    a = rng.uniform(-1, 1, (n, k)) * 10.0 ** rng.integers(-3, 4, (n, k))
    v, u = rng.uniform(-1, 1, k), rng.uniform(-1, 1, n)
    scale = np.abs(a).sum() + 1
    assert np.allclose(kernels.rows_dot(a, v), a @ v, rtol=1e-12, atol=1e-15 * scale)
    assert np.allclose(kernels.cols_dot(u, a), u @ a, rtol=1e-12, atol=1e-15 * scale)
    assert kernels.cols_dot(u, a[:, 0]) == pytest.approx(float(u @ a[:, 0]), rel=1e-12,
                                                         abs=1e-15 * scale)
    assert kernels.rows_dot(a, v).shape == (n,) and kernels.cols_dot(u, a).shape == (k,)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 5))
def test_closed_form_fill_never_overfills_a_period_of_many_classes(seed, p):
    # 20 000 classes of spread sizes per period, summed class by class: rounding may push
    # the fraction's fill over the capacity, which must end at or below it, never raise
    rng = np.random.default_rng(seed)
    g = rng.uniform(0, 1, (20_000, p)) ** 3 * 10.0 ** rng.integers(-3, 4, (20_000, p))
    cap = g.sum(axis=0) * rng.uniform(0.05, 1.2, p)
    y = kernels._fill_periods(g, cap)
    assert (y.sum(axis=0) <= cap).all() and (y >= 0).all() and (y <= g).all()
    assert y.sum(axis=0) == pytest.approx(np.minimum(cap, g.sum(axis=0)), rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 20), st.integers(1, 5), st.integers(9, 250))
def test_requests_far_below_capacity_are_met_in_step_1(seed, n, t, digits):
    # every scaled coefficient of the step-1 LP is below SMALL: no period binds, so every
    # account takes its cap u = 1 in step 1 (the LP used to be skipped, leaving λ = 0)
    rng = np.random.default_rng(seed)
    requests = rng.integers(0, 20, (n, t)).astype(float)
    requests[0] += 1  # no period without demand
    currency = rng.integers(1, 6, n).astype(float)
    capacity = requests.sum(axis=0) * 10.0**digits
    sol = kernels.solve_periods(requests, currency, capacity, np.ones(t), two_step=False)
    assert sol.status == "optimal"
    asks = (requests.sum(axis=1) > 0).astype(float)  # u = 0 where W = 0
    np.testing.assert_array_equal(sol.lam, asks)
    np.testing.assert_array_equal(sol.step1, requests)


@given(st.integers(0, 2**32 - 1), st.integers(0, 30), st.integers(1, 12))
@settings(max_examples=200, deadline=None)
def test_period_components_link_exactly_the_periods_a_class_shares(seed, n, p):
    # periods are in one component iff a chain of classes, each asking for two of them,
    # joins them: compared with a union-find over every pair of periods of every class
    rng = np.random.default_rng(seed)
    pos = rng.random((n, p)) < rng.uniform(0.0, 0.5)
    comp, n_comp = kernels._period_components(pos, pos.argmax(axis=1))
    parent = list(range(p))

    def root(x):
        while parent[x] != x:
            x = parent[x]
        return x

    for row in pos:
        periods = np.flatnonzero(row)
        for a in periods[1:]:
            parent[root(int(a))] = root(int(periods[0]))
    roots = [root(x) for x in range(p)]
    assert n_comp == len(set(roots))
    assert all((comp[i] == comp[j]) == (roots[i] == roots[j])
               for i in range(p) for j in range(p))


def test_period_components_of_many_periods_stay_sparse():
    # 3 classes over 200 000 periods: a periods × periods array would hold 4 × 10^10 cells
    pos = np.zeros((3, 200_000), dtype=bool)
    pos[0, [0, 5]] = pos[1, [5, 199_999]] = pos[2, [7, 8]] = True
    comp, n_comp = kernels._period_components(pos, pos.argmax(axis=1))
    assert n_comp == 200_000 - 3
    assert comp[0] == comp[5] == comp[199_999] and comp[7] == comp[8] != comp[0]


def test_rounds_over_some_periods_get_their_arrays_in_row_order(monkeypatch):
    # a[:, periods] with an index array is laid out by columns: every pass by rows after it
    # (ravel, BLAS blocks, flat arc positions) copied the (classes x periods) arrays again
    rng = np.random.default_rng(3)
    requests = rng.integers(0, 20, (300, 6)).astype(float)
    capacity = np.floor(requests.sum(axis=0) * np.array([0.2, 0.3, 1.5, 0.4, 2.0, 0.5]))
    seen = []
    solver = kernels.STEP2_SOLVERS.get("max_flow")

    def recording(upper, *args):
        seen.append((upper.shape[1], upper.flags.c_contiguous))
        return solver(upper, *args)

    monkeypatch.setitem(kernels.STEP2_SOLVERS._entries, "max_flow", recording)
    sol = kernels.solve_periods(requests, rng.integers(1, 6, 300).astype(float), capacity,
                                kernels.default_weights(requests))
    assert conserves(sol, requests, capacity)
    assert any(p < 6 for p, _ in seen)  # some round leaves periods out
    assert all(c for _, c in seen), seen


@pytest.mark.parametrize("rows", [3, 70_000])  # one block, and several
def test_final_check_of_two_parts_names_the_offending_account_or_period(rows):
    requests = np.full((rows, 2), 2.0)
    first, second = np.ones((rows, 2)), np.ones((rows, 2))
    capacity = np.full(2, 2.0 * rows)
    kernels.verify_allocation(first, requests, capacity, second)  # exactly at every limit
    for cell, word in (((rows - 1, 1), "exceeds account request"),
                       ((rows // 2, 0), "is negative or NaN")):
        bad = second.copy()
        bad[cell] = 1.5 if "request" in word else -1.5
        with pytest.raises(SolverFailure, match=word) as info:
            kernels.verify_allocation(first, requests, capacity, bad)
        assert f"codes [{cell[0]}]" in str(info.value)
    with pytest.raises(SolverFailure, match="exceeds period capacity") as info:
        kernels.verify_allocation(first, requests, np.array([2.0 * rows, 2.0 * rows - 1]),
                                  second)
    assert "codes [1]" in str(info.value)
