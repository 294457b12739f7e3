"""Sourcing: split sink demand over matched sources (SPEC §1).

``proportional_sourcing`` shows how much each source is asked for; ``direct_sourcing`` never
exceeds a source's capacity, optionally redistributes what is left, and converts source volumes
to sink units with a relative tolerance.

Inputs (every function)
    ``matches``: pairs source → sink, as a pandas or polars DataFrame with columns ``source`` and
    ``sink`` (plus the ``by`` columns), a pandas MultiIndex, or an iterable of tuples
    ``(*by, source, sink)``. Duplicate pairs collapse to one.
    ``source_capacity`` / ``sink_demand``: amounts ≥ 0, as a dict (tuple keys with ``by``), a
    pandas Series indexed by the keys, or a pandas/polars DataFrame with columns ``source`` +
    ``capacity`` / ``sink`` + ``demand`` (plus the ``by`` columns).
    Keys are str or int. Every source and sink named in a match needs a capacity / demand; keys
    that no match names are allowed and get nothing.

Outputs
    Float Series indexed by ``(source, sink)``, or ``(*by, source, sink)``, sorted by those keys,
    so that any permutation of the input rows gives the same Series bit for bit. Its
    ``attrs["report"]`` holds a :class:`SourcingReport`: totals, unallocated demand, sinks that
    no match serves, rounds, status and wall time.

Decisions where the spec is silent (documented here and relied on by the tests)
    * A sink with demand but no match is not an error: its demand counts as unallocated and the
      report names it (it cannot appear in a table indexed by matches).
    * Empty ``matches`` (or an empty capacity or demand table) raise
      :class:`~fairalloc.transforms.errors.EmptyInputError`.
    * Conservation checks allow a relative float slack of 1e-9 of each source's capacity and
      each sink's demand (never of a global total).
    * A pandas MultiIndex of matches is read by level name when its levels are named, by
      position (``*by, source, sink``) when they are not.
    * Amounts are computed after exact power-of-two rescalings per sink and per source, so very
      large or very small magnitudes neither overflow nor underflow, even far apart in one
      instance; ``-0.0`` is read as ``0.0``. Any finite amount ≥ 0 is accepted.
    * Booleans are not amounts or keys (an :class:`~fairalloc.transforms.errors.InputTypeError`
      naming them); flags (``run_qa``, ``redistribute``) take only True / False.
    * Every exception leaving these functions is a
      :class:`~fairalloc.transforms.errors.FairallocError`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fairalloc.schemas import sourcing as contract
from fairalloc.solvers import sourcing as kernels
from fairalloc.solvers.blocks import gather, mark
from fairalloc.solvers.verify import Status
from fairalloc.transforms._params import choice, flag, number
from fairalloc.transforms._report import Report, stopwatch
from fairalloc.transforms._tables import (
    KeyedTable,
    code_rows,
    hashed_string_codes,
    key_level,
    key_tuples,
    level,
    multi_index,
    require_rows,
    table_input,
    to_polars,
    unique_code_pairs,
    workers,
)
from fairalloc.transforms.errors import ParameterError, ZeroCapacityError, public, translated
from fairalloc.transforms.options import SOURCING

log = logging.getLogger(__name__)

# column names from the table definitions (fairalloc.schemas.sourcing)
SOURCE, SINK = contract.SOURCE.name, contract.SINK.name
CAPACITY, DEMAND = contract.SOURCE_CAPACITY.values[0].name, contract.SINK_DEMAND.values[0].name


@dataclass(frozen=True)
class SourcingReport(Report):
    """What a sourcing run did: the pipeline shows these as asset metadata.

    Amounts in source units unless named ``*_sink_units``. ``unallocated_demand`` is total
    demand minus what sinks received, in sink units.
    """

    method: str
    groups: int
    matches: int
    duplicate_matches: int
    sources: int
    sinks: int
    total_capacity: float
    total_demand: float
    allocated: float
    allocated_sink_units: float
    unallocated_demand: float
    unmatched_sinks: int
    unmatched_sink_keys: tuple
    zero_capacity_sinks: int
    over_capacity_sources: int
    relative_tolerance: float
    rounds: int
    converged: bool
    #: Sources and sinks whose flows verification scaled back onto their limit (then status
    #: is "repaired", unless redistribution was cut off: "iteration_limit").
    repaired: int = 0


@dataclass(frozen=True)
class _Problem:
    """Matches coded against the sorted capacity and demand tables."""

    src: np.ndarray
    sink: np.ndarray
    sources: KeyedTable
    sinks: KeyedTable
    by: tuple[str, ...]
    duplicates: int

    @property
    def capacity(self) -> np.ndarray:
        return self.sources.values

    @property
    def demand(self) -> np.ndarray:
        return self.sinks.values

    def index_levels(self) -> Future:
        """The levels of :meth:`index`, started on a
        :func:`~fairalloc.transforms._tables.workers` thread while the caller runs the kernels
        on the same codes (which it only reads): marking the keys in use, dropping the rest,
        wrapping the key columns (at 10^6 matches 5–7 ms, hidden behind the kernels' 20 ms on
        the other core; numpy, polars and arrow let go of the GIL). Its exceptions surface at
        ``result()``."""

        def levels() -> tuple[list, tuple | None, np.ndarray]:
            matched = mark(self.sink, len(self.sinks))
            parts = [level(self.sources, c, self.src) for c in self.by]
            if self.by:  # tables keyed by (*by, name): each name gets a level and codes of its own
                parts += [level(self.sources, SOURCE, self.src),
                          level(self.sinks, SINK, self.sink)]
                return parts, None, matched
            return parts, (key_level(self.sources, SOURCE, self.src),
                           key_level(self.sinks, SINK, self.sink, used=matched)), matched

        return workers().submit(levels)

    def index(self, levels: Future) -> tuple[pd.MultiIndex, np.ndarray]:
        """The (``*by``, source, sink) index of the coded matches, levels sorted, and which
        sinks have matches (by sink code), from :meth:`index_levels`.

        Without ``by``, ``src`` and ``sink`` become the index's codes, rewritten in place where
        a key is unused (no fresh arrays of the matches' length: 80 MB at 10^7): whatever needs
        them as table codes runs before.
        """
        parts, remaps, matched = levels.result()
        if remaps is not None:
            for (keys, remap), codes in zip(remaps, (self.src, self.sink), strict=True):
                parts.append((keys, codes if remap is None else gather(remap, codes, out=codes)))
        return multi_index(parts), matched

    def labels(self) -> dict:
        """Keys by code, for naming the sources / sinks of a solver failure."""
        return {"source": self.sources.labels(), "sink": self.sinks.labels()}

    def groups(self) -> int:
        if not self.by:
            return 1
        return self.sources.frame.select(self.by).unique().height


def _by_columns(by: str | Sequence[str] | None) -> tuple[str, ...]:
    if by is None:
        return ()
    cols = (by,) if isinstance(by, str) else tuple(by)
    reserved = (SOURCE, SINK, CAPACITY, DEMAND)
    bad = [c for c in cols if not isinstance(c, str) or c in reserved]
    if bad or len(set(cols)) != len(cols):
        raise ParameterError(f"by must name distinct extra key columns (not {reserved})", bad)
    return cols


def _prepare(matches: Any, source_capacity: Any, sink_demand: Any, by: Any) -> _Problem:
    cols = _by_columns(by)
    src_keys, sink_keys = [*cols, SOURCE], [*cols, SINK]
    sources = table_input(source_capacity, contract.SOURCE_CAPACITY, by=cols,
                          what="source_capacity")
    sinks = table_input(sink_demand, contract.SINK_DEMAND, by=cols, what="sink_demand")
    # int32 codes below 2^31 keys: the kernels take them by blocks. Large pandas tables of
    # arrow strings are coded straight from arrow; anything else (and any row to refuse) goes
    # the general way, which names the keys
    codes = None if cols else hashed_string_codes(
        matches, [(sources, SOURCE), (sinks, SINK)], narrow=True)
    if codes is None:
        m = to_polars(matches, [*cols, SOURCE, SINK], what="matches")
        require_rows(m, "matches")
        codes = code_rows(
            m, [(sources, src_keys, "source"), (sinks, sink_keys, "sink")], what="matches",
            narrow=True,
        )
    src, sink, dups = unique_code_pairs(codes, len(sinks))  # (the codes are let go)
    return _Problem(src, sink, sources, sinks, cols, dups)


def _unmatched(problem: _Problem, matched: np.ndarray) -> tuple[int, tuple]:
    lonely = np.flatnonzero(~matched & (problem.demand > 0))
    keys = key_tuples(problem.sinks.frame, problem.sinks.keys, lonely[:10])
    return len(lonely), tuple(keys)


def _report(problem: _Problem, matched: np.ndarray, method: str, source_flow: np.ndarray,
            sink_flow: np.ndarray, seconds: float, **extra: Any) -> SourcingReport:
    n_unmatched, unmatched_keys = _unmatched(problem, matched)
    with np.errstate(over="ignore"):  # totals beyond float range are reported as inf
        total_demand, total_capacity = float(problem.demand.sum()), float(problem.capacity.sum())
        received, allocated = float(sink_flow.sum()), float(source_flow.sum())
    fields = dict(
        status=str(Status.OPTIMAL),
        wall_time_s=seconds,
        method=method,
        groups=problem.groups(),
        matches=len(problem.src),
        duplicate_matches=problem.duplicates,
        sources=len(problem.sources),
        sinks=len(problem.sinks),
        total_capacity=total_capacity,
        total_demand=total_demand,
        allocated=allocated,
        allocated_sink_units=received,
        unallocated_demand=max(total_demand - received, 0.0),
        unmatched_sinks=n_unmatched,
        unmatched_sink_keys=unmatched_keys,
        relative_tolerance=0.0,
        rounds=1,
        converged=True,
    )
    fields.update(extra)
    return SourcingReport(**fields)


def _series(values: np.ndarray, index: pd.MultiIndex, name: str, report: SourcingReport):
    s = pd.Series(values, index=index, name=name, copy=False)
    s.attrs["report"] = report
    return s


@public("sourcing")
def proportional_sourcing(
    matches: Any,
    sink_demand: Any,
    source_capacity: Any,
    on_zero_capacity: str = SOURCING.on_zero_capacity,
    by: str | Sequence[str] | None = None,
) -> pd.Series:
    """Split every sink's whole demand over its matched sources in proportion to capacity.

    Source capacities may be exceeded: the result shows how much each source is asked for.

    Parameters
    ----------
    matches : pandas.DataFrame, polars.DataFrame, pandas.MultiIndex or iterable of tuple
        Pairs source → sink (plus the ``by`` columns); see the module docstring.
    sink_demand : dict, pandas.Series, pandas.DataFrame or polars.DataFrame
        Demand ≥ 0 of every sink named in ``matches``; see the module docstring.
    source_capacity : dict, pandas.Series, pandas.DataFrame or polars.DataFrame
        Capacity ≥ 0 of every source named in ``matches``; see the module docstring.
    on_zero_capacity : {"even", "zero", "raise"}
        When every source matched to a sink has capacity 0: split the demand equally among
        them, give them 0, or raise :class:`~fairalloc.transforms.errors.ZeroCapacityError` naming
        the sinks.
    by : str or list of str, optional
        Extra key columns present in all three inputs (e.g. ``["commodity", "year"]``); the
        allocation runs independently inside each group and these columns lead the index.

    Returns
    -------
    pandas.Series
        Float volumes named ``"volume"``, indexed by ``(source, sink)`` (or
        ``(*by, source, sink)``), sorted; ``attrs["report"]`` is a :class:`SourcingReport`.

    Raises
    ------
    fairalloc.transforms.errors.ZeroCapacityError
        ``on_zero_capacity="raise"`` and every source matched to some sinks has capacity 0.
    fairalloc.transforms.errors.UnknownKeyError
        A match names a source or sink that has no capacity or demand.
    fairalloc.transforms.errors.DuplicateKeyError
        A source or sink is given two different amounts.
    fairalloc.transforms.errors.InvalidAmountError
        An amount is NaN, infinite or negative.
    fairalloc.transforms.errors.EmptyInputError
        ``matches``, ``sink_demand`` or ``source_capacity`` has no rows.
    fairalloc.transforms.errors.InputTypeError
        An input of the wrong type, columns or dtypes (bools included).
    fairalloc.transforms.errors.ParameterError
        ``on_zero_capacity`` is not one of the three policies.
    fairalloc.transforms.errors.SolverError
        The computed allocation breaks an invariant that cannot be repaired.

    Examples
    --------
    >>> matches = [("A", "X"), ("A", "Y"), ("B", "X"), ("B", "Y")]
    >>> proportional_sourcing(matches, {"X": 300, "Y": 300}, {"A": 300, "B": 150})
    source  sink
    A       X       200.0
            Y       200.0
    B       X       100.0
            Y       100.0
    Name: volume, dtype: float64
    """
    choice("on_zero_capacity", on_zero_capacity, kernels.ZERO_CAPACITY_POLICIES)
    with stopwatch() as sw:
        problem = _prepare(matches, source_capacity, sink_demand, by)
        levels = problem.index_levels()
        with translated("sourcing", labels=problem.labels()):
            flows, zero_sinks, status = kernels.proportional_allocation(
                problem.src, problem.sink, problem.capacity, problem.demand, on_zero_capacity
            )
        if on_zero_capacity == "raise" and zero_sinks.any():
            rows = np.flatnonzero(zero_sinks)
            raise ZeroCapacityError(
                "every source matched to these sinks has capacity 0",
                key_tuples(problem.sinks.frame, problem.sinks.keys, rows[:10]),
                len(rows),
            )
        requested = kernels.totals(problem.src, flows, len(problem.sources))
        index, matched = problem.index(levels)  # (the codes are the index's from here on)
    report = _report(
        problem, matched, "proportional", flows, flows, sw.seconds,
        zero_capacity_sinks=int(zero_sinks.sum()),
        over_capacity_sources=int((requested > problem.capacity).sum()),
        status=str(status),
    )
    log.info("proportional_sourcing: %d matches, %.6g allocated in %.3fs",
             report.matches, report.allocated, report.wall_time_s)
    return _series(flows, index, "volume", report)


@public("sourcing")
def direct_sourcing(
    matches: Any,
    source_capacity: Any,
    sink_demand: Any,
    relative_tolerance: float = SOURCING.relative_tolerance,
    run_qa: bool = SOURCING.run_qa,
    redistribute: bool = SOURCING.redistribute,
    by: str | Sequence[str] | None = None,
) -> tuple[pd.Series, pd.Series]:
    """Allocate sink demand to matched sources without exhausting supply.

    1. Proportional pass (sources of capacity 0 get nothing).
    2. Every source asked for more than its capacity scales its flows by capacity / requested.
    3. With ``relative_tolerance`` = tol, sink demands may be overstated by up to tol: on a
       match whose source stays exhausted even when every sink demand is reduced by tol, the
       sink receives source volume / (1 − tol); elsewhere sink volume = source volume.
    4. Every answer is verified before it is returned, whatever ``run_qa``: no source above
       its capacity, no sink above its demand (sink units), every volume finite and ≥ 0, each
       to a relative slack of 1e-9 of its own limit. A source or sink beyond that has its
       flows scaled back exactly onto its limit (report status ``"repaired"``); a negative or
       non-finite volume raises :class:`~fairalloc.transforms.errors.SolverError` naming the
       sources. ``run_qa=True`` (SPEC §1 step 4) also re-checks the final answer strictly, with no
       repair, by the same solver-layer check (O(matches)), raising
       :class:`~fairalloc.transforms.errors.SolverError` naming the sources or sinks.

    Parameters
    ----------
    matches : pandas.DataFrame, polars.DataFrame, pandas.MultiIndex or iterable of tuple
        Pairs source → sink (plus the ``by`` columns); see the module docstring.
    source_capacity : dict, pandas.Series, pandas.DataFrame or polars.DataFrame
        Capacity ≥ 0 of every source named in ``matches``; see the module docstring.
    sink_demand : dict, pandas.Series, pandas.DataFrame or polars.DataFrame
        Demand ≥ 0 of every sink named in ``matches``; see the module docstring.
    relative_tolerance : float in [0, 1)
        A number (numpy scalars too; not a bool).
    run_qa : bool
        True or False only (``"no"`` or ``1`` are refused).
    redistribute : bool
        Repeat steps 1–3 on residual demand and residual capacity until no sink with unmet
        demand is matched to a source with spare capacity (or nothing moves); proportions in
        each round follow residual capacity. Residual demand is counted in sink units, so the
        tolerance rule can never push a sink over its demand. Amounts within 1e-9 (relative,
        per source and per sink) of used up count as used up; at most 1 000 rounds: a run cut
        off there is still verified feasible but not maximal, and its report says status
        ``"iteration_limit"`` and ``converged=False``.
    by : str or list of str, optional
        Extra key columns present in all three inputs; groups are allocated independently in
        one vectorised pass and lead the index.

    Returns
    -------
    source_allocation : pandas.Series
        Source volumes named ``"source_volume"``, indexed by ``(source, sink)`` (or
        ``(*by, source, sink)``), sorted.
    sink_allocation : pandas.Series
        Sink volumes named ``"sink_volume"``, on the same index. Both Series carry the
        :class:`SourcingReport` in ``attrs["report"]``; its ``status`` is ``"optimal"``,
        ``"repaired"`` or ``"iteration_limit"``.

    Raises
    ------
    fairalloc.transforms.errors.UnknownKeyError
        A match names a source or sink that has no capacity or demand.
    fairalloc.transforms.errors.DuplicateKeyError
        A source or sink is given two different amounts.
    fairalloc.transforms.errors.InvalidAmountError
        An amount is NaN, infinite or negative.
    fairalloc.transforms.errors.EmptyInputError
        ``matches``, ``source_capacity`` or ``sink_demand`` has no rows.
    fairalloc.transforms.errors.InputTypeError
        An input of the wrong type, columns or dtypes (bools included).
    fairalloc.transforms.errors.ParameterError
        ``relative_tolerance`` outside [0, 1), or a flag that is not True / False.
    fairalloc.transforms.errors.SolverError
        A negative or non-finite volume, or (``run_qa=True``) a source or sink over its limit
        in the final answer; the message names the sources or sinks.

    Notes
    -----
    Amounts are scaled per sink and per source (never by a global maximum), so any finite
    amounts ≥ 0 in one instance work: a huge capacity elsewhere does not underflow small flows.

    Examples
    --------
    >>> src, snk = direct_sourcing([("A", "X"), ("B", "Y"), ("C", "Z")],
    ...                            {"A": 100, "B": 460, "C": 900},
    ...                            {"X": 500, "Y": 500, "Z": 500}, relative_tolerance=0.1)
    >>> src.tolist()
    [100.0, 460.0, 500.0]
    >>> snk.round(2).tolist()
    [111.11, 460.0, 500.0]
    """
    tol = number("relative_tolerance", relative_tolerance,
                 **SOURCING.option("relative_tolerance").bounds())
    run_qa = flag("run_qa", run_qa)
    redistribute = flag("redistribute", redistribute)
    with stopwatch() as sw:
        problem = _prepare(matches, source_capacity, sink_demand, by)
        levels = problem.index_levels()
        with translated("sourcing", labels=problem.labels()):
            result = kernels.direct_allocation(
                problem.src, problem.sink, problem.capacity, problem.demand, tol, redistribute
            )
            if run_qa:
                kernels.verify_flows(problem.src, problem.sink, result.source_flow,
                                     result.sink_flow, problem.capacity, problem.demand,
                                     result.status, repair=False)
        index, matched = problem.index(levels)  # (the codes are the index's from here on)
    report = _report(
        problem, matched, "direct", result.source_flow, result.sink_flow, sw.seconds,
        zero_capacity_sinks=int(result.zero_sinks.sum()),
        over_capacity_sources=int((result.requested > problem.capacity).sum()),
        relative_tolerance=tol,
        rounds=result.rounds,
        converged=result.converged,
        status=str(result.status),
        repaired=result.repaired,
    )
    if not result.converged:
        log.warning("direct_sourcing: redistribution stopped after %d rounds", result.rounds)
    if result.repaired:
        log.warning("direct_sourcing: %d source(s)/sink(s) over their limit were scaled back",
                    result.repaired)
    log.info("direct_sourcing: %d matches, %.6g allocated in %d round(s), %.3fs",
             report.matches, report.allocated, report.rounds, report.wall_time_s)
    return (
        _series(result.source_flow, index, "source_volume", report),
        _series(result.sink_flow, index, "sink_volume", report),
    )


@public("sourcing")
def conservation_violations(
    allocation: pd.Series | pd.DataFrame,
    source_capacity: Any,
    sink_demand: Any,
    by: str | Sequence[str] | None = None,
    *,
    check_capacity: bool = True,
    rtol: float = 1e-9,
) -> pd.DataFrame:
    """Every conservation breach of a sourcing allocation, one row each (empty when none).

    Works on any table indexed by ``(*by, source, sink)``: a Series (its values count in
    source and sink units), or a DataFrame with ``source_volume`` and ``sink_volume`` (or one
    ``volume``) column. Rules: ``"over_capacity"`` (a source's total source volume above its
    capacity; skipped with ``check_capacity=False``, as proportional sourcing may exceed it),
    ``"over_demand"`` (a sink's total sink volume above its demand), ``"negative"`` (a negative
    or non-finite volume on a match). A relative slack ``rtol`` absorbs float rounding.

    Parameters
    ----------
    allocation : pandas.Series or pandas.DataFrame
        Volumes indexed by ``(*by, source, sink)``: a Series, or a DataFrame with columns
        ``source_volume`` and ``sink_volume`` (or one ``volume``).
    source_capacity : dict, pandas.Series, pandas.DataFrame or polars.DataFrame
        Capacity of every source in ``allocation``, in the forms the transforms accept.
    sink_demand : dict, pandas.Series, pandas.DataFrame or polars.DataFrame
        Demand of every sink in ``allocation``, in the forms the transforms accept.
    by : str or list of str, optional
        The extra key columns leading the index, as given to the transform.
    check_capacity : bool, default True
        Report ``"over_capacity"`` sources; False for proportional sourcing, which may
        exceed capacity.
    rtol : float, default 1e-9
        Relative slack (≥ 0) of each source's capacity and each sink's demand.

    Returns
    -------
    pandas.DataFrame
        Columns ``rule``, ``key`` (the source, sink or match), ``amount``, ``limit``.

    Raises
    ------
    fairalloc.transforms.errors.UnknownKeyError
        ``allocation`` names a source or sink missing from ``source_capacity`` or
        ``sink_demand``.
    fairalloc.transforms.errors.DuplicateKeyError
        A source or sink is given two different capacities or demands.
    fairalloc.transforms.errors.InvalidAmountError
        A capacity or demand is NaN, infinite or negative.
    fairalloc.transforms.errors.EmptyInputError
        ``source_capacity`` or ``sink_demand`` has no rows.
    fairalloc.transforms.errors.InputTypeError
        An input of the wrong type, columns or dtypes.
    fairalloc.transforms.errors.ParameterError
        ``check_capacity`` is not True / False, or ``rtol`` is negative or not a number.

    Examples
    --------
    >>> alloc = pd.Series([5.0, -1.0], name="volume", index=pd.MultiIndex.from_tuples(
    ...     [("A", "X"), ("A", "Y")], names=["source", "sink"]))
    >>> conservation_violations(alloc, {"A": 3}, {"X": 10, "Y": 10}).values.tolist()
    [['over_capacity', 'A', 4.0, 3.0], ['negative', ('A', 'Y'), -1.0, 0.0]]
    """
    check_capacity = flag("check_capacity", check_capacity)
    rtol = number("rtol", rtol, low=0)
    cols = _by_columns(by)
    frame = allocation.to_frame() if isinstance(allocation, pd.Series) else allocation
    if "volume" in frame.columns:
        source_col = sink_col = "volume"
    else:
        source_col, sink_col = "source_volume", "sink_volume"
    src_keys, sink_keys = [*cols, SOURCE, SINK][:-1], [*cols, SINK]
    sources = table_input(source_capacity, contract.SOURCE_CAPACITY, by=cols,
                          what="source_capacity")
    sinks = table_input(sink_demand, contract.SINK_DEMAND, by=cols, what="sink_demand")
    flat = to_polars(frame.reset_index(), [*cols, SOURCE, SINK], what="allocation")
    src, sink = code_rows(
        flat, [(sources, src_keys, "source"), (sinks, sink_keys, "sink")], what="allocation"
    )
    source_flow = frame[source_col].to_numpy(dtype=np.float64)
    sink_flow = frame[sink_col].to_numpy(dtype=np.float64)
    bad = kernels.conservation_violations(
        src, sink, source_flow, sink_flow, sources.values if check_capacity else None,
        sinks.values, rtol,
    )
    rows: list[tuple[str, Any, float, float]] = []
    for rule, table, codes, flow in (
        ("over_capacity", sources, src, source_flow),
        ("over_demand", sinks, sink, sink_flow),
    ):
        found = bad.get(rule, np.empty(0, dtype=np.int64))
        got = kernels.totals(codes, flow, len(table))[found]
        keys = key_tuples(table.frame, table.keys, found)
        rows += zip([rule] * len(found), keys, got.tolist(), table.values[found].tolist(),
                    strict=True)
    neg = bad["negative"]
    rows += [("negative", k, float(v), 0.0)
             for k, v in zip(frame.index[neg], np.minimum(source_flow, sink_flow)[neg],
                             strict=True)]
    return pd.DataFrame(rows, columns=["rule", "key", "amount", "limit"])
