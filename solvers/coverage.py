"""Fair coverage (SPEC §4) on integer codes: minimise Σ w_i n_i F(y_i) over eligible supplies.

Groups i have population n_i > 0, prior coverage f_i in [0, 1) and weight w_i > 0; resources k
have supply b_k > 0; an allocation x_ik ≥ 0 exists only for eligible pairs, with
Σ_i x_ik ≤ b_k and y_i = f_i + Σ_k x_ik / n_i ≤ 1.

Method: decomposition over tight sets. The totals s_i = Σ_k x_ik that a network can carry form
a polymatroid, and the objective is separable and convex, so the optimum is found by
    1. water-filling each component with its total supply alone: one price λ such that every
       group below coverage 1 and above its prior has w_i F'(y_i) = -λ (closed form y_i(λ) per
       loss, λ found by safeguarded Newton steps);
    2. checking with one max flow (all components at once) whether the network can deliver
       those totals; where it cannot, the source side of a minimum cut is the most
       over-demanded set of groups A: at the optimum A consumes exactly its resources N(A) and
       no other group draws on them, so the component splits into (A, N(A)) and the rest,
       without the rest's arcs into N(A);
    3. repeating until every component is deliverable; a last max flow splits the totals into
       x_ik.
Each split separates resources, so there are at most as many rounds as resources; every round
is vectorised over groups, resources and components. Amounts enter the max flows as integers
scaled by a power of two (units of about 2^-60 of the total); the split of each group's total
over its arcs is then topped up to the exact total (a rounding remainder below one unit per
arc).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ortools.graph.python import max_flow


@dataclass(frozen=True)
class Loss:
    """F(y) decreasing and strictly convex on [0, 1], with the inverse of its derivative."""

    name: str
    param: float = 0.0

    def value(self, y: np.ndarray) -> np.ndarray:
        if self.name == "quadratic":
            return (1.0 - y) ** 2
        if self.name == "power":
            return (1.0 - y) ** self.param
        if self.name == "log":
            return -np.log(y + self.param)
        return np.exp(-y)  # "exp"

    def marginal(self, y: np.ndarray, w: np.ndarray) -> np.ndarray:
        """-w F'(y) ≥ 0: the value of one more unit of coverage to a group."""
        if self.name == "quadratic":
            return 2.0 * w * (1.0 - y)
        if self.name == "power":
            return self.param * w * (1.0 - y) ** (self.param - 1.0)
        if self.name == "log":
            return w / (y + self.param)
        return w * np.exp(-y)

    def coverage_slope(self, lam: np.ndarray, w: np.ndarray) -> np.ndarray:
        """d y / d λ of :meth:`coverage_at` (≤ 0)."""
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            if self.name == "quadratic":
                return -0.5 / w
            if self.name == "power":
                e = 1.0 / (self.param - 1.0)
                return -e * (lam / (self.param * w)) ** (e - 1.0) / (self.param * w)
            if self.name == "log":
                return -w / lam**2
            return -1.0 / lam

    def coverage_at(self, lam: np.ndarray, w: np.ndarray) -> np.ndarray:
        """The y with -w F'(y) = λ (unclipped; +inf where λ = 0 has no finite solution)."""
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            if self.name == "quadratic":
                return 1.0 - lam / (2.0 * w)
            if self.name == "power":
                return 1.0 - (lam / (self.param * w)) ** (1.0 / (self.param - 1.0))
            if self.name == "log":
                return np.where(lam > 0, w / lam - self.param, np.inf)
            return np.where(lam > 0, np.log(w / lam), np.inf)


@dataclass(frozen=True)
class Coverage:
    x: np.ndarray  # per eligible arc
    s: np.ndarray  # per group: total received
    price: np.ndarray  # per resource: λ of its component (0 when not scarce)
    rounds: int


