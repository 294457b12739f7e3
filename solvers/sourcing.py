"""Sourcing kernels: split sink demand over matched sources, on integer codes.

Every function takes matches as two aligned integer arrays ``src`` and ``sink`` (codes into
``capacity`` and ``demand``) and returns float arrays aligned with them. Nothing here knows of
keys, tables or files; the transforms in :mod:`transforms.sourcing` do the coding.

Groups (``by=`` in the transforms) need no special treatment: a source or sink code stands for a
(group…, name) pair, and a match only joins codes of one group, so every per-source and per-sink
sum below stays inside its group. The whole computation is a handful of ``np.bincount`` passes
over the matches, whatever the number of groups.

Summation order decides the last bits of a float sum, so callers that promise bit-identical
results under row permutations must pass matches in a canonical order (the transforms sort them
by source code, then sink code).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from solvers.registry import Registry

#: Residual capacity or demand at or below this fraction of the original counts as used up
#: when redistributing, so float rounding cannot start endless rounds over crumbs.
RESIDUAL_RTOL = 1e-9

#: Redistribution stops after this many rounds even if some crumbs could still move.
MAX_ROUNDS = 1_000

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


def _as_codes(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.intp)


def _exponent(*arrays: np.ndarray) -> int:
    """``e`` with the largest finite amount × 2**-e in [0.5, 1) (0 when all are 0).

    Scaling by a power of two is exact, so kernels that work on amounts × 2**-e and scale
    the result back give the same bits as unscaled arithmetic wherever that does not
    overflow or underflow, and stay finite where it would (sums of M amounts ≤ M).
    """
    top = max((float(np.max(a, initial=0.0)) for a in arrays), default=0.0)
    return int(np.frexp(top)[1]) if 0 < top < np.inf else 0


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
    src, sink = _as_codes(src), _as_codes(sink)
    n_sink = len(demand)
    # shares depend only on capacity ratios: compute them on capacity × 2**-e (exact)
    weight = np.ldexp(np.asarray(capacity, dtype=np.float64), -_exponent(capacity))[src]
    total = np.bincount(sink, weights=weight, minlength=n_sink)
    degree = np.bincount(sink, minlength=n_sink)
    zero_sinks = (total <= 0) & (degree > 0)
    dem = demand[sink]
    served = total[sink] > 0
    safe_total = np.where(total > 0, total, 1.0)
    flows = dem * weight / safe_total[sink]
    if zero_sinks.any():
        fallback = policy(dem, np.maximum(degree[sink], 1).astype(np.float64))
        flows = np.where(served, flows, fallback)
    return flows, zero_sinks


def scale_to_capacity(
    src: np.ndarray, flows: np.ndarray, capacity: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Scale the flows of every over-requested source by capacity / requested.

    Returns the scaled flows and the requested volume per source code (before scaling).

    >>> scaled, requested = scale_to_capacity(np.array([0, 0, 1]), np.array([200.0, 200.0, 50.0]),
    ...                                       np.array([300.0, 150.0]))
    >>> scaled.tolist(), requested.tolist()
    ([150.0, 150.0, 50.0], [400.0, 50.0])
    """
    src = _as_codes(src)
    requested = np.bincount(src, weights=flows, minlength=len(capacity))
    over = requested > capacity
    factor = np.divide(capacity, requested, out=np.ones_like(requested), where=over)
    return flows * factor[src], requested


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
    flows, requested = scale_to_capacity(src, flows, capacity)
    if tolerance == 0:
        return flows, flows.copy(), requested, zero_sinks
    # Steps 1-2 on demand × (1 − tol): the proportional pass is linear in demand, so every
    # source requests (1 − tol) × requested. A source still exhausted then keeps every flow
    # unchanged ("the flow does not shrink"); its sinks count the flow as flow / (1 − tol).
    exhausted = (1.0 - tolerance) * requested >= capacity
    marked = exhausted[src] & (flows > 0)
    return flows, np.where(marked, flows / (1.0 - tolerance), flows), requested, zero_sinks


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

    Returns
    -------
    DirectAllocation
        ``source_flow`` (source units) and ``sink_flow`` (sink units) per match, the number of
        rounds, and whether redistribution ended by itself (always True without it).

    Examples
    --------
    >>> res = direct_allocation(np.array([0, 1, 2]), np.array([0, 1, 2]),
    ...                         np.array([100.0, 460.0, 900.0]), np.full(3, 500.0), 0.1)
    >>> res.source_flow.tolist()
    [100.0, 460.0, 500.0]
    >>> res.sink_flow.round(4).tolist()
    [111.1111, 460.0, 500.0]
    """
    src, sink = _as_codes(src), _as_codes(sink)
    # Amounts in source and sink units meet in one comparison (requested > capacity): scale
    # both by one power of two so that per-source sums cannot overflow; scale back at the end.
    e = _exponent(capacity, demand)
    capacity = np.ldexp(np.asarray(capacity, dtype=np.float64), -e)
    demand = np.ldexp(np.asarray(demand, dtype=np.float64), -e)
    source_flow, sink_flow, requested, zero_sinks = _direct_round(
        src, sink, capacity, demand, tolerance
    )
    rounds, converged = 1, True
    if redistribute:
        rounds, converged = _redistribute(src, sink, capacity, demand, tolerance, max_rounds,
                                          source_flow, sink_flow)
    return DirectAllocation(np.ldexp(source_flow, e), np.ldexp(sink_flow, e), rounds, converged,
                            np.ldexp(requested, e), zero_sinks)


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
        spare = capacity - np.bincount(src, weights=source_flow, minlength=len(capacity))
        unmet = demand - np.bincount(sink, weights=sink_flow, minlength=len(demand))
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


def totals(codes: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Sum ``values`` per code (length ``n``), in array order.

    >>> totals(np.array([0, 2, 0]), np.array([1.0, 2.0, 3.0]), 3).tolist()
    [4.0, 0.0, 2.0]
    """
    return np.bincount(_as_codes(codes), weights=values, minlength=n)


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
    ``"over_demand"`` (sink codes, judged on ``sink_flow``) and ``"negative"`` (match positions).

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
    bad = ~(np.isfinite(source_flow) & np.isfinite(sink_flow))
    bad |= (source_flow < 0) | (sink_flow < 0)
    out["negative"] = np.flatnonzero(bad)
    return out
