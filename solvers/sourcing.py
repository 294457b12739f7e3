"""Sourcing kernels: split sink demand over matched sources, on integer codes.

Every function takes matches as two aligned integer arrays ``src`` and ``sink`` (codes into
``capacity`` and ``demand``) and returns float arrays aligned with them. Nothing here knows of
keys, tables or files; the transforms in :mod:`fairalloc.transforms.sourcing` do the coding.

Groups (``by=`` in the transforms) need no special treatment: a source or sink code stands for a
(group…, name) pair, and a match only joins codes of one group, so every per-source and per-sink
sum below stays inside its group. The whole computation is a handful of passes over the matches
(by blocks: :mod:`fairalloc.solvers.blocks`), whatever the number of groups.

Summation order decides the last bits of a float sum, so callers that promise bit-identical
results under row permutations must pass matches in a canonical order (the transforms sort them
by source code, then sink code).

Magnitudes. Every quantity is scaled per component, never by a global maximum: the weights of a
sink's sources by a power of two of their largest capacity (so shares neither underflow nor
overflow however far apart the capacities of unrelated sources are), and a source's scale-down
factor from its own requested volume (through exponents where the plain ratio would leave the
normal float range). Scaling by a power of two is exact, so results are the bits of unscaled
arithmetic wherever that stays in range, and multiplying every amount by 2**k multiplies every
flow by 2**k exactly. Any finite amounts ≥ 0 are accepted (up to float64's largest, about
1.8e308); totals in reports may then be infinite, flows never are.

Verification. :func:`verify_flows` checks every answer before it is returned — per source the
flows within capacity, per sink within demand (sink units), every flow finite and ≥ 0, each to
a relative tolerance of its own limit (:data:`fairalloc.solvers.verify.RTOL`). A source or sink over
its limit by more than that has its flows scaled back until their float sum fits (status
``"repaired"``); anything else raises :class:`~fairalloc.solvers.verify.SolverFailure` naming the
sources or sinks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fairalloc.solvers.blocks import as_codes, fresh, positions, row_blocks, totals
from fairalloc.solvers.registry import Registry
from fairalloc.solvers.verify import RTOL, SolverFailure, Status, check, over

#: Residual capacity or demand at or below this fraction of the original counts as used up
#: when redistributing, so float rounding cannot start endless rounds over crumbs.
RESIDUAL_RTOL = 1e-9

#: Redistribution stops after this many rounds even if some crumbs could still move.
MAX_ROUNDS = 1_000

#: What a sink whose matched sources all have capacity 0 gives them: each policy maps the
#: demand and degree of its sink, per match, to a flow per match, element by element (the
#: split calls it on the blocks' matches of such sinks alone).
ZERO_CAPACITY_POLICIES = Registry("on_zero_capacity policy")


@ZERO_CAPACITY_POLICIES.register("even")
def _even(demand_per_match: np.ndarray, degree_per_match: np.ndarray) -> np.ndarray:
    """All matched sources have capacity 0: split the demand equally among them."""
    return demand_per_match / degree_per_match


@ZERO_CAPACITY_POLICIES.register("zero")
def _zero(demand_per_match: np.ndarray, degree_per_match: np.ndarray) -> np.ndarray:
    """All matched sources have capacity 0: they get nothing."""
    return np.zeros_like(demand_per_match)


@ZERO_CAPACITY_POLICIES.register("raise")
def _raise(demand_per_match: np.ndarray, degree_per_match: np.ndarray) -> np.ndarray:
    """Like ``"zero"``; the caller raises on the ``zero_sinks`` mask it gets back."""
    return np.zeros_like(demand_per_match)


def _exponents(codes: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Per code (length ``n``), ``e`` with the largest of its ``values`` × 2**-e in [0.5, 1)
    (0 for codes without values or with only zeros).

    >>> _exponents(np.array([0, 0, 2]), np.array([3.0, 1e300, 0.25]), 3).tolist()
    [997, 0, -1]
    """
    top = np.zeros(n)
    np.maximum.at(top, codes, values)
    return np.frexp(top)[1]