def _totals(y: np.ndarray, n: np.ndarray, f: np.ndarray) -> np.ndarray:
    """What each group receives to reach coverage ``y`` (clipped to [prior, 1])."""
    return n * (np.clip(y, f, 1.0) - f)


def _water_fill(comp_g, comp_b, n, f, w, cap, loss: Loss, n_comp: int) -> np.ndarray:
    """Per component c, the price λ_c ≥ 0 at which its groups' totals sum to its supply B_c
    (λ_c = 0 when covering everyone fully fits).

    The total S(λ) falls as λ rises; Newton steps on S(λ) = B_c, kept inside a shrinking
    bracket (a bisection step whenever Newton would leave it), stop when S is within 1e-15
    of B_c or the bracket is a few ulps wide.
    """
    full = np.bincount(comp_g, weights=cap, minlength=n_comp)
    supply = comp_b
    need = full > supply
    hi = np.zeros(n_comp)
    np.maximum.at(hi, comp_g, loss.marginal(f, w))  # at this price nobody takes anything
    lo = np.zeros(n_comp)
    lam = 0.5 * hi
    for _ in range(200):
        y = loss.coverage_at(lam[comp_g], w)
        inside = (y > f) & (y < 1.0)
        got = np.bincount(comp_g, weights=_totals(y, n, f), minlength=n_comp)
        over = got > supply
        lo = np.where(need & over, lam, lo)
        hi = np.where(need & ~over, lam, hi)
        hit = np.abs(got - supply) <= 1e-15 * supply
        if (hit | (hi - lo <= 4e-16 * hi) | ~need).all():
            # on the value: the max flow's slack absorbs 1e-15; else the bracket's safe end
            return np.where(need, np.where(hit, lam, hi), 0.0)
        slope = np.bincount(comp_g, weights=np.where(inside, n * loss.coverage_slope(
            lam[comp_g], w), 0.0), minlength=n_comp)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = lam - (got - supply) / slope
        ok = np.isfinite(step) & (step > lo) & (step < hi)
        lam = np.where(ok, step, 0.5 * (lo + hi))
    return np.where(need, hi, 0.0)  # not converged (never seen): the safe side


def _scale(total: float) -> float:
    """A power of two putting ``total`` near 2^60 (integer flows then resolve 2^-60 of it,
    while every sum of capacities stays inside int64)."""
    return float(2.0 ** (60 - np.frexp(max(total, 1e-300))[1]))


def _max_flow(arc_g, arc_k, s, b, n_g, n_k, scale):
    """Max flow source → groups (s) → resources (eligible arcs) → sink (b), scaled to integers.

    Totals are rounded down and supplies up, so totals that fit the supplies in real numbers
    fit in integers too (min-cut condition); a resource may then carry up to one unit (2^-60
    of the total) beyond its supply.

    Returns the solver, the arc ids of the eligible arcs and, per group, the units asked for
    and not delivered.
    """
    flow = max_flow.SimpleMaxFlow()
    src, snk = n_g + n_k, n_g + n_k + 1
    big = np.int64(2**62)
    tails = np.concatenate([np.full(n_g, src), arc_g, n_g + np.arange(n_k)])
    heads = np.concatenate([np.arange(n_g), n_g + arc_k, np.full(n_k, snk)])
    caps = np.concatenate([np.floor(s * scale).astype(np.int64),
                           np.full(len(arc_g), big, np.int64),
                           np.ceil(b * scale).astype(np.int64)])
    ids = flow.add_arcs_with_capacity(tails.astype(np.int64), heads.astype(np.int64), caps)
    status = flow.solve(src, snk)
    if status != flow.OPTIMAL:
        raise RuntimeError(f"max flow failed with status {status}")
    # per group, the units asked for and not delivered (exact integers)
    short = caps[:n_g] - flow.flows(ids[:n_g])
    return flow, ids[n_g:n_g + len(arc_g)], short


