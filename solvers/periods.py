"""Multi-period allocation with entitlements (SPEC §2), on dense numpy arrays.

Accounts are rows of ``requests`` (N × T), periods its columns. Identical accounts are grouped
into classes (one LP variable per class, with its multiplicity), so identical accounts get
identical allocations by construction and the LPs shrink when many accounts look alike.

Both steps are linear programs solved with the HiGHS that ships inside scipy
(``scipy.optimize.linprog``); constraint matrices are sparse and built with numpy.

Choice among several optima (step 1). The step-1 LP is often degenerate: when every account's
weighted request is priced exactly by the period prices (e.g. one period, or every period's
capacity binding), many λ are optimal. fairalloc then solves a second LP: among the optimal
solutions it maximises the smallest fulfilment relative to the cap, λ_i / u_i, over the
accounts whose reduced cost is zero (the only ones the optimum leaves free). Remaining ties
are resolved by HiGHS on the canonically ordered problem (classes sorted by currency, then
requests), so the result is deterministic and independent of input order.

Step 2 is a bipartite max-flow in weighted units (accounts → periods): solved by default with
OR-Tools' max-flow on exactly scaled integer capacities (strategy ``"max_flow"``), or as an LP
with HiGHS (``"lp"``, exact but slow at scale); both keep the solver's deterministic choice on
the canonically ordered problem. When every account
with unmet demand holds zero currency, the step-2 entitlement rows use equal shares among them
(as step 1 does when all currency is zero).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from ortools.graph.python import max_flow
from scipy.optimize import linprog

from solvers.registry import Registry

log = logging.getLogger(__name__)

#: Accounts whose currency and requests agree after rounding to this many decimals' grid
#: (10 ** -6) are identical.
IDENTICAL_TOL = 1e-6
#: Step 2 stops when an iteration's weighted gain is below this.
MIN_GAIN = 1e-6


class LPError(RuntimeError):
    """An LP did not solve to optimality; ``status`` and ``message`` come from HiGHS."""

    def __init__(self, step: str, status: int, message: str):
        self.step, self.status, self.solver_message = step, status, message
        super().__init__(f"{step} LP failed (HiGHS status {status}): {message}")


@dataclass(frozen=True)
class PeriodSolution:
    """Allocation per account and period, split by step, and what the solver saw."""

    step1: np.ndarray  # (N, T)
    step2: np.ndarray  # (N, T)
    lam: np.ndarray  # (N,) step-1 fulfilment λ
    u_cap: np.ndarray  # (N,) entitlement cap u
    share: np.ndarray  # (N,) entitlement share s
    weights: np.ndarray  # (T,)
    price: np.ndarray  # (T,) step-1 shadow price of capacity
    iterations: int  # step-2 rounds run (the last may add less than MIN_GAIN)
    classes: int  # distinct account classes in step 1
    status: str


def default_weights(requests: np.ndarray) -> np.ndarray:
    """w_t = D_t / min D; the caller checks that no D_t is 0.

    >>> default_weights(np.array([[1.0, 3.0], [1.0, 1.0]])).tolist()
    [1.0, 2.0]
    """
    demand = requests.sum(axis=0)
    return demand / demand.min()


def entitlements(
    requests: np.ndarray, currency: np.ndarray, capacity: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shares s, weighted requests W and caps u = min(1, s Σ w X / W) (0 where W = 0)."""
    n = len(currency)
    total = currency.sum()
    share = currency / total if total > 0 else np.full(n, 1.0 / n)
    weighted = requests @ weights
    budget = share * float(weights @ capacity)
    u = np.divide(budget, weighted, out=np.zeros(n), where=weighted > 0)
    return share, weighted, np.minimum(u, 1.0)


def classes(*columns: np.ndarray, tol: float = IDENTICAL_TOL) -> tuple[np.ndarray, np.ndarray]:
    """Class id per row (classes in sorted order of the rounded values) and class sizes.

    >>> ids, sizes = classes(np.array([2.0, 1.0, 2.0]), np.array([[1.0], [1.0], [1.0]]))
    >>> ids.tolist(), sizes.tolist()
    ([1, 0, 1], [1, 2])
    """
    decimals = int(round(-np.log10(tol)))
    # rounded floats, not scaled integers (those overflow int64 beyond ~9e12); + 0.0 folds -0.0
    key = np.column_stack([np.round(np.asarray(c, dtype=np.float64), decimals) + 0.0
                           for c in columns])
    _, ids, sizes = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    return ids.ravel(), sizes