def proportional_split(
    src: np.ndarray,
    sink: np.ndarray,
    capacity: np.ndarray,
    demand: np.ndarray,
    on_zero_capacity: str = "even",
) -> tuple[np.ndarray, np.ndarray]:
    """Split each sink's demand over its matched sources in proportion to their capacities.

    Parameters
    ----------
    src, sink : integer arrays of length M
        The matches, as codes into ``capacity`` and ``demand``.
    capacity : float array
        Capacity per source code (≥ 0).
    demand : float array
        Demand per sink code (≥ 0).
    on_zero_capacity : {"even", "zero", "raise"}
        What a sink whose matched sources all have capacity 0 does (see
        :data:`ZERO_CAPACITY_POLICIES`); ``"raise"`` computes like ``"zero"`` and leaves the
        raising to the caller, which gets the mask of such sinks.

    Returns
    -------
    flows : float array of length M
        ``demand[sink] * capacity[src] / Σ capacity`` over the sink's matched sources.
    zero_sinks : bool array over sink codes
        Sinks that have matches, all to sources of capacity 0.

    Examples
    --------
    >>> src, sink = np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])
    >>> flows, zero = proportional_split(src, sink, np.array([300.0, 150.0]),
    ...                                  np.array([300.0, 300.0]))
    >>> flows.tolist()
    [200.0, 200.0, 100.0, 100.0]
    """
    policy = ZERO_CAPACITY_POLICIES.get(on_zero_capacity)
    src, sink = as_codes(src), as_codes(sink)
    capacity = np.asarray(capacity, dtype=np.float64)
    demand = np.asarray(demand, dtype=np.float64)
    n_sink = len(demand)
    parts = row_blocks(len(src))
    # every pass by blocks: no temporary of the matches' length (see fairalloc.solvers.blocks)
    total = np.zeros(n_sink)
    touched = np.zeros(n_sink, dtype=bool)  # sinks with a source of capacity 0
    for part in parts:
        weight, s = np.take(capacity, src[part]), sink[part]
        with np.errstate(over="ignore"):  # a total beyond float range is inf (redone below)
            np.add.at(total, s, weight)  # in array order: np.bincount's bits
        touched[s[weight == 0]] = True
    # a matched sink with total 0 has only sources of capacity 0
    zero_sinks = (total <= 0) & touched
    any_zero = bool(zero_sinks.any())
    degree = totals(sink, None, n_sink) if any_zero else None
    # demand × capacity or the sink's total capacity out of the normal float range: redo those
    # sinks through exponents, scaled per sink (the same bits wherever plain arithmetic holds)
    odd = ~np.isfinite(total) | ((total > 0) & (total < _TINY))
    may_leave = _products_may_leave_range(capacity, demand)  # else no product can
    flows = fresh(len(src))
    for part in parts:
        s = sink[part]
        weight, dem, total_at = np.take(capacity, src[part]), np.take(demand, s), np.take(total, s)
        if any_zero:
            served = total_at > 0
            total_at[~served] = 1.0
        with np.errstate(over="ignore", under="ignore"):
            product = dem * weight
            np.divide(product, total_at, out=flows[part])
        if may_leave:
            odd[s[(product > _HUGE) | ((product < _TINY) & (dem > 0) & (weight > 0))]] = True
        if any_zero and not served.all():  # a zero sink is never odd: its total is 0
            idle = ~served
            flows[part][idle] = policy(dem[idle],
                                       np.maximum(degree[s[idle]], 1).astype(np.float64))
    if odd.any():
        sel = positions(odd, sink)
        s = sink[sel]
        flows[sel] = _shares_exactly(s, capacity[src[sel]], demand[s], n_sink)
    return flows, zero_sinks


def _products_may_leave_range(capacity: np.ndarray, demand: np.ndarray) -> bool:
    """Whether some capacity × demand may overflow or fall below the normal range.

    Rounding is monotonic, so every product of positive values lies between the rounded
    products of the smallest and of the largest positive ones (per table, not per match).
    """
    c, d = capacity[capacity > 0], demand[demand > 0]
    if not c.size or not d.size:
        return False
    with np.errstate(over="ignore", under="ignore"):
        return bool(c.max() * d.max() > _HUGE or c.min() * d.min() < _TINY)