def solve_coverage(n, f, w, b, arc_g, arc_k, loss: Loss) -> Coverage:
    """Optimal allocation on codes: groups 0..len(n)-1, resources 0..len(b)-1, eligible arcs
    (arc_g, arc_k) without repeats."""
    n_g, n_k = len(n), len(b)
    cap = n * (1.0 - f)
    scale = _scale(float(b.sum()) + float(cap.sum()))
    # component 0 holds everything at first; resources nobody may use sit apart in 1
    comp_g = np.zeros(n_g, np.int64)
    comp_k = np.where(np.bincount(arc_k, minlength=n_k) > 0, 0, 1)
    alive = np.ones(len(arc_g), bool)
    n_comp, rounds = 2, 0
    done = np.array([False, True])
    lam_c = np.zeros(2)
    x = np.zeros(len(arc_g))
    total = np.zeros(n_g)  # per group, fixed when its component is finished
    while True:
        rounds += 1
        has_arc = np.bincount(arc_g[alive], minlength=n_g) > 0  # the others get nothing
        supply = np.bincount(comp_k, weights=b, minlength=n_comp)
        open_c = ~done
        live_g = has_arc & open_c[comp_g]
        lam_new = _water_fill(comp_g[live_g], supply, n[live_g], f[live_g], w[live_g],
                              cap[live_g], loss, n_comp)
        lam_c = np.where(open_c, lam_new, lam_c)
        s = np.where(live_g, _totals(loss.coverage_at(lam_c[comp_g], w), n, f), 0.0)
        # finished components keep their flows: only open ones enter this round's max flow
        arcs = np.flatnonzero(alive & open_c[comp_g[arc_g]])
        b_open = np.where(open_c[comp_k], b, 0.0)
        flow, eid, missing = _max_flow(arc_g[arcs], arc_k[arcs], s, b_open, n_g, n_k, scale)
        # short by more than float rounding (a float64 ulp of the total is 2^8 units; allow
        # 2^10 per group and resource) → not deliverable
        missing_c = np.bincount(comp_g, weights=missing.astype(float), minlength=n_comp)
        slack = 1024.0 * (np.bincount(comp_g, minlength=n_comp)
                          + np.bincount(comp_k, minlength=n_comp))
        short = open_c & (missing_c > slack)
        newly = open_c & ~short
        total = np.where(newly[comp_g], s, total)
        finished = arcs[~short[comp_g[arc_g[arcs]]]]
        x[finished] = flow.flows(eid[~short[comp_g[arc_g[arcs]]]]) / scale
        done = done | ~short
        if not short.any():
            return Coverage(_top_up(x, arc_g, total), total, lam_c[comp_k], rounds)
        side = np.zeros(n_g + n_k + 2, bool)
        side[np.asarray(flow.get_source_side_min_cut(), np.int64)] = True
        in_a_g = side[:n_g] & short[comp_g]
        in_a_k = side[n_g:n_g + n_k] & short[comp_k]
        # a cut side holding none or all of a component's groups cannot split it
        part = np.bincount(comp_g[in_a_g], minlength=n_comp)
        whole = np.bincount(comp_g, minlength=n_comp)
        if (short & ((part == 0) | (part == whole))).any() or rounds > n_k + 1:
            raise RuntimeError("coverage decomposition made no progress (numerical trouble)")
        # split every short component c: its cut side becomes a new component
        new_id = np.full(n_comp, -1, np.int64)
        new_id[short] = n_comp + np.arange(int(short.sum()))
        comp_g = np.where(in_a_g, new_id[comp_g], comp_g)
        comp_k = np.where(in_a_k, new_id[comp_k], comp_k)
        n_comp += int(short.sum())
        done = np.concatenate([done, np.zeros(int(short.sum()), bool)])
        lam_c = np.concatenate([lam_c, np.zeros(int(short.sum()))])
        # arcs from the rest of a component into the cut side carry nothing at the optimum
        alive &= comp_g[arc_g] == comp_k[arc_k]