def _member_matrix(ids: np.ndarray, n_classes: int) -> sp.csr_matrix:
    n = len(ids)
    return sp.csr_matrix((np.ones(n), (ids, np.arange(n))), shape=(n_classes, n))


def _class_min(values: np.ndarray, ids: np.ndarray, n_classes: int) -> np.ndarray:
    out = np.full((n_classes,) + values.shape[1:], np.inf)
    np.minimum.at(out, ids, values)
    return out


def _solve(step: str, c, a_ub, b_ub, bounds, method: str = "highs-ipm"):
    res = linprog(c, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method=method)
    if res.status != 0:
        raise LPError(step, res.status, res.message)
    return res


def step1(
    requests: np.ndarray, currency: np.ndarray, capacity: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Proportional LP: λ per account, shadow prices per period, u, s and the class count."""
    share, weighted, u = entitlements(requests, currency, capacity, weights)
    ids, sizes = classes(currency, requests)
    n_cls = len(sizes)
    members = _member_matrix(ids, n_cls)
    w_cls = members @ weighted  # Σ W over the class: objective coefficient of λ_c
    r_cls = members @ requests  # (C, T) summed requests
    u_cls = _class_min(u, ids, n_cls)
    a_ub = sp.csr_matrix(r_cls.T)
    bounds = np.column_stack([np.zeros(n_cls), u_cls])
    res = _solve("step-1", -w_cls, a_ub, capacity, bounds)
    lam = np.clip(res.x, 0.0, u_cls)  # interior-point noise only: bounds hold to ~1e-12
    price = np.maximum(-res.ineqlin.marginals, 0.0)
    lam = _max_min_tie_break(lam, w_cls, r_cls, u_cls, price, a_ub, capacity)
    return lam[ids], price, u, share, n_cls


def _max_min_tie_break(lam, w_cls, r_cls, u_cls, price, a_ub, capacity) -> np.ndarray:
    """Among optimal λ, maximise min λ_c / u_c over the classes with zero reduced cost.

    The optimal face is described by complementary slackness with the step-1 prices μ: a
    class with positive reduced cost W_c − μ·R_c sits at u_c, one with negative reduced cost
    at 0, and every period with μ_t > 0 uses its whole capacity. Only the classes with zero
    reduced cost (the free ones) move; if the face LP fails numerically, the step-1 optimum is
    kept.
    """
    reduced = w_cls - r_cls @ price
    scale = np.maximum(np.abs(w_cls), 1.0)
    free = (np.abs(reduced) <= 1e-9 * scale) & (u_cls > 0)
    k = int(free.sum())
    if k < 2:
        return lam
    n = len(w_cls)
    fixed = np.where(reduced > 0, u_cls, 0.0)
    lo = np.where(free, 0.0, fixed)
    hi = np.where(free, u_cls, fixed)
    idx = np.flatnonzero(free)
    # variables [λ (n), τ]; τ u_c − λ_c ≤ 0 for free c; priced periods are equalities
    tie = sp.csr_matrix(
        (np.concatenate([-np.ones(k), u_cls[idx]]),
         (np.concatenate([np.arange(k), np.arange(k)]), np.concatenate([idx, np.full(k, n)]))),
        shape=(k, n + 1),
    )
    cap_rows = sp.hstack([a_ub, sp.csr_matrix((a_ub.shape[0], 1))]).tocsr()
    priced = price > 1e-9
    c = np.zeros(n + 1)
    c[-1] = -1.0
    res = linprog(
        c,
        A_ub=sp.vstack([cap_rows[~priced], tie]).tocsr(),
        b_ub=np.concatenate([capacity[~priced], np.zeros(k)]),
        A_eq=cap_rows[priced] if priced.any() else None,
        b_eq=capacity[priced] if priced.any() else None,
        bounds=np.vstack([np.column_stack([lo, hi]), [[0.0, 1.0]]]),
        method="highs-ipm",
    )
    if res.status != 0:  # keep the step-1 optimum: it is optimal, only less evenly tied
        log.warning("step-1 tie-break LP failed (%s); keeping the first optimum", res.message)
        return lam
    return np.clip(res.x[:n], 0.0, u_cls)


STEP2_SOLVERS = Registry("step-2 solver")


@STEP2_SOLVERS.register("max_flow")
def _step2_max_flow(upper, sizes, wp, remaining, ent_cap) -> np.ndarray:
    """Step 2 as a max-flow in weighted units y = w·b (OR-Tools, integral, exactly scaled).

    source → class (cap: entitlement × size, or the class's whole gap), class → period
    (w_t · gap · size), period → sink (w_t · remaining). Capacities are scaled by one power of
    two so that their total is at most 2**52 and floored to integers: every flow converts back
    to a float exactly and stays within its capacity; the total is optimal to about 1e-9
    relative (each arc loses less than 2**-52 of the total).
    """
    n_cls, n_p = upper.shape
    g = upper * wp[None, :] * sizes[:, None]
    src_cap = np.where(np.isfinite(ent_cap), ent_cap * sizes, g.sum(axis=1))
    sink_cap = wp * remaining
    # no arc can carry more than its tail receives or its head passes on: capping it there
    # leaves the max flow unchanged and keeps every capacity within the scaled total
    g = np.minimum(g, np.minimum(src_cap[:, None], sink_cap[None, :]))
    total = max(float(src_cap.sum()), float(sink_cap.sum()))
    if total <= 0:
        return np.zeros_like(upper)
    k = 52 - int(np.frexp(total)[1])

    def ints(x: np.ndarray) -> np.ndarray:
        return np.floor(np.ldexp(x, k)).astype(np.int64)

    cls_nodes = np.arange(2, 2 + n_cls)
    per_nodes = np.arange(2 + n_cls, 2 + n_cls + n_p)
    g_int = ints(g).ravel()
    mid = np.flatnonzero(g_int > 0)
    tails = np.concatenate([np.zeros(n_cls, np.int64), np.repeat(cls_nodes, n_p)[mid],
                            per_nodes])
    heads = np.concatenate([cls_nodes, np.tile(per_nodes, n_cls)[mid], np.ones(n_p, np.int64)])
    caps = np.concatenate([ints(src_cap), g_int[mid], ints(sink_cap)])
    flow = max_flow.SimpleMaxFlow()
    arcs = flow.add_arcs_with_capacity(tails, heads, caps)
    status = flow.solve(0, 1)
    if status != flow.OPTIMAL:
        raise LPError("step-2 max-flow", int(status), "OR-Tools max-flow did not finish")
    y = np.zeros(n_cls * n_p)
    y[mid] = np.ldexp(flow.flows(arcs[n_cls:n_cls + len(mid)]).astype(np.float64), -k)
    return y.reshape(n_cls, n_p) / (wp[None, :] * sizes[:, None])


@STEP2_SOLVERS.register("lp")
def _step2_lp(upper, sizes, wp, remaining, ent_cap) -> np.ndarray:
    """Step 2 as an LP over b[class, period] (HiGHS interior point); exact but slow at scale."""
    n_cls, n_p = upper.shape
    cols = np.arange(n_cls * n_p)
    cap_rows = sp.csr_matrix((np.repeat(sizes, n_p).astype(float),
                              (np.tile(np.arange(n_p), n_cls), cols)),
                             shape=(n_p, n_cls * n_p))
    rows, rhs = [cap_rows], [remaining]
    d_cls = np.flatnonzero(np.isfinite(ent_cap))
    if d_cls.size:
        rows.append(sp.csr_matrix(
            (np.tile(wp, len(d_cls)),
             (np.repeat(np.arange(len(d_cls)), n_p),
              (d_cls[:, None] * n_p + np.arange(n_p)).ravel())),
            shape=(len(d_cls), n_cls * n_p)))
        rhs.append(ent_cap[d_cls])
    obj = -(np.repeat(sizes, n_p) * np.tile(wp, n_cls)).astype(float)
    res = _solve("step-2", obj, sp.vstack(rows).tocsr(), np.concatenate(rhs),
                 np.column_stack([np.zeros(n_cls * n_p), upper.ravel()]))
    return res.x.reshape(n_cls, n_p)


def step2_iteration(
    requests: np.ndarray,
    alloc: np.ndarray,
    share: np.ndarray,
    currency: np.ndarray,
    capacity: np.ndarray,
    weights: np.ndarray,
    convergence_threshold: float,
    demand_gap_threshold: float,
    strategy: str = "max_flow",
) -> np.ndarray | None:
    """One leftover round: the extra allocation b (N × T), or None when a stopping rule holds.

    Identical accounts (currency, requests, current allocation) form one class and get equal
    b. The entitlement cap of an unmet account (only when at least two are unmet) is its
    share renormalised over the unmet accounts times the weighted remaining capacity.
    """
    solver = STEP2_SOLVERS.get(strategy)
    remaining = capacity - alloc.sum(axis=0)
    periods = np.flatnonzero(remaining > convergence_threshold * capacity)
    if periods.size == 0:
        return None
    gap = requests[:, periods] - alloc[:, periods]
    unmet = (gap > demand_gap_threshold).any(axis=1)
    if not unmet.any():
        return None
    ids, sizes = classes(currency, requests, alloc)
    n_cls = len(sizes)
    upper = np.maximum(_class_min(gap, ids, n_cls), 0.0)  # (C, P)
    wp = weights[periods]
    ent_cap = np.full(n_cls, np.inf)
    if unmet.sum() >= 2:
        budget = share[unmet].sum()
        # renormalised shares over the unmet accounts; equal shares when none holds currency
        own = share / budget if budget > 0 else np.full(len(share), 1.0 / unmet.sum())
        pool = float(wp @ remaining[periods])
        unmet_cls = _class_min((~unmet).astype(float), ids, n_cls) == 0
        ent_cap = np.where(unmet_cls, _class_min(own, ids, n_cls) * pool, np.inf)
    b_cls = np.clip(solver(upper, sizes.astype(np.float64), wp, remaining[periods], ent_cap),
                    0.0, upper)
    extra = np.zeros_like(alloc)
    extra[:, periods] = b_cls[ids]
    return extra


def solve_periods(
    requests: np.ndarray,
    currency: np.ndarray,
    capacity: np.ndarray,
    weights: np.ndarray,
    *,
    two_step: bool = True,
    convergence_threshold: float = 0.01,
    demand_gap_threshold: float = 0.1,
    max_iterations: int = 10,
    step2_strategy: str = "max_flow",
) -> PeriodSolution:
    """Both steps of the entitlement allocation.

    Examples
    --------
    >>> sol = solve_periods(np.full((4, 4), 50.0), np.array([400.0, 300, 200, 100]),
    ...                     np.full(4, 120.0), np.ones(4))
    >>> (sol.step1 + sol.step2)[:, 0].round(9).tolist()
    [48.0, 36.0, 24.0, 12.0]
    """
    requests = np.asarray(requests, dtype=np.float64)
    currency = np.asarray(currency, dtype=np.float64)
    capacity = np.asarray(capacity, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    lam, price, u, share, n_cls = step1(requests, currency, capacity, weights)
    first = lam[:, None] * requests
    alloc = first.copy()
    iterations = 0
    if two_step:
        for _ in range(max_iterations):
            extra = step2_iteration(requests, alloc, share, currency, capacity, weights,
                                    convergence_threshold, demand_gap_threshold,
                                    step2_strategy)
            if extra is None:
                break
            gain = float(extra.sum(axis=0) @ weights)
            alloc += extra
            iterations += 1
            if gain < MIN_GAIN:
                break
    return PeriodSolution(first, alloc - first, lam, u, share, weights, price, iterations,
                          n_cls, "optimal")


def systematic_lottery(
    prob: np.ndarray, capacity: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Whole units by dependent (systematic) rounding, period by period (columns).

    Each period orders its accounts by a seeded random permutation, lays their probabilities
    end to end on [0, S) and picks the points U, U + 1, … for one uniform U: account i wins
    with probability exactly p_i (p_i ≤ 1), and the number of winners is floor(S + U), never
    more than ceil(S). Where S exceeds the integer capacity, probabilities are first scaled
    down to it (returned as ``scale``), so winners never exceed it.

    >>> won, scale = systematic_lottery(np.array([[0.5], [0.5], [1.0]]), np.array([2]), 0)
    >>> int(won.sum()), won[2, 0], scale.tolist()
    (2, np.True_, [1.0])
    """
    prob = np.asarray(prob, dtype=np.float64)
    cap = np.asarray(capacity, dtype=np.float64)
    total = prob.sum(axis=0)
    scale = np.where(total > cap, np.divide(cap, total, out=np.zeros_like(cap),
                                            where=total > 0), 1.0)
    p = prob * scale
    rng = np.random.default_rng(seed)
    order = np.argsort(rng.random(p.shape), axis=0, kind="stable")
    ps = np.take_along_axis(p, order, axis=0)
    upper = np.minimum(np.cumsum(ps, axis=0), cap)  # float guard: the sum never passes cap
    lower = np.vstack([np.zeros((1, p.shape[1])), upper[:-1]])
    offset = rng.random(p.shape[1])
    won_sorted = np.floor(upper + offset) - np.floor(lower + offset) >= 1
    won = np.empty_like(won_sorted)
    np.put_along_axis(won, order, won_sorted, axis=0)
    return won, scale