_TINY = np.finfo(np.float64).tiny  # smallest normal float, 2**-1022
_HUGE = np.finfo(np.float64).max


def _shares_exactly(sink: np.ndarray, weight: np.ndarray, dem: np.ndarray, n: int
                    ) -> np.ndarray:
    """``dem × weight / Σ weight`` per sink without overflow or underflow on the way: weights
    scaled by a power of two of their sink's largest, mantissas multiplied, exponents added.

    >>> _shares_exactly(np.array([0, 0]), np.array([1e-300, 1e300]), np.array([1e300, 1e300]),
    ...                 1).tolist()
    [1e-300, 1e+300]
    """
    e = _exponents(sink, weight, n)[sink]
    # the sum on weights × 2**-e (each ≤ 1: a sink's sum is in [0.5, degree]); the numerator
    # on the mantissas of the unscaled weights, so a weight far below its sink's largest
    # keeps its digits
    total = np.bincount(sink, weights=np.ldexp(weight, -e), minlength=n)[sink]
    dm, de = np.frexp(dem)
    wm, we = np.frexp(weight)
    mant = np.divide(dm * wm, total, out=np.zeros_like(dm), where=total > 0)
    with np.errstate(over="ignore", under="ignore"):
        return np.ldexp(mant, de + we - e)