def _top_up(x: np.ndarray, arc_g: np.ndarray, total: np.ndarray) -> np.ndarray:
    """Spread each group's rounding remainder (total − Σ x, under one unit per arc) over its
    arcs in proportion to their flows (evenly when none carries any)."""
    n_g = len(total)
    got = np.bincount(arc_g, weights=x, minlength=n_g)
    arcs_of = np.bincount(arc_g, minlength=n_g)
    rest = np.maximum(total - got, 0.0)
    share = np.where(got[arc_g] > 0, x / np.where(got[arc_g] > 0, got[arc_g], 1.0),
                     1.0 / np.maximum(arcs_of[arc_g], 1))
    return x + rest[arc_g] * share


def complaints(eg, ek, n, w, y, x, tol: float):
    """Every justified complaint against amounts ``x`` on eligible pairs (eg, ek), given the
    coverages ``y``: arrays (complainant, other, resource, amount, higher_weight), sorted.

    Group c may complain about group o over resource k when both are eligible for k, o
    receives more than ``tol`` × its population of k, y_c < 1 − tol, and w_c > w_o with
    y_c ≤ y_o + tol, or w_c ≥ w_o with y_c < y_o − tol. Receivers are screened first with the
    least coverage among groups (below 1) of weight > w and of weight ≥ w on each resource:
    prefix minima over the eligible rows sorted by resource and weight descending. Only
    screened receivers are paired with their resource's groups.
    """
    m = len(eg)
    order = np.lexsort((-w[eg], ek))  # by resource, then weight descending
    ks, ws = ek[order], w[eg][order]
    open_y = np.where(y[eg] < 1.0 - tol, y[eg], np.inf)[order]
    upto = _prefix_min_by_segment(open_y, ks)
    new_k = np.r_[True, ks[1:] != ks[:-1]] if m else np.zeros(0, bool)
    new_block = new_k | (np.r_[True, ws[1:] != ws[:-1]] if m else new_k)
    block = np.cumsum(new_block) - 1
    first = np.flatnonzero(new_block)
    last = np.r_[first[1:] - 1, m - 1] if m else first
    ge, gt = np.empty(m), np.empty(m)
    ge[order] = upto[last[block]]  # weights ≥ this block's
    gt[order] = np.where(new_k[first], np.inf, upto[np.maximum(first - 1, 0)])[block]  # >
    yr = y[eg]
    suspect = np.flatnonzero((x > tol * n[eg]) & ((gt <= yr + tol) | (ge < yr - tol)))
    # pair each suspect receiver with every row of its resource: rows sorted by resource
    by_k = np.argsort(ek, kind="stable")
    start = np.searchsorted(ek[by_k], ek[suspect], side="left")
    count = np.searchsorted(ek[by_k], ek[suspect], side="right") - start
    recv = np.repeat(suspect, count)
    offset = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    c, o = eg[by_k[np.repeat(start, count) + offset]], eg[recv]
    higher = (w[c] > w[o]) & (y[c] <= y[o] + tol)
    lower = (w[c] >= w[o]) & (y[c] < y[o] - tol)
    keep = np.flatnonzero((c != o) & (y[c] < 1.0 - tol) & (higher | lower))
    keep = keep[np.lexsort((ek[recv][keep], o[keep], c[keep]))]
    return c[keep], o[keep], ek[recv][keep], x[recv][keep], higher[keep]


def _prefix_min_by_segment(v: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """Running minimum of ``v`` restarting wherever the sorted ``seg`` changes, exactly: values
    become their ranks, and each later segment is shifted below every earlier one."""
    if not len(v):
        return v
    uniq, rank = np.unique(v, return_inverse=True)
    s = np.cumsum(np.r_[True, seg[1:] != seg[:-1]]) - 1
    shift = (s[-1] - s) * (len(uniq) + 1)
    return uniq[np.minimum.accumulate(rank + shift) - shift]
