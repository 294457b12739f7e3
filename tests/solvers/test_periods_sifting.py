"""The step-1 LP solved by smoothed prices and sifting (many classes) against the plain LP
over every account solved by HiGHS: the same optimum, a certificate of optimality, identical
accounts identical; and the step-1 tie-break LP solved by sifting against the same LP solved
whole: the same smallest fulfilment λ/u among the free accounts (issue 16)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from scipy.optimize import linprog

from fairalloc.solvers import periods as kernels
from tests.strategies import periods_degenerate_instances, periods_many_class_instances


def plain_optimum(requests, currency, capacity, weights) -> float:
    """max Σ W_i λ_i s.t. Σ_i r_it λ_i ≤ X_t, 0 ≤ λ_i ≤ u_i: one variable per account, HiGHS."""
    _, big_w, u = kernels.entitlements(requests, currency, capacity, weights)
    res = linprog(-big_w, A_ub=requests.T, b_ub=capacity, bounds=np.column_stack([0 * u, u]),
                  method="highs")
    assert res.status == 0
    return -res.fun


def assert_step1_optimal(requests, currency, capacity, weights):
    lam, price, u, _, _, _ = kernels.step1(requests, currency, capacity, weights)
    big_w = requests @ weights
    got = float(big_w @ lam)
    best = plain_optimum(requests, currency, capacity, weights)
    assert got == pytest.approx(best, rel=1e-9, abs=1e-9)
    used = lam @ requests
    assert (used <= capacity * (1 + 1e-9)).all()
    assert ((lam >= 0) & (lam <= u)).all()
    # optimality certificate from the prices: reduced cost > 0 → at the cap, < 0 → at 0,
    # a priced period is full
    reduced = big_w - requests @ price
    scale = big_w + requests @ price
    assert np.allclose(lam[reduced > 1e-7 * scale], u[reduced > 1e-7 * scale], rtol=1e-9)
    assert np.allclose(lam[reduced < -1e-7 * scale], 0.0, atol=1e-12)
    priced = price > 1e-9 * price.max(initial=0)
    assert used[priced] == pytest.approx(capacity[priced], rel=1e-7)
    # identical accounts (currency and requests) get identical λ
    key = np.column_stack([currency, requests])
    _, ids = np.unique(key, axis=0, return_inverse=True)
    first = np.full(ids.max() + 1, -1)
    first[ids[::-1]] = np.arange(len(ids))[::-1]
    assert (lam == lam[first[ids]]).all()
    return lam


@settings(max_examples=60, deadline=None)
@given(periods_many_class_instances())
def test_sifted_step1_reaches_the_plain_highs_optimum(instance):
    requests, currency, capacity = instance
    weights = kernels.default_weights(requests)
    with pytest.MonkeyPatch.context() as mp:  # sift from 8 classes on (default: 2000)
        mp.setattr(kernels, "SIFT_MIN", 8)
        mp.setattr(kernels, "SIFT_WORK", 4)
        mp.setattr(kernels, "SIFT_SAMPLE", 5)
        assert_step1_optimal(requests, currency, capacity, weights)


@pytest.mark.parametrize("t", [1, 4, 13])
def test_sifted_step1_at_default_sizes(t):
    # 6 000 accounts with about as many classes: beyond SIFT_MIN, so the sifting decides
    rng = np.random.default_rng(t)
    requests = rng.integers(0, 20, (6000, t)).astype(float)
    requests[:, 0] += 1
    currency = rng.integers(1, 1000, 6000).astype(float)  # many classes even at T = 1
    capacity = np.floor(requests.sum(axis=0) * rng.uniform(0.2, 0.6, t))
    assert len(kernels.classes(currency, requests)[1]) > kernels.SIFT_MIN
    assert_step1_optimal(requests, currency, capacity, kernels.default_weights(requests))


def test_grouping_survives_a_hash_collision(monkeypatch):
    # every row hashes alike: the rows are grouped by their values all the same
    monkeypatch.setattr(kernels, "_mix", lambda x: x * np.uint64(0))
    ids, sizes = kernels.classes(np.array([2.0, 1.0, 2.0, 1.0 + 1e-9]))
    assert ids[0] == ids[2] and ids[1] == ids[3] and ids[0] != ids[1]
    assert sorted(sizes.tolist()) == [2, 2]


def smallest_free_fulfilment(requests, lam, price, u, weights) -> float:
    """min λ/u over the accounts the optimum leaves free (zero reduced cost, u > 0): what the
    documented tie-break maximises."""
    big_w = requests @ weights
    reduced = big_w - requests @ price
    free = (np.abs(reduced) <= 1e-9 * (big_w + requests @ price) + 1e-12) & (u > 0)
    return float((lam[free] / u[free]).min(initial=np.inf))


@settings(max_examples=80, deadline=None)
@given(periods_degenerate_instances())
def test_sifted_tie_break_reaches_the_whole_tie_break(instance):
    requests, currency, capacity = instance
    weights = kernels.default_weights(requests)
    got = {}
    for tie_min in (2, 10**9):  # the tie-break sifted from 2 free classes on, or whole
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(kernels, "SIFT_MIN", 8)
            mp.setattr(kernels, "SIFT_WORK", 4)
            mp.setattr(kernels, "SIFT_SAMPLE", 5)
            mp.setattr(kernels, "TIE_SIFT_MIN", tie_min)
            lam = assert_step1_optimal(requests, currency, capacity, weights)
            _, price, u, _, _, _ = kernels.step1(requests, currency, capacity, weights)
        got[tie_min] = smallest_free_fulfilment(requests, lam, price, u, weights)
    assert got[2] == pytest.approx(got[10**9], rel=1e-9, abs=1e-12)


def test_sifted_tie_break_at_default_sizes():
    # 30 000 accounts asking in proportion (r, 2r) with period 2 binding: every class is free,
    # so the tie-break runs over ~10^4 classes, beyond TIE_SIFT_MIN
    rng = np.random.default_rng(3)
    base = rng.integers(1, 20, 30_000).astype(float)
    requests = np.column_stack([base, 2 * base])
    currency = rng.integers(1, 1000, 30_000).astype(float)
    capacity = np.array([base.sum() * 0.5, base.sum() * 0.6])
    weights = kernels.default_weights(requests)
    lam = assert_step1_optimal(requests, currency, capacity, weights)
    _, price, u, _, _, _ = kernels.step1(requests, currency, capacity, weights)
    assert len(kernels.classes(currency, requests)[1]) > kernels.TIE_SIFT_MIN
    # one binding period, every account free: the max-min answer is one λ/u for all
    ratio = lam / u
    assert ratio.max() == pytest.approx(ratio.min(), rel=1e-9)
    assert smallest_free_fulfilment(requests, lam, price, u, weights) == pytest.approx(
        ratio.min(), rel=1e-12)