def scale_to_capacity(
    src: np.ndarray, flows: np.ndarray, capacity: np.ndarray, in_place: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Scale the flows of every over-requested source by capacity / requested.

    Returns the scaled flows and the requested volume per source code (before scaling).

    Parameters
    ----------
    src : numpy.ndarray
        Source code of each match.
    flows : numpy.ndarray
        Flow on each match.
    capacity : numpy.ndarray
        Capacity per source code.
    in_place : bool, default False
        Scale ``flows`` itself (and return it) instead of a copy.

    Returns
    -------
    scaled : numpy.ndarray
        The flows, scaled down at over-requested sources.
    requested : numpy.ndarray
        Requested volume per source code, before scaling.

    Examples
    --------
    >>> scaled, requested = scale_to_capacity(np.array([0, 0, 1]), np.array([200.0, 200.0, 50.0]),
    ...                                       np.array([300.0, 150.0]))
    >>> scaled.tolist(), requested.tolist()
    ([150.0, 150.0, 50.0], [400.0, 50.0])
    """
    src = as_codes(src)
    capacity = np.asarray(capacity, dtype=np.float64)
    requested = totals(src, flows, len(capacity))
    asked = requested > capacity
    factor = np.divide(capacity, requested, out=np.ones_like(requested), where=asked)
    # capacity / requested out of the normal range (an overflowing sum, or a ratio below
    # 2**-1022): scale those sources through exponents instead
    odd = asked & ((factor < np.finfo(np.float64).tiny) | ~np.isfinite(requested))
    scaled = flows if in_place else fresh(len(flows))
    factor[odd] = 1.0  # (those are redone below, from their flows as they are)
    for part in row_blocks(len(src)):
        np.multiply(np.take(factor, src[part]), flows[part], out=scaled[part])
    if odd.any():
        sel = positions(odd, src)
        scaled[sel], req = _scale_exactly(src[sel], flows[sel], capacity, len(capacity))
        requested = np.where(odd, req, requested)
    return scaled, requested


def _scale_exactly(codes: np.ndarray, flows: np.ndarray, limit: np.ndarray, n: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """``flows × limit / Σ flows`` per code, through exponents (no overflow or underflow
    beyond that of the result itself); also returns Σ flows per code (possibly inf)."""
    e = _exponents(codes, flows, n)
    total = np.bincount(codes, weights=np.ldexp(flows, -e[codes]), minlength=n)  # ≤ count
    mant, exp = np.frexp(limit)
    ratio = np.divide(mant, total, out=np.zeros(n), where=total > 0)
    fm, fe = np.frexp(flows)  # unscaled mantissas: a flow far below the largest keeps its digits
    with np.errstate(over="ignore", under="ignore"):
        return np.ldexp(fm * ratio[codes], fe - e[codes] + exp[codes]), np.ldexp(total, e)


@dataclass(frozen=True)
class DirectAllocation:
    """Flows of :func:`direct_allocation`, aligned with the matches."""

    source_flow: np.ndarray
    sink_flow: np.ndarray
    rounds: int
    converged: bool
    #: Volume asked of each source in the first proportional pass (before scaling).
    requested: np.ndarray
    #: Sinks whose matched sources all have capacity 0 (they get nothing).
    zero_sinks: np.ndarray
    #: optimal, repaired (flows scaled back onto a limit) or iteration_limit (redistribution
    #: cut off by ``max_rounds``: feasible, not maximal).
    status: str = Status.OPTIMAL
    #: Sources and sinks whose flows verification scaled back onto their limit.
    repaired: int = 0


def _direct_round(
    src: np.ndarray,
    sink: np.ndarray,
    capacity: np.ndarray,
    demand: np.ndarray,
    tolerance: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Steps 1–3 of direct sourcing once: proportional pass, scale-down, tolerance rule.

    Returns source flows, sink flows, the volume requested per source and the zero sinks.
    """
    flows, zero_sinks = proportional_split(src, sink, capacity, demand, "zero")
    flows, requested = scale_to_capacity(src, flows, capacity, in_place=True)
    sink_flow = fresh(len(flows))
    if tolerance == 0:
        np.copyto(sink_flow, flows)
        return flows, sink_flow, requested, zero_sinks
    # Steps 1-2 on demand × (1 − tol): the proportional pass is linear in demand, so every
    # source requests (1 − tol) × requested. A source still exhausted then keeps every flow
    # unchanged ("the flow does not shrink"); its sinks count the flow as flow / (1 − tol).
    exhausted = (1.0 - tolerance) * requested >= capacity
    for part in row_blocks(len(src)):
        f = sink_flow[part] = flows[part]
        marked = np.take(exhausted, src[part])
        marked &= f > 0
        np.divide(f, 1.0 - tolerance, out=sink_flow[part], where=marked)
    return flows, sink_flow, requested, zero_sinks


def direct_allocation(
    src: np.ndarray,
    sink: np.ndarray,
    capacity: np.ndarray,
    demand: np.ndarray,
    tolerance: float = 0.0,
    redistribute: bool = False,
    max_rounds: int = MAX_ROUNDS,
) -> DirectAllocation:
    """Allocate without exhausting supply: proportional split, scale-down, tolerance rule.

    Parameters
    ----------
    src, sink : integer arrays of length M
        The matches, as codes into ``capacity`` and ``demand``, in canonical order.
    capacity, demand : float arrays
        Per source code and per sink code.
    tolerance : float in [0, 1)
        Sink demands may be overstated by up to this fraction relative to source volumes.
    redistribute : bool
        Repeat the round on residual demand (in sink units) and residual capacity until no
        sink with unmet demand is matched to a source with spare capacity, nothing moves, or
        ``max_rounds`` rounds have run. Proportions in later rounds follow residual capacity.
        Running every round on the residual demand *in sink units* keeps each sink within its
        demand when the tolerance rule inflates sink volumes.
    max_rounds : int, default MAX_ROUNDS
        At most this many rounds with ``redistribute``.

    Returns
    -------
    DirectAllocation
        ``source_flow`` (source units) and ``sink_flow`` (sink units) per match, the number of
        rounds, whether redistribution ended by itself (always True without it) and the
        status. The answer is verified (:func:`verify_flows`) before it is returned.

    Raises
    ------
    SolverFailure
        The answer broke a limit in a way scaling cannot repair (a negative or non-finite
        flow); ``what`` is ``"source"`` or ``"sink"`` and ``codes`` name them.

    Examples
    --------
    >>> res = direct_allocation(np.array([0, 1, 2]), np.array([0, 1, 2]),
    ...                         np.array([100.0, 460.0, 900.0]), np.full(3, 500.0), 0.1)
    >>> res.source_flow.tolist()
    [100.0, 460.0, 500.0]
    >>> res.sink_flow.round(4).tolist()
    [111.1111, 460.0, 500.0]
    """
    src, sink = as_codes(src), as_codes(sink)
    capacity = np.asarray(capacity, dtype=np.float64)
    demand = np.asarray(demand, dtype=np.float64)
    source_flow, sink_flow, requested, zero_sinks = _direct_round(
        src, sink, capacity, demand, tolerance
    )
    rounds, converged = 1, True
    if redistribute:
        rounds, converged = _redistribute(src, sink, capacity, demand, tolerance, max_rounds,
                                          source_flow, sink_flow)
    status = Status.OPTIMAL if converged else Status.ITERATION_LIMIT
    source_flow, sink_flow, repaired = verify_flows(src, sink, source_flow, sink_flow,
                                                    capacity, demand, status)
    if repaired and converged:
        status = Status.REPAIRED
    return DirectAllocation(source_flow, sink_flow, rounds, converged, requested, zero_sinks,
                            status, repaired)


def proportional_allocation(
    src: np.ndarray,
    sink: np.ndarray,
    capacity: np.ndarray,
    demand: np.ndarray,
    on_zero_capacity: str = "even",
) -> tuple[np.ndarray, np.ndarray, str]:
    """:func:`proportional_split`, verified: flows, zero sinks and the status.

    Capacities may be exceeded by design (SPEC §1), so only demand (per sink) and
    non-negativity are checked; a sink over its demand beyond float noise is scaled back
    (status ``"repaired"``).

    Parameters
    ----------
    src : numpy.ndarray
        Source code of each match.
    sink : numpy.ndarray
        Sink code of each match.
    capacity : numpy.ndarray
        Capacity per source code (≥ 0).
    demand : numpy.ndarray
        Demand per sink code (≥ 0).
    on_zero_capacity : {"even", "zero", "raise"}, default "even"
        As for :func:`proportional_split`.

    Returns
    -------
    flows : numpy.ndarray
        Flow per match.
    zero_sinks : numpy.ndarray
        Boolean per sink code: matched only to sources of capacity 0.
    status : str
        ``"optimal"`` or ``"repaired"``.

    Raises
    ------
    fairalloc.solvers.verify.SolverFailure
        A negative or non-finite flow.

    Examples
    --------
    >>> flows, zero, status = proportional_allocation(np.array([0, 1]), np.array([0, 0]),
    ...                                               np.array([50.0, 1e300]), np.array([8.0]))
    >>> flows.tolist(), str(status)
    ([4e-298, 8.0], 'optimal')
    """
    flows, zero_sinks = proportional_split(src, sink, capacity, demand, on_zero_capacity)
    flows, _, repaired = verify_flows(as_codes(src), as_codes(sink), flows, None, None,
                                      np.asarray(demand, dtype=np.float64))
    return flows, zero_sinks, Status.REPAIRED if repaired else Status.OPTIMAL


def verify_flows(
    src: np.ndarray,
    sink: np.ndarray,
    source_flow: np.ndarray,
    sink_flow: np.ndarray | None,
    capacity: np.ndarray | None,
    demand: np.ndarray,
    status: str = Status.OPTIMAL,
    repair: bool = True,
    rtol: float = RTOL,
) -> tuple[np.ndarray, np.ndarray | None, int]:
    """Check a sourcing answer; repair it exactly where scaling can; else raise.

    Rules: every flow finite and ≥ 0; per source (unless ``capacity`` is None) Σ source flow
    ≤ capacity; per sink Σ sink flow (``source_flow`` when ``sink_flow`` is None) ≤ demand;
    each within ``rtol`` of its own limit. With ``repair``, the flows of a source over its
    capacity, then of a sink over its demand, are scaled down (source and sink flows of a match
    by one factor, so their ratio stays) until the float sum is at most the limit. O(matches).

    Returns the (possibly repaired, else the same) flows and how many sources and sinks were
    repaired.

    Parameters
    ----------
    src : numpy.ndarray
        Source code of each match.
    sink : numpy.ndarray
        Sink code of each match.
    source_flow : numpy.ndarray
        Flow per match in source units.
    sink_flow : numpy.ndarray or None
        Flow per match in sink units; None when they equal the source units.
    capacity : numpy.ndarray or None
        Capacity per source code; None skips the capacity rule.
    demand : numpy.ndarray
        Demand per sink code.
    status : str, default "optimal"
        The solver's status, carried by a failure.
    repair : bool, default True
        Scale breaches back onto their limit instead of raising.
    rtol : float, default RTOL
        Relative slack of each limit.

    Returns
    -------
    source_flow : numpy.ndarray
        The source flows, repaired where needed.
    sink_flow : numpy.ndarray or None
        The sink flows, repaired where needed (None when given None).
    repaired : int
        How many sources and sinks were scaled back.

    Raises
    ------
    SolverFailure
        A flow is negative, NaN or infinite (``what="source"``, codes of its sources), or a
        limit is broken and ``repair`` is False (``what="source"`` / ``"sink"``).

    Examples
    --------
    >>> src, sink = np.array([0, 0]), np.array([0, 1])
    >>> flows, _, n = verify_flows(src, sink, np.array([3.0, 1.0]), None, np.array([2.0]),
    ...                            np.array([5.0, 5.0]))
    >>> flows.tolist(), n
    ([1.5, 0.5], 1)
    >>> verify_flows(src, sink, np.array([3.0, 1.0]), None, np.array([2.0]),
    ...              np.array([5.0, 5.0]), repair=False)
    Traceback (most recent call last):
    ...
    fairalloc.solvers.verify.SolverFailure: sourcing: status optimal, but the answer exceeds \
source \
capacity at 1 of them (codes [0])
    """
    flows = [np.asarray(source_flow, dtype=np.float64)]
    if sink_flow is not None:
        flows.append(np.asarray(sink_flow, dtype=np.float64))
    bad = _bad_flows(flows)
    if bad.size:
        codes = np.unique(src[bad])
        raise SolverFailure(
            "sourcing", status,
            f"status {status}, but {bad.size} flow(s) are negative or not finite, "
            f"from {len(codes)} source(s) (codes {codes[:10].tolist()})",
            "source", codes[:10], "non-negativity",
        )
    repaired = 0
    limits = [] if capacity is None else [("source", "capacity", src, 0, capacity)]
    limits.append(("sink", "demand", sink, len(flows) - 1, demand))
    for what, name, codes, which, limit in limits:
        if repair:
            hit = over(totals(codes, flows[which], len(limit)), limit, rtol)
            if hit.any():
                flows = _shrink(codes, hit, limit, flows, which, what)
                repaired += int(hit.sum())
            else:
                continue
        check("sourcing", status, what, name, totals(codes, flows[which], len(limit)), limit,
              rtol)
    if sink_flow is None:
        return flows[0], None, repaired
    return flows[0], flows[1], repaired


def _shrink(codes: np.ndarray, hit: np.ndarray, limit: np.ndarray, flows: list[np.ndarray],
            which: int, what: str) -> list[np.ndarray]:
    """Scale the flows of the codes in ``hit`` (all arrays of ``flows`` alike) so that each
    code's float sum of ``flows[which]`` is at most its limit: limit / sum first (through
    exponents, so a sum beyond float range still scales right), then one float step down at
    a time for those still over."""
    flows = [f.copy() for f in flows]
    sel = np.flatnonzero(hit[codes])
    c, n = codes[sel], len(limit)
    part = flows[which][sel]
    with np.errstate(divide="ignore", invalid="ignore"):
        new, _ = _scale_exactly(c, part, limit, n)
        factor = np.where(part > 0, new / part, 0.0)
    for step in range(64):
        if step:
            factor = np.nextafter(factor, 0.0)
        got = [f[sel] * factor for f in flows]
        still = np.bincount(c, weights=got[which], minlength=n) > limit
        done = ~still[c]
        for f, g in zip(flows, got, strict=True):
            f[sel[done]] = g[done]
        if not still.any():
            return flows
        sel, c, factor = sel[~done], c[~done], factor[~done]
    raise SolverFailure("sourcing", Status.ERROR, "could not scale flows below their limit",
                        what, np.unique(c)[:10])


def _redistribute(
    src: np.ndarray,
    sink: np.ndarray,
    capacity: np.ndarray,
    demand: np.ndarray,
    tolerance: float,
    max_rounds: int,
    source_flow: np.ndarray,
    sink_flow: np.ndarray,
) -> tuple[int, bool]:
    """Further rounds on residual capacity and residual (sink-unit) demand, adding to the flows
    in place; returns the number of rounds in all and whether it ended by itself."""
    cap_floor = RESIDUAL_RTOL * capacity
    dem_floor = RESIDUAL_RTOL * demand
    rounds, converged = 1, False
    while rounds < max_rounds:
        spare = capacity - totals(src, source_flow, len(capacity))
        unmet = demand - totals(sink, sink_flow, len(demand))
        spare = np.where(spare > cap_floor, spare, 0.0)
        unmet = np.where(unmet > dem_floor, unmet, 0.0)
        active = np.flatnonzero((spare[src] > 0) & (unmet[sink] > 0))
        if active.size == 0:
            converged = True
            break
        flow, sflow, _, _ = _direct_round(src[active], sink[active], spare, unmet, tolerance)
        if not (flow > 0).any():
            converged = True
            break
        source_flow[active] += flow
        sink_flow[active] += sflow
        rounds += 1
    return rounds, converged


def _bad_flows(flows: list[np.ndarray]) -> np.ndarray:
    """Positions of the matches where some flow of ``flows`` is negative, NaN or infinite.

    Two reductions per array settle the usual case (the smallest flow ≥ 0 and the largest
    finite: a NaN makes both comparisons false); only then are the positions looked for.
    """
    with np.errstate(invalid="ignore"):
        if all(f.size == 0 or (f.min() >= 0 and f.max() < np.inf) for f in flows):
            return np.empty(0, np.intp)
    found = []
    for part in row_blocks(len(flows[0])):
        ok = np.ones(len(flows[0][part]), dtype=bool)
        for f in flows:
            ok &= np.isfinite(f[part]) & (f[part] >= 0)
        if not ok.all():
            found.append(np.flatnonzero(~ok) + part.start)
    return np.concatenate(found) if found else np.empty(0, np.intp)


def conservation_violations(
    src: np.ndarray,
    sink: np.ndarray,
    source_flow: np.ndarray,
    sink_flow: np.ndarray,
    capacity: np.ndarray | None,
    demand: np.ndarray,
    rtol: float = 1e-9,
) -> dict[str, np.ndarray]:
    """Codes breaking conservation, with a relative float tolerance ``rtol``.

    Returns a dict with ``"over_capacity"`` (source codes; skipped when ``capacity`` is None),
    ``"over_demand"`` (sink codes, judged on ``sink_flow``) and ``"negative"`` (positions of the
    matches with a negative or non-finite flow).

    Parameters
    ----------
    src : numpy.ndarray
        Source code of each match.
    sink : numpy.ndarray
        Sink code of each match.
    source_flow : numpy.ndarray
        Flow per match in source units.
    sink_flow : numpy.ndarray
        Flow per match in sink units.
    capacity : numpy.ndarray or None
        Capacity per source code; None skips the capacity rule.
    demand : numpy.ndarray
        Demand per sink code.
    rtol : float, default 1e-9
        Relative slack of each limit.

    Returns
    -------
    dict of str to numpy.ndarray
        Codes per rule (see above).

    Examples
    --------
    >>> v = conservation_violations(np.array([0]), np.array([0]), np.array([2.0]),
    ...                             np.array([2.0]), np.array([1.0]), np.array([5.0]))
    >>> v["over_capacity"].tolist(), v["over_demand"].tolist(), v["negative"].tolist()
    ([0], [], [])
    """
    out: dict[str, np.ndarray] = {}
    if capacity is not None:
        used = totals(src, source_flow, len(capacity))
        out["over_capacity"] = np.flatnonzero(used > capacity * (1 + rtol))
    received = totals(sink, sink_flow, len(demand))
    out["over_demand"] = np.flatnonzero(received > demand * (1 + rtol))
    out["negative"] = _bad_flows([source_flow, sink_flow])
    return out
