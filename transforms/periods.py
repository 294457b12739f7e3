"""Multi-period allocation with entitlements (SPEC §2): the "desk" problem.

Accounts hold currency (entitlement weight) and request amounts per period; periods have
capacities. Step 1 gives every account one fulfilment scalar λ_i, capped by its entitlement;
step 2 hands out what is left, iterating. See :mod:`fairalloc.solvers.periods` for how the LPs are
solved and which optimum is chosen where several exist.

Decisions where the spec is silent (documented here and relied on by the tests)
    * An account in ``currency`` without request rows requests 0 in every period; an
      (account, period) pair without a row requests 0. A request naming an account or period
      missing from ``currency`` / ``capacities`` is an error.
    * Periods are ordered by their keys; positional ``weights`` follow that order.
    * ``binding`` is ``"full"`` when the final allocation meets every request (within 1e-9
      relative), else ``"entitlement"`` when λ sits at its cap u < 1, else ``"capacity"``.
"""

from __future__ import annotations

import functools
import logging
import marshal
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa

from fairalloc.schemas import periods as contract
from fairalloc.solvers import periods as kernels
from fairalloc.solvers.blocks import fresh, row_blocks
from fairalloc.transforms._params import choice, flag, number, whole
from fairalloc.transforms._report import Report, stopwatch, worst_status
from fairalloc.transforms._tables import (
    KeyedTable,
    by_columns,
    check_rule,
    code_rows,
    key_tuples,
    keyed_table,
    product_index,
    require_rows,
    sorted_unique,
    split_groups,
    string_runs,
    table_input,
    to_polars,
)
from fairalloc.transforms.errors import (
    EmptyInputError,
    FairallocError,
    InputTypeError,
    InvalidAmountError,
    ParameterError,
    public,
    translated,
)
from fairalloc.transforms.options import PERIODS

log = logging.getLogger(__name__)

ACCOUNT, PERIOD = contract.ACCOUNT.name, contract.PERIOD.name  # fairalloc.schemas.periods


@dataclass(frozen=True)
class PeriodReport(Report):
    """What an allocation run did; weighted totals are Σ_t w_t · amount."""

    accounts: int
    periods: int
    classes: int
    iterations: int
    total_capacity: float
    total_request: float
    allocated: float
    step1_allocated: float
    step2_allocated: float
    unallocated_capacity: float


@dataclass(frozen=True)
class PeriodAllocation:
    """Result of :func:`allocate_periods`.

    ``allocation``: indexed by (account, period): request, step1, step2, allocation.
    ``accounts``: indexed by account: currency, entitlement_share, lambda, u_cap,
    weighted_request, weighted_allocated, binding. ``periods``: indexed by period: capacity,
    weight, used, utilization, price (step-1 shadow price of capacity).
    """

    allocation: pd.DataFrame
    accounts: pd.DataFrame
    periods: pd.DataFrame
    step1_allocated: float
    step2_allocated: float
    iterations: int
    report: PeriodReport = field(repr=False)


@dataclass(frozen=True)
class _Problem:
    accounts: pd.Index  # account keys in code order (the rows of ``requests``)
    currency: np.ndarray  # (N,)
    periods: KeyedTable
    requests: np.ndarray  # (N, T)


@dataclass(frozen=True)
class _Options:
    auto_weights: bool
    two_step: bool
    convergence_threshold: float
    demand_gap_threshold: float
    max_iterations: int
    step2_strategy: str


def _options(auto_weights: Any, two_step: Any, convergence_threshold: Any,
             demand_gap_threshold: Any, max_iterations: Any, step2_strategy: Any) -> _Options:
    """The scalar parameters, checked once (booleans are not numbers, strings not flags)."""
    return _Options(
        flag("auto_weights", auto_weights), flag("two_step", two_step),
        number("convergence_threshold", convergence_threshold,
               **PERIODS.option("convergence_threshold").bounds()),
        number("demand_gap_threshold", demand_gap_threshold,
               **PERIODS.option("demand_gap_threshold").bounds()),
        whole("max_iterations", max_iterations, **PERIODS.option("max_iterations").bounds()),
        choice("step2_strategy", step2_strategy, kernels.STEP2_SOLVERS),
    )


def _prepare(requests: Any, currency: Any, capacities: Any) -> _Problem:
    acc = table_input(currency, contract.ACCOUNTS, what="currency")
    per = table_input(capacities, contract.CAPACITIES, what="capacities")
    dense = _dense_requests(requests, acc, per)
    return _Problem(pd.Index(acc.frame[ACCOUNT].to_pandas(), name=ACCOUNT), acc.values, per,
                    dense)


def _dense_requests(requests: Any, acc: KeyedTable, per: KeyedTable) -> np.ndarray:
    """The requests as an accounts × periods array (0 where no row).

    The long table is coded without sorting it: account keys are looked up once per run of
    equal keys (tidy tables usually list an account's periods together; a pandas column of
    strings held by arrow is split into runs by arrow itself, without a polars copy of the
    column: :func:`~fairalloc.transforms._tables.string_runs`), numeric period keys by
    binary search in the sorted period keys; a repeated (account, period) cell is found by
    counting cells, unless the cells increase (a table sorted by account and period, which
    cannot repeat one; when such a table also has every cell, its column is the dense array
    as it stands, copied). Repeats (collapsed when equal, refused when not) take the general
    path, as does any input the reading of the other columns refuses (so that its error
    names the accounts).
    """
    keys = [ACCOUNT, PERIOD]
    (request,) = contract.REQUESTS.values  # its name and rule, as table_input reads them
    runs = string_runs(requests, ACCOUNT)
    df = None
    if runs is not None:  # the other columns, read as usual
        try:
            df = to_polars(requests[[PERIOD, request.name]], [PERIOD], request.name,
                           what="requests")
            check_rule(df, [PERIOD], request.name, request.rule, what="requests")
        except (FairallocError, KeyError):  # the general reading says what, naming the keys
            df = None
    if df is None:
        df = to_polars(requests, keys, request.name, what="requests")
        require_rows(df, "requests")
        check_rule(df, keys, request.name, request.rule, what="requests")
        runs = _runs(df[ACCOUNT])
    n_a, n_t = len(acc), len(per)
    cell = _run_codes(*runs, df.height, acc)  # fresh int64: the cells are made in place
    cell *= n_t
    _add_period_codes(cell, df, per)
    values = df[request.name].to_numpy()
    # cells in increasing order (a table sorted by account and period) cannot repeat; else
    # they are counted
    increasing = bool((cell[1:] > cell[:-1]).all())
    if increasing and len(cell) == n_a * n_t:
        # every cell once, in order (a complete table sorted by account and period): the
        # column is the dense array, copied (never the caller's memory)
        dense = fresh(n_a * n_t)
        np.copyto(dense, values)
        return dense.reshape(n_a, n_t)
    if not increasing and (np.bincount(cell, minlength=n_a * n_t) > 1).any():
        # repeats: the general path
        if ACCOUNT not in df.columns:
            df = to_polars(requests, keys, request.name, what="requests")
        req = table_input(df, contract.REQUESTS, what="requests")
        a, p = code_rows(req.frame, [(acc, [ACCOUNT], "account"), (per, [PERIOD], "period")],
                         what="requests")
        cell, values = a * n_t + p, req.values
    dense = fresh(n_a * n_t, zeros=True)
    dense[cell] = values
    return dense.reshape(n_a, n_t)


def _runs(col: pl.Series) -> tuple[np.ndarray, pl.Series]:
    """The first row of each run of equal keys in ``col``, and its key."""
    head = (col != col.shift(1)).fill_null(True)
    return np.flatnonzero(head.to_numpy()), col.filter(head)


def _run_codes(starts: np.ndarray, heads: pl.Series, n: int, acc: KeyedTable) -> np.ndarray:
    """Account code of each of ``n`` rows, from the runs of equal keys (``starts``: the
    first row of each, ``heads``: its key), looking each run's key up once; when the runs
    name the currency table's accounts in its (sorted) order, as a table sorted by account
    does, their codes are 0, 1, 2, … and nothing is looked up. Always a fresh int64 array
    (the caller builds the cells in it)."""
    run = fresh(n, np.int64, zeros=True)
    run[starts[1:]] = 1
    np.cumsum(run, out=run)  # the run of every row
    keys = acc.frame[ACCOUNT]
    if (len(heads) == keys.len() and heads.dtype == keys.dtype
            and bool((heads == keys).all())):
        return run
    (codes,) = code_rows(pl.DataFrame([heads.alias(ACCOUNT)]), [(acc, [ACCOUNT], "account")],
                         what="requests")
    codes = codes.astype(np.int64, copy=False)
    for rows in row_blocks(n):  # in place, by blocks (no second array of the rows' length)
        run[rows] = codes[run[rows]]
    return run


def _add_period_codes(cell: np.ndarray, df: pl.DataFrame, per: KeyedTable) -> None:
    """Add the period code of every row to ``cell``: with consecutive integer keys (1 … T)
    the code is the offset, added in place (no array of codes); else a binary search in
    the sorted integer keys (a key not found goes to :func:`code_rows`, which names it), or
    a hash lookup."""
    keys, col = per.frame[PERIOD], df[PERIOD]
    if keys.dtype == pl.Int64 and col.dtype == pl.Int64:
        sorted_keys, values = keys.to_numpy(), col.to_numpy()
        lo, hi = sorted_keys[0], sorted_keys[-1]
        if hi - lo == len(sorted_keys) - 1 and values.min() >= lo and values.max() <= hi:
            cell += values  # int64 into int64 in place: no temporary
            cell -= lo
            return
        codes = np.minimum(np.searchsorted(sorted_keys, values), len(sorted_keys) - 1)
        if (sorted_keys[codes] == values).all():
            cell += codes
            return
    (codes,) = code_rows(df, [(per, [PERIOD], "period")], what="requests")
    cell += codes


def _period_keys(problem: _Problem, rows: np.ndarray | None = None) -> list:
    return key_tuples(problem.periods.frame, [PERIOD], rows)


def _weights(problem: _Problem, weights: Any, auto_weights: bool) -> np.ndarray:
    n_t = len(problem.periods)
    if weights is not None:
        if isinstance(weights, pd.Series | dict):
            table = keyed_table(weights, [PERIOD], "weight", what="weights", allow_zero=False)
            if table.frame[PERIOD].to_list() != problem.periods.frame[PERIOD].to_list():
                raise ParameterError("weights must name exactly the periods of capacities",
                                     table.frame[PERIOD].to_list())
            return table.values
        if isinstance(weights, str | bytes):
            raise ParameterError("weights must be numbers, one per period (or a Series/dict "
                                 "by period)", [weights])
        raw = np.asarray(weights)
        if raw.dtype.kind not in "iuf":  # booleans, strings, objects are not weights
            raise ParameterError("weights must be numbers, one per period (or a Series/dict "
                                 "by period)", [weights])
        w = raw.astype(np.float64).ravel()
        if len(w) != n_t:
            raise ParameterError(f"weights must have one entry per period ({n_t})", [len(w)])
        bad = np.flatnonzero(~np.isfinite(w) | (w <= 0))
        if bad.size:
            raise InvalidAmountError("weights must be finite and > 0", _period_keys(problem, bad))
        return w
    if not auto_weights:
        return np.ones(n_t)
    demand = problem.requests.sum(axis=0)
    empty = np.flatnonzero(demand <= 0)
    if empty.size:
        raise InvalidAmountError(
            "default weights are undefined: these periods have zero total demand "
            "(pass weights= or auto_weights=False)",
            _period_keys(problem, empty),
        )
    return kernels.default_weights(problem.requests)


def _check_magnitudes(problem: _Problem, weights: np.ndarray) -> None:
    """Refuse amounts beyond :data:`fairalloc.solvers.periods.MAX_AMOUNT` (and weights below its
    inverse), naming the keys: products of two such amounts would leave float64's range."""
    big = kernels.MAX_AMOUNT
    rows, cols = np.nonzero(problem.requests > big)
    if rows.size:
        per = _period_keys(problem)
        raise InvalidAmountError(
            f"requests above {big:g} cannot be solved (amounts must stay within 1e100)",
            [(problem.accounts[i], per[t]) for i, t in zip(rows[:10], cols[:10], strict=True)],
            len(rows))
    for what, values, keys in (
            ("currency", problem.currency, lambda r: list(problem.accounts[r])),
            ("capacities", problem.periods.values, lambda r: _period_keys(problem, r))):
        bad = np.flatnonzero(values > big)
        if bad.size:
            raise InvalidAmountError(f"{what} above {big:g} cannot be solved", keys(bad[:10]),
                                     len(bad))
    bad = np.flatnonzero((weights > big) | (weights < 1 / big))
    if bad.size:
        raise InvalidAmountError(
            f"period weights must lie within {1 / big:g} .. {big:g} (default weights are the "
            "ratio of period demands: pass weights= or auto_weights=False)",
            _period_keys(problem, bad[:10]), len(bad))


def _solve(problem: _Problem, weights: Any, opt: _Options) -> kernels.PeriodSolution:
    w = _weights(problem, weights, opt.auto_weights)
    _check_magnitudes(problem, w)
    labels = {ACCOUNT: problem.accounts, PERIOD: _period_keys(problem)}  # read on failure only
    with translated("periods", labels=labels):
        return kernels.solve_periods(
            problem.requests, problem.currency, problem.periods.values, w,
            two_step=opt.two_step, convergence_threshold=opt.convergence_threshold,
            demand_gap_threshold=opt.demand_gap_threshold, max_iterations=opt.max_iterations,
            step2_strategy=opt.step2_strategy,
        )


@public("periods")
def allocate_periods(
    requests: Any,
    currency: Any,
    capacities: Any,
    weights: Any = None,
    *,
    auto_weights: bool = PERIODS.auto_weights,
    two_step: bool = PERIODS.two_step,
    convergence_threshold: float = PERIODS.convergence_threshold,
    demand_gap_threshold: float = PERIODS.demand_gap_threshold,
    max_iterations: int = PERIODS.max_iterations,
    step2_strategy: str = PERIODS.step2_strategy,
) -> PeriodAllocation:
    """Allocate period capacity to accounts in proportion to entitlement, then leftovers.

    Every solver answer is verified (per period Σ allocation ≤ capacity, allocation ≤
    request, nothing negative, the entitlement caps) to 1e-9 of each limit; an answer that
    broke a limit by more is shrunk onto it and the report's ``status`` is ``"repaired"``
    instead of ``"optimal"``; one that cannot be repaired raises :class:`SolverError` naming
    the periods or accounts.

    Parameters
    ----------
    requests : pandas.DataFrame or polars.DataFrame
        Columns ``account``, ``period``, ``request``.
    currency : dict, pandas.Series, pandas.DataFrame or polars.DataFrame
        Currency (entitlement weight ≥ 0) by account, or a table ``account``, ``currency``.
    capacities : dict, pandas.Series, pandas.DataFrame or polars.DataFrame
        Capacity by period, or a table ``period``, ``capacity``.
    weights : dict, pandas.Series or sequence of float, optional
        Period weights (> 0) by period, or a sequence in sorted period order.
    auto_weights : bool, default True
        Without ``weights``: demand-based weights w_t = D_t / min D (True) or all 1 (False).
    two_step : bool, default True
        Run step 2 (leftovers, SPEC §2) after step 1.
    convergence_threshold : float, default 0.01
        Step 2 only looks at periods whose remaining capacity exceeds this share (≥ 0) of
        their capacity.
    demand_gap_threshold : float, default 0.1
        Step 2 only serves accounts whose unmet request exceeds this amount (≥ 0) in one of
        those periods.
    max_iterations : int, default 10
        At most this many step-2 rounds (a whole number ≥ 0).
    step2_strategy : {"max_flow", "lp"}
        How each step-2 round is solved: a max-flow (fast, optimal to ~1e-15 relative per
        arc) or an LP with HiGHS (exact, slow beyond ~10^4 accounts × leftover periods).

    Returns
    -------
    PeriodAllocation
        The ``allocation``, ``accounts`` and ``periods`` tables, the weighted step totals,
        the number of step-2 iterations and the :class:`PeriodReport`.

    Raises
    ------
    fairalloc.transforms.errors.InvalidAmountError
        Amounts NaN, infinite or negative; or above 1e100 (requests, currency, capacities,
        weights; weights also below 1e-100): the LPs are scaled per period and per account,
        so any spread within that range is solved, but products of larger amounts would
        leave float64's range. Nonzero amounts so small that their ratios underflow (about
        1e-300) count as 0: such accounts may get nothing, never more than a limit.
    fairalloc.transforms.errors.UnknownKeyError
        A request names an account or period missing from ``currency`` / ``capacities``.
    fairalloc.transforms.errors.DuplicateKeyError
        A key is given two different amounts.
    fairalloc.transforms.errors.EmptyInputError
        A required table has no rows.
    fairalloc.transforms.errors.InputTypeError
        An input of the wrong type, columns or dtypes (bools included).
    fairalloc.transforms.errors.ParameterError
        A flag that is not True / False, a negative threshold, a bad ``max_iterations`` or
        ``step2_strategy``, or ``weights`` that are not one number per period. (Default
        weights that are undefined — a period with zero total request — are an
        :class:`~fairalloc.transforms.errors.InvalidAmountError` naming the periods.)
    fairalloc.transforms.errors.SolverError
        A solver failed, or its answer broke a limit beyond repair (names the keys).

    Examples
    --------
    >>> import pandas as pd
    >>> req = pd.DataFrame([(a, t, 50) for a in "ABCD" for t in (1, 2, 3, 4)],
    ...                    columns=["account", "period", "request"])
    >>> res = allocate_periods(req, {"A": 400, "B": 300, "C": 200, "D": 100},
    ...                        {t: 120 for t in (1, 2, 3, 4)})
    >>> res.allocation.xs(1, level="period")["allocation"].round(9).tolist()
    [48.0, 36.0, 24.0, 12.0]
    >>> round(res.step1_allocated, 9), round(res.step2_allocated, 9), res.report.status
    (480.0, 0.0, 'optimal')
    """
    opt = _options(auto_weights, two_step, convergence_threshold, demand_gap_threshold,
                   max_iterations, step2_strategy)
    with stopwatch() as sw:
        problem = _prepare(requests, currency, capacities)
        sol = _solve(problem, weights, opt)
        result = _result(problem, sol)
    report = _report(problem, sol, sw.seconds, result)
    log.info("allocate_periods: %d accounts × %d periods, %d step-2 iteration(s), %.3fs, %s",
             report.accounts, report.periods, report.iterations, report.wall_time_s,
             report.status)
    return PeriodAllocation(*result, report=report)


#: The ``binding`` labels by code (see :func:`_binding_codes`).
BINDING = ("full", "entitlement", "capacity")


def _binding_codes(problem: _Problem, sol: kernels.PeriodSolution,
                   alloc: np.ndarray) -> np.ndarray:
    """Code of each account's ``binding`` label in :data:`BINDING` (the full test by
    blocks of rows: no (N × T) temporaries)."""
    full = np.empty(len(alloc), dtype=bool)
    for rows in row_blocks(*alloc.shape):
        full[rows] = kernels.row_reduce(np.logical_and,
                                        alloc[rows] >= problem.requests[rows] * (1 - 1e-9))
    at_cap = (sol.lam >= sol.u_cap * (1 - 1e-9)) & (sol.u_cap < 1)
    return np.where(full, 0, np.where(at_cap, 1, 2))


def _labels(codes: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """The ``binding`` labels of ``codes`` as a pandas string array: the three labels taken
    by code (no string built per account)."""
    return pd.array(list(BINDING), dtype=str).take(codes)


def _result(problem: _Problem, sol: kernels.PeriodSolution):
    """The three result tables and the weighted step totals.

    The (account, period) index is built from the keys and their codes (the account keys
    are the currency table's, sorted and unique, so they are the level as they stand), and
    the value columns are the (N × T) arrays of the requests and of both steps as they stand,
    flattened, plus one new array for their sum: pandas takes each as it is (no key is hashed
    again, no column copied; the arrays are this call's own).
    """
    n, t = problem.requests.shape
    alloc = np.add(sol.step1, sol.step2, out=fresh((n, t)))
    acc_keys = problem.accounts
    per_keys = pd.Index(problem.periods.frame[PERIOD].to_pandas(), name=PERIOD)
    index = product_index(acc_keys, per_keys)
    columns = {"request": problem.requests, "step1": sol.step1, "step2": sol.step2,
               "allocation": alloc}
    allocation = pd.DataFrame({k: v.reshape(-1) for k, v in columns.items()}, index=index,
                              copy=False)
    w = sol.weights
    weighted_alloc = kernels.rows_dot(alloc, w)  # blocks BLAS runs on one thread
    accounts = pd.DataFrame(
        {"currency": problem.currency, "entitlement_share": sol.share,
         "lambda": sol.lam, "u_cap": sol.u_cap,
         "weighted_request": kernels.rows_dot(problem.requests, w),
         "weighted_allocated": weighted_alloc,
         "binding": _labels(_binding_codes(problem, sol, alloc))},
        index=acc_keys,
    )
    used = alloc.sum(axis=0)
    cap = problem.periods.values
    periods = pd.DataFrame(
        {"capacity": cap, "weight": w, "used": used,
         "utilization": np.divide(used, cap, out=np.zeros(t), where=cap > 0),
         "price": sol.price},
        index=per_keys,
    )
    step1_total = float(sol.step1.sum(axis=0) @ w)
    step2_total = float(sol.step2.sum(axis=0) @ w)
    return allocation, accounts, periods, step1_total, step2_total, sol.iterations


def _report(problem: _Problem, sol: kernels.PeriodSolution, seconds: float,
            result: tuple) -> PeriodReport:
    """The report, from the result tables' totals (no pass over the N × T arrays again)."""
    periods, s1, s2 = result[2], result[3], result[4]
    used = periods["used"].to_numpy()
    cap = problem.periods.values
    return PeriodReport(
        status=sol.status, wall_time_s=seconds, accounts=len(problem.accounts),
        periods=len(problem.periods), classes=sol.classes, iterations=sol.iterations,
        total_capacity=float(cap.sum()),
        total_request=float(problem.requests.sum()), allocated=float(used.sum()),
        step1_allocated=s1, step2_allocated=s2,
        unallocated_capacity=float(np.maximum(cap - used, 0).sum()),
    )


# --- the drop-in interface ---------------------------------------------------------------------

@dataclass(frozen=True)
class ResourceAllocation:
    """Result of :func:`allocate_resource`, with the field names existing scripts use."""

    allocations_detailed: pd.DataFrame
    allocations_summary: pd.DataFrame
    weights: list
    total_weighted_allocated: float
    capacity_used: list
    capacities: list
    utilization: list
    step1_allocated: float
    step2_allocated: float


_PLAIN_NUMBERS = frozenset((float, int))

#: marshal's format version 2 (Python 2.5 on), which :func:`_marshalled` reads: a list is "["
#: and a tuple "(" followed by its length (4 bytes, little-endian); an exact float is "g"
#: followed by its IEEE 754 double (8 bytes, little-endian), an exact int within 32 bits "i"
#: followed by its 4 bytes. Anything else is written otherwise (a bool "T" or "F", a larger
#: int "l" and its digits, a NumPy scalar as bytes) or refused (subclasses of list, float …).
_MARSHAL_VERSION = 2
#: The plain items :func:`_marshalled` reads: (code, bytes with the code, dtype of the value).
_MARSHAL_ITEMS = ((ord("g"), 9, "<f8"), (ord("i"), 5, "<i4"))
_MARSHAL_SEQUENCES = (ord("["), ord("("))


@functools.cache
def _marshal_layout() -> bool:
    """Whether this Python's marshal writes the layout :func:`_marshalled` reads (checked once,
    on a sample holding every code it reads; if not, the lists are read item by item)."""
    sample = [[0.5, -2.0], (7,)]
    want = (b"[" + struct.pack("<i", 2) + b"[" + struct.pack("<i", 2)
            + b"g" + struct.pack("<d", 0.5) + b"g" + struct.pack("<d", -2.0)
            + b"(" + struct.pack("<i", 1) + b"i" + struct.pack("<i", 7))
    return marshal.dumps(sample, _MARSHAL_VERSION) == want


def _marshalled(values: list | tuple, shape: tuple[int, ...]) -> np.ndarray | None:
    """A new float64 array of ``shape`` (n or n × t) holding ``values`` when they are n exact
    floats, or n exact ints within 32 bits (for n × t: n list or tuple rows of t such items,
    all of one kind); None for anything else, which the readings item by item then decide.

    marshal writes the whole list in one pass in C, checking each object's exact type as it
    goes (see :data:`_MARSHAL_VERSION`): where every item is of one kind and every row holds
    t of them, each row and item sits at a fixed offset, so the row codes and lengths and the
    item codes are checked at their offsets at once (any other object or row length moves
    them), and the values are read there, bit for bit what NumPy would read."""
    n, t = shape[0], shape[1] if len(shape) == 2 else 1
    if not t or not _marshal_layout():
        return None
    try:
        data = marshal.dumps(values, _MARSHAL_VERSION)
    except ValueError:  # an object marshal does not write (a subclass, a cycle …)
        return None
    head = 5 if len(shape) == 2 else 0  # each row's code and length
    kinds = {5 + n * (head + width * t): (code, width, dtype)
             for code, width, dtype in _MARSHAL_ITEMS}  # the size each kind gives
    if len(data) not in kinds:
        return None
    code, width, dtype = kinds[len(data)]
    stride = head + width * t
    if data[0] not in _MARSHAL_SEQUENCES or data[1:5] != struct.pack("<i", n):
        return None

    def per_row(offset: int, kind: str) -> np.ndarray:  # a view: one value per row
        return np.ndarray((n,), kind, data, offset, (stride,))

    def per_item(offset: int, kind: str) -> np.ndarray:  # a view: one value per item
        return np.ndarray((n, t), kind, data, offset, (stride, width))

    if head:
        lists, tuples = _MARSHAL_SEQUENCES
        codes = per_row(5, "u1")
        if not (((codes == lists) | (codes == tuples)).all() and (per_row(6, "<i4") == t).all()):
            return None
    if not (per_item(5 + head, "u1") == code).all():
        return None
    items = per_item(5 + head + 1, dtype)
    return items.astype(np.float64).reshape(shape)


def _numbers(amounts: list | tuple) -> np.ndarray | None:
    """A new float64 array of a flat list of floats and ints, valued as
    ``np.asarray(amounts).astype(np.float64)`` would be, read by Arrow (its dtype is float64
    or int64, as NumPy's would be); None for anything else (booleans among numbers, text, ints
    beyond what a double holds exactly, an empty list …): NumPy then reads it. Only items that
    are exactly ``float`` or ``int`` are read here: NumPy and Arrow would read a ``bool`` among
    numbers as 1 or 0, and NumPy reads a float subclass by its ``__float__``."""
    if not amounts or not set(map(type, amounts)) <= _PLAIN_NUMBERS:
        return None
    try:
        arrow = pa.array(amounts)
    except (pa.ArrowException, ValueError, TypeError, OverflowError):
        return None
    if (isinstance(arrow, pa.Array) and not arrow.null_count
            and arrow.type in (pa.float64(), pa.int64())):
        return arrow.to_numpy().astype(np.float64)
    return None


def _flat_rows(values: list | tuple, shape: tuple[int, int]) -> np.ndarray | None:
    """:func:`_numbers` of n list or tuple rows of t plain numbers each, read as one flat list
    and shaped n × t; None for any other rows: the general reading then decides and names what
    is wrong."""
    n, t = shape
    if not set(map(type, values)) <= {list, tuple} or set(map(len, values)) != {t}:
        return None
    flat = _numbers(list(chain.from_iterable(values)))
    return None if flat is None else flat.reshape(n, t)


def _plain_amounts(values: Any, shape: tuple[int, ...]) -> np.ndarray | None:
    """The usual amounts (a list or tuple of n numbers, or of n rows of t numbers) as a new
    float64 array of ``shape``: by :func:`_marshalled` when all are floats or all small ints,
    else by :func:`_flat_rows` / :func:`_numbers` (ints and floats mixed, large ints); None
    for any other input, which the general reading decides."""
    if type(values) not in (list, tuple) or len(values) != shape[0] or not values:
        return None
    fast = _marshalled(values, shape)
    if fast is not None:
        return fast
    return _flat_rows(values, shape) if len(shape) == 2 else _numbers(values)  # type: ignore[arg-type]


def _amounts(name: str, values: Any, shape: tuple[int, ...], ids: Sequence) -> np.ndarray:
    """A new C-ordered float array of ``shape`` from a list (of lists) of numbers, refusing
    booleans, text, ragged rows and NaN / infinite / negative values, named by account id (and
    period number for a two-dimensional ``shape``)."""
    fast = _plain_amounts(values, shape)
    raw = fast
    if raw is None:  # the general reading, which refuses what the fast one left to it
        try:
            raw = np.asarray(values)
        except ValueError:
            ragged = _ragged_rows(values, shape)
            if not len(ragged):
                raise
            raise InputTypeError(f"{name} rows must each hold {shape[1]} amounts (one per "
                                 "capacity); these accounts' rows do not",
                                 [ids[i] for i in ragged[:10]], len(ragged)) from None
        if raw.dtype.kind in "iuf" and raw.shape == shape:
            if type(values) in (list, tuple):
                two = len(shape) == 2
                _refuse_booleans(name, list(chain.from_iterable(values)) if two
                                 else list(values), shape[1] if two else 0, ids)
            else:  # a table: NumPy reads its boolean columns as 0 and 1 (polars) too
                _refuse_boolean_columns(name, values, shape, ids)
    if raw.dtype.kind not in "iuf" or raw.shape != shape:
        raise ParameterError(
            f"{name} must be numbers, shaped {' × '.join(map(str, shape))} (one row per "
            "account, one column per capacity)", [raw.shape if raw.dtype.kind in "iuf"
                                                  else str(raw.dtype)])
    # the fast reading's array is new already; else a copy (-0.0 becomes 0.0 below), row by row
    arr = raw if fast is not None else raw.astype(np.float64, order="C")
    if arr.size and not (arr.min() >= 0 and arr.max() < np.inf):  # NaN fails both
        bad = np.argwhere(~np.isfinite(arr) | (arr < 0))
        cell = ((lambda b: (ids[b[0]], int(b[1]) + 1)) if arr.ndim == 2 else
                (lambda b: ids[b[0]]))
        raise InvalidAmountError(f"{name} has NaN, infinite or negative values",
                                 [cell(b) for b in bad[:10]], len(bad))
    arr += 0.0
    return arr


def _refuse_booleans(name: str, flat: list, width: int, ids: Sequence) -> None:
    """Raise :class:`ParameterError` naming the cells that hold a boolean among numbers (NumPy
    reads ``[5, True]`` as ``[5, 1]``: a flag is not an amount). ``flat`` holds the amounts
    row after row, ``width`` amounts per account (0: one amount per account). Only reached by
    lists that the fast reading (:func:`_numbers`) left to NumPy's general reading."""
    is_bool = np.fromiter(map(isinstance, flat, [(bool, np.bool_)] * len(flat)), bool,
                          count=len(flat))
    if not is_bool.any():
        return
    bad = np.flatnonzero(is_bool)
    cells = ([(ids[b // width], int(b % width) + 1) for b in bad[:10]] if width
             else [ids[b] for b in bad[:10]])
    raise ParameterError(f"{name} must be numbers, not booleans", cells, len(bad))


def _refuse_boolean_columns(name: str, values: Any, shape: tuple[int, ...], ids: Sequence
                            ) -> None:
    """Raise :class:`ParameterError` naming the cells of a pandas or polars table's boolean
    columns (``values.dtypes``), which NumPy reads as numbers in a table of numbers."""
    dtypes = getattr(values, "dtypes", None)
    if dtypes is None or len(shape) != 2 or isinstance(values, np.ndarray):
        return
    flags = [j for j, d in enumerate(list(dtypes))
             if (d == pl.Boolean if isinstance(d, pl.DataType) else pd.api.types.is_bool_dtype(d))]
    if flags:
        cells = [(ids[i], j + 1) for i in range(min(shape[0], 10)) for j in flags][:10]
        raise ParameterError(f"{name} must be numbers, not booleans", cells,
                             shape[0] * len(flags))


def _ragged_rows(values: Any, shape: tuple[int, ...]) -> np.ndarray:
    """Positions of the rows of ``values`` whose length is not ``shape[1]`` (none when ``shape``
    has one dimension or the rows have no length)."""
    if len(shape) != 2 or isinstance(values, str | bytes):
        return np.empty(0, np.int64)
    try:
        lengths = np.fromiter(map(len, values), np.int64)
    except TypeError:
        return np.empty(0, np.int64)
    return np.flatnonzero(lengths != shape[1])


def _check_ids(id_list: list) -> None:
    """Refuse account ids that are not hashable or not unique (naming the duplicates)."""
    try:
        distinct = len(set(id_list))
    except TypeError:
        raise InputTypeError("account_ids must be hashable keys (str, int, tuples …)") from None
    if distinct != len(id_list):
        ids = pd.Series(id_list, dtype=object)
        raise ParameterError("account_ids must be unique", ids[ids.duplicated()].unique())


def _fast_ids(id_list: list) -> tuple[Any, np.ndarray | None] | None:
    """Unique ids that are all ``str`` (as one pandas string array) or all ``int`` within int64
    (as one object array of the ids themselves, what the general reading makes of them), and
    the positions that sort them (None: sorted already); None for any other ids or repeated
    ones (the general reading then decides and names them).

    The ids go to Arrow once, which also finds whether they are all of one kind; uniqueness
    is read off the sorted ids (each strictly above the one before) instead of hashing every
    id. Arrow orders strings by their UTF-8 bytes, that is by code point as Python does.
    """
    if not id_list:
        return None
    try:
        arrow = pa.array(id_list)
    except (pa.ArrowException, ValueError, TypeError, OverflowError):  # e.g. mixed kinds
        return None
    if not isinstance(arrow, pa.Array) or arrow.null_count:
        return None
    if arrow.type == pa.string():
        arrow = arrow.cast(pa.large_string())  # what pandas' strings hold
        ordered = sorted_unique(arrow)
        return None if ordered is None else (pd.array(arrow, dtype=str), ordered[1])
    if arrow.type == pa.int64():
        ordered = sorted_unique(arrow.to_numpy())
        if ordered is None:
            return None  # a repeated id
        keys = np.empty(len(id_list), dtype=object)
        keys[:] = id_list
        return keys, ordered[1]
    return None


def _general_ids(id_list: list) -> tuple[Any, np.ndarray | None]:
    """The ids as one array and the positions that sort them, for ids of any hashable kind
    (already checked by :func:`_check_ids`): pandas strings when every id is a string (what
    pandas would make of them in each table), else objects; None where they do not sort
    (mixed kinds), leaving the caller's order."""
    text = pd.api.types.infer_dtype(id_list) == "string"
    keys = pd.array(id_list, dtype=str) if text else pd.Series(id_list, dtype=object).to_numpy()
    try:
        order = (np.asarray(keys.argsort(), dtype=np.int64) if text else
                 np.asarray(sorted(range(len(id_list)), key=id_list.__getitem__),
                            dtype=np.int64))
    except TypeError:
        order = None
    return keys, order


@public("periods")
def allocate_resource(
    account_ids: Sequence,
    cur: Sequence[float],
    requests: Sequence[Sequence[float]],
    capacities: Sequence[float],
    weights: Sequence[float] | None = None,
    auto_weights: bool = PERIODS.auto_weights,
    two_step: bool = PERIODS.two_step,
    convergence_threshold: float = PERIODS.convergence_threshold,
    demand_gap_threshold: float = PERIODS.demand_gap_threshold,
    max_iterations: int = PERIODS.max_iterations,
) -> ResourceAllocation:
    """Drop-in interface: lists in, the classic result fields out (periods numbered from 1).

    ``requests[i][k]`` is account ``account_ids[i]``'s request in period k + 1. Account ids
    may be any hashable values (tuples too); the results follow the caller's order.

    Parameters
    ----------
    account_ids : sequence
        Unique hashable account keys, one per account.
    cur : sequence of float
        Currency (entitlement weight ≥ 0) of each account, in ``account_ids`` order.
    requests : sequence of sequence of float
        One row per account, one column per period: the amounts requested (≥ 0).
    capacities : sequence of float
        Capacity of each period, period k + 1 at position k.
    weights : sequence of float, optional
        Period weights (> 0) in period order.
    auto_weights : bool, default True
        Without ``weights``: demand-based weights (True) or all 1 (False).
    two_step : bool, default True
        Run step 2 (leftovers, SPEC §2) after step 1.
    convergence_threshold : float, default 0.01
        Step 2 only looks at periods whose remaining capacity exceeds this share (≥ 0) of
        their capacity.
    demand_gap_threshold : float, default 0.1
        Step 2 only serves accounts whose unmet request exceeds this amount (≥ 0) in one of
        those periods.
    max_iterations : int, default 10
        At most this many step-2 rounds (a whole number ≥ 0).

    Returns
    -------
    ResourceAllocation
        ``allocations_detailed``, ``allocations_summary``, ``weights``,
        ``total_weighted_allocated``, ``capacity_used``, ``capacities``, ``utilization``,
        ``step1_allocated`` and ``step2_allocated`` (SPEC §2).

    Raises
    ------
    fairalloc.transforms.errors.ParameterError
        ``account_ids`` not a sequence or not unique, ``capacities`` not a sequence,
        ``requests`` or ``cur`` not numbers of the right shape, or a bad option (as for
        :func:`allocate_periods`).
    fairalloc.transforms.errors.EmptyInputError
        No account ids.
    fairalloc.transforms.errors.InputTypeError
        Account ids that are not hashable, or ``requests`` rows whose lengths differ (named
        by account).
    fairalloc.transforms.errors.InvalidAmountError
        NaN, infinite or negative amounts (named by account and period), or magnitudes out
        of range (as for :func:`allocate_periods`).
    fairalloc.transforms.errors.SolverError
        A solver failed, or its answer broke a limit beyond repair.

    Examples
    --------
    >>> res = allocate_resource(["A", "B", "C", "D"], [400, 300, 200, 100], [[50] * 4] * 4,
    ...                         [120] * 4)
    >>> [round(v, 9) for v in res.allocations_summary["alloc_period_1"]]
    [48.0, 36.0, 24.0, 12.0]
    >>> res.step1_allocated, res.step2_allocated
    (480.0, 0.0)
    """
    opt = _options(auto_weights, two_step, convergence_threshold, demand_gap_threshold,
                   max_iterations, "max_flow")
    if isinstance(account_ids, str | bytes) or not isinstance(account_ids, Iterable):
        raise ParameterError("account_ids must be a sequence of account keys", [account_ids])
    id_list = list(account_ids)
    n = len(id_list)
    if not n:  # as allocate_periods refuses an empty currency table
        raise EmptyInputError("account_ids is empty: there is no account to allocate to")
    caps = list(capacities) if isinstance(capacities, Iterable) else capacities
    if not isinstance(caps, list):
        raise ParameterError("capacities must be a sequence of numbers", [capacities])
    n_t = len(caps)
    # unique str or int ids (the usual) are read in one go; any other ids are checked here and
    # converted after the amounts, so every error comes in the same order either way
    fast = _fast_ids(id_list)
    if fast is None:
        _check_ids(id_list)
    matrix = _amounts("requests", requests, (n, n_t), id_list)
    currency = _amounts("cur", cur, (n,), id_list)
    # the ids as one array: pandas strings when every id is a string (what pandas would make
    # of them in each table), else objects; the accounts go to the solver in sorted key
    # order where the keys sort (as the tidy interface does), so both interfaces give it the
    # same problem and get the same bits back (the ids are unique: no ties to order)
    keys, order = fast if fast is not None else _general_ids(id_list)
    per = table_input(dict(zip(range(1, n_t + 1), caps, strict=True)), contract.CAPACITIES,
                      what="capacities")
    if order is None:  # sorted already (or not sortable): the caller's order is the solver's
        problem = _Problem(pd.Index(keys, name=ACCOUNT, tupleize_cols=False), currency, per,
                           matrix)
    else:
        problem = _Problem(pd.Index(keys.take(order), name=ACCOUNT, tupleize_cols=False),
                           currency[order], per, np.take(matrix, order, axis=0))
    sol = _solve(problem, weights, opt)
    alloc = sol.step1 + sol.step2
    w = sol.weights
    if order is None:
        back = None
    else:
        back = np.empty(n, dtype=np.int64)
        back[order] = np.arange(n)  # row of each caller account in the solved problem

    def caller(values: np.ndarray) -> np.ndarray:  # rows in the caller's order
        return values if back is None else np.take(values, back, axis=0)

    req, s1, s2, both = (caller(problem.requests), caller(sol.step1), caller(sol.step2),
                         caller(alloc))
    used = alloc.sum(axis=0)
    cap = per.values
    return ResourceAllocation(
        allocations_detailed=_detailed(keys, req, s1, s2),
        allocations_summary=_summary(keys, currency, [caller(sol.share), caller(sol.lam),
                                                      caller(sol.u_cap)], w, req, both, s1, s2),
        weights=w.tolist(),
        total_weighted_allocated=float((alloc @ w).sum()),
        capacity_used=used.tolist(),
        capacities=cap.tolist(),
        utilization=np.divide(used, cap, out=np.zeros(n_t), where=cap > 0).tolist(),
        step1_allocated=float(sol.step1.sum(axis=0) @ w),
        step2_allocated=float(sol.step2.sum(axis=0) @ w),
    )


#: The per-period columns of ``allocations_summary``, in their order within each period.
_PERIOD_COLUMNS = ("req", "alloc", "step1_alloc", "step2_alloc")


def _summary(keys: Any, currency: np.ndarray, per_account: list[np.ndarray], w: np.ndarray,
             req: np.ndarray, both: np.ndarray, s1: np.ndarray, s2: np.ndarray) -> pd.DataFrame:
    """``allocations_summary``: account_id, cur, entitlement_share, lambda, u_cap,
    weighted_request, weighted_allocated, then per period k req / alloc / step1_alloc /
    step2_alloc _period_k (the classic order).

    The float columns are written into one (columns, accounts) block that pandas takes as it
    is, instead of one array per column gathered into a block by pandas: each value is
    copied once.
    """
    n, t = req.shape
    # numpy's own memory (huge pages), not blocks.fresh: in calls back to back, as the
    # lists / tables benchmark makes them, the block reuses memory the call before freed,
    # cheaper than ordinary pages (10^5 × 4: 0.98–1.07× so, 1.13–1.24× on blocks.fresh)
    block = np.empty((6 + 4 * t, n))
    block[0] = currency
    for row, values in enumerate(per_account, start=1):  # entitlement_share, lambda, u_cap
        block[row] = values
    block[4] = kernels.rows_dot(req, w)  # as the tables interface computes them, bit for bit
    block[5] = kernels.rows_dot(both, w)
    per_period = block[6:].reshape(t, 4, n)  # [period, kind, account]
    for j, values in enumerate((req, both, s1, s2)):
        per_period[:, j] = values.T
    names = ["cur", "entitlement_share", "lambda", "u_cap", "weighted_request",
             "weighted_allocated"] + [f"{kind}_period_{k}" for k in range(1, t + 1)
                                      for kind in _PERIOD_COLUMNS]
    summary = pd.DataFrame(block.T, columns=names, copy=False)
    summary.insert(0, "account_id", keys)
    return summary


def _detailed(keys: Any, req: np.ndarray, s1: np.ndarray, s2: np.ndarray) -> pd.DataFrame:
    """``allocations_detailed``: one row per (account, period, step) in the caller's order,
    each (account, period) cell once for step 1 and once more right after for step 2 where
    that gave > 1e-6.

    Every row's cell is a running count (1 per step-1 row, 0 per step-2 row, less one), its
    account and period one division of the cell by T written over the count; the amounts are
    gathered by cell, the step-2 amounts written over their rows, and pandas takes the columns
    as they are (new arrays, not copied again). Beyond the five columns only the step marks
    and the row numbers of step 2 are allocated.
    """
    n, t = req.shape
    cells = np.flatnonzero(s2.ravel() > 1e-6)
    second = cells + np.arange(1, len(cells) + 1)  # row of each step-2 amount
    step = np.ones(n * t + len(cells), np.int64)
    step[second] = 2
    rows = np.subtract(2, step)  # 1 where a cell starts (step 1), 0 on its step-2 row
    np.cumsum(rows, out=rows)
    rows -= 1  # the cell of each row
    allocation = s1.ravel().take(rows)
    allocation[second] = s2.ravel()[cells]
    request = req.ravel().take(rows)
    acc, period = np.divmod(rows, t, out=(rows, None))  # the account, in place of the cell
    period += 1
    return pd.DataFrame({
        "account_id": keys.take(acc), PERIOD: period, "step": step, "allocation": allocation,
        "request": request,
    }, copy=False)


@public("lottery")
def lottery(allocation: Any, capacities: Any, seed: int = PERIODS.seed) -> pd.DataFrame:
    """Turn a fractional allocation into whole units (desks, seats) by dependent rounding.

    Account i wins a unit in period t with probability min(1, a_it) (amounts ≥ 1 are capped at
    one unit); in each period the winners never exceed the integer capacity floor(X_t), and
    their expected number equals the fractional total (systematic sampling over a seeded
    random order of accounts, so no account is favoured by its key). Where the fractional
    total exceeds floor(X_t) (a non-integer capacity), that period's probabilities are scaled
    down to fit; the ``probability`` column shows the scaled value.

    Parameters
    ----------
    allocation : PeriodAllocation, pandas.Series, pandas.DataFrame or polars.DataFrame
        A :class:`PeriodAllocation`; a Series indexed by (account, period); or a pandas or
        polars table with columns (or pandas index levels) ``account``, ``period``,
        ``allocation``.
    capacities : dict, pandas.Series, pandas.DataFrame or polars.DataFrame
        Capacity by period, or a table ``period``, ``capacity``.
    seed : int, default 0
        Seed (a whole number ≥ 0) of the random order of accounts.

    Returns
    -------
    pandas.DataFrame
        Indexed by (account, period): ``probability`` and ``won`` (0 or 1).

    Raises
    ------
    fairalloc.transforms.errors.ParameterError
        ``seed`` is not a whole number ≥ 0.
    fairalloc.transforms.errors.UnknownKeyError
        ``allocation`` names a period missing from ``capacities``.
    fairalloc.transforms.errors.InvalidAmountError
        An allocation or capacity that is NaN, infinite or negative.
    fairalloc.transforms.errors.DuplicateKeyError
        A key is given two different amounts.
    fairalloc.transforms.errors.EmptyInputError
        ``allocation`` or ``capacities`` has no rows.
    fairalloc.transforms.errors.InputTypeError
        An input of the wrong type, columns or dtypes.

    Examples
    --------
    >>> res = allocate_periods(
    ...     pd.DataFrame({"account": list("ABC"), "period": 1, "request": 1.0}),
    ...     {"A": 1, "B": 1, "C": 1}, {1: 2})
    >>> draw = lottery(res, {1: 2}, seed=7)
    >>> int(draw["won"].sum()), draw["probability"].round(6).tolist()
    (2, [0.666667, 0.666667, 0.666667])
    """
    seed = whole("seed", seed, **PERIODS.option("seed").bounds())
    amounts = keyed_table(_lottery_input(allocation), [ACCOUNT, PERIOD], "allocation",
                          what="allocation")
    per = table_input(capacities, contract.CAPACITIES, what="capacities")
    acc_codes, per_codes = _grid_codes(amounts, per)
    n_acc = int(acc_codes.max()) + 1 if len(acc_codes) else 0
    prob = np.zeros((n_acc, len(per)))
    prob[acc_codes, per_codes] = np.minimum(amounts.values, 1.0)
    won, scale = kernels.systematic_lottery(prob, np.floor(per.values), seed)
    return pd.DataFrame(
        {"probability": (prob * scale)[acc_codes, per_codes],
         "won": won[acc_codes, per_codes].astype(np.int64)},
        index=pd.MultiIndex.from_frame(amounts.frame.select(ACCOUNT, PERIOD).to_pandas()),
    )


def _lottery_input(allocation: Any) -> Any:
    """What :func:`lottery` reads: a Series named ``allocation`` or a table with that column."""
    if isinstance(allocation, PeriodAllocation):
        allocation = allocation.allocation
    if isinstance(allocation, pd.Series):
        if allocation.dtype.kind == "c":
            raise InputTypeError("allocation must be real numbers, not complex", ["allocation"])
        return allocation.rename("allocation")
    if isinstance(allocation, pd.DataFrame | pl.DataFrame | pl.LazyFrame):
        columns = (allocation.collect_schema().names() if isinstance(allocation, pl.LazyFrame)
                   else list(allocation.columns))
        if "allocation" not in columns:
            raise ParameterError("allocation table needs an 'allocation' column", columns)
        if isinstance(allocation, pd.DataFrame) and allocation["allocation"].dtype.kind == "c":
            raise InputTypeError("allocation must be real numbers, not complex", ["allocation"])
        return allocation
    raise InputTypeError("allocation must be a PeriodAllocation, a Series indexed by "
                         "(account, period) or a table with columns account, period, "
                         f"allocation; got {type(allocation).__name__}")


def _grid_codes(amounts: KeyedTable, per: KeyedTable) -> tuple[np.ndarray, np.ndarray]:
    """Account codes (dense rank) and period codes of the allocation rows."""
    require_rows(amounts.frame, "allocation")
    acc = (amounts.frame[ACCOUNT].rank("dense").to_numpy() - 1).astype(np.int64)
    (p,) = code_rows(amounts.frame.select(PERIOD), [(per, [PERIOD], "period")],
                     what="allocation")
    return acc, p


# --- several independent problems (e.g. scenarios) -----------------------------------------------

@public("periods")
def allocate_period_groups(
    requests: Any, currency: Any, capacities: Any, by: str | Sequence[str], **options: Any
) -> PeriodAllocation:
    """:func:`allocate_periods` run independently for each value of the ``by`` column(s).

    All three inputs are tables carrying the ``by`` columns; the result's tables gain them as
    leading index levels, step totals and counts add up over the groups (iterations: the
    largest; status: the worst of the groups, e.g. ``"repaired"`` if any group needed a
    repair). Each group is its own LP, solved one after the other.

    Parameters
    ----------
    requests : pandas.DataFrame or polars.DataFrame
        Columns ``*by``, ``account``, ``period``, ``request``.
    currency : pandas.DataFrame or polars.DataFrame
        Columns ``*by``, ``account``, ``currency``.
    capacities : pandas.DataFrame or polars.DataFrame
        Columns ``*by``, ``period``, ``capacity``.
    by : str or sequence of str
        The group column(s).
    **options
        Keyword options of :func:`allocate_periods` (``weights``, ``auto_weights``, …).

    Returns
    -------
    PeriodAllocation
        The groups' results stacked, ``by`` leading every table's index.

    Raises
    ------
    fairalloc.transforms.errors.EmptyInputError
        The tables hold no group.
    fairalloc.transforms.errors.UnknownKeyError
        A group present in one table and missing from another (named).
    fairalloc.transforms.errors.FairallocError
        Whatever :func:`allocate_periods` raises for a group.

    Examples
    --------
    >>> req = pd.DataFrame({"scenario": ["x", "y"], "account": ["A", "A"], "period": [1, 1],
    ...                     "request": [5.0, 5.0]})
    >>> cur = pd.DataFrame({"scenario": ["x", "y"], "account": ["A", "A"], "currency": [1, 1]})
    >>> cap = pd.DataFrame({"scenario": ["x", "y"], "period": [1, 1], "capacity": [2.0, 9.0]})
    >>> allocate_period_groups(req, cur, cap, by="scenario").allocation["allocation"].tolist()
    [2.0, 5.0]
    """
    by = by_columns(by)
    groups = split_groups({"requests": requests, "currency": currency,
                           "capacities": capacities}, by, what="allocate_period_groups")
    if not groups:
        raise EmptyInputError("allocate_period_groups: the tables hold no group")
    results = {key: allocate_periods(t["requests"], t["currency"], t["capacities"], **options)
               for key, t in groups}

    def stack(attr: str) -> pd.DataFrame:
        tables = [getattr(r, attr) for r in results.values()]
        keys = [k if len(k) > 1 else k[0] for k in results]
        return pd.concat(tables, keys=keys, names=by)

    reports = [r.report for r in results.values()]
    total = {f: sum(getattr(r, f) for r in reports) for f in (
        "wall_time_s", "accounts", "periods", "classes", "total_capacity", "total_request",
        "allocated", "step1_allocated", "step2_allocated", "unallocated_capacity")}
    report = PeriodReport(status=worst_status(r.status for r in reports),
                          iterations=max(r.iterations for r in reports), **total)
    return PeriodAllocation(stack("allocation"), stack("accounts"), stack("periods"),
                            report.step1_allocated, report.step2_allocated, report.iterations,
                            report=report)


@public("lottery")
def lottery_groups(allocation: pd.DataFrame | pd.Series, capacities: Any,
                   by: str | Sequence[str], seed: int = PERIODS.seed) -> pd.DataFrame:
    """:func:`lottery` for each value of the leading ``by`` index level(s) / columns.

    Parameters
    ----------
    allocation : PeriodAllocation, pandas.Series, pandas.DataFrame or polars.DataFrame
        As for :func:`lottery`, carrying the ``by`` index levels or columns (e.g. what
        :func:`allocate_period_groups` returns).
    capacities : pandas.DataFrame or polars.DataFrame
        Columns ``*by``, ``period``, ``capacity``.
    by : str or sequence of str
        The group column(s).
    seed : int, default 0
        Seed (a whole number ≥ 0) of every group's lottery.

    Returns
    -------
    pandas.DataFrame
        The groups' draws stacked, ``by`` leading the index (account, period).

    Raises
    ------
    fairalloc.transforms.errors.InputTypeError
        ``allocation`` is neither a Series nor a table.
    fairalloc.transforms.errors.ParameterError
        An allocation table without an ``allocation`` column, or a bad ``seed``.
    fairalloc.transforms.errors.UnknownKeyError
        A group present in one input and missing from the other.
    fairalloc.transforms.errors.FairallocError
        Whatever :func:`lottery` raises for a group.
    """
    by = by_columns(by)
    if isinstance(allocation, PeriodAllocation):
        allocation = allocation.allocation
    frame = allocation.to_frame("allocation") if isinstance(allocation, pd.Series) else allocation
    if not isinstance(frame, pd.DataFrame | pl.DataFrame | pl.LazyFrame):
        raise InputTypeError("lottery_groups: allocation must be a Series or a table with an "
                             f"'allocation' column; got {type(allocation).__name__}")
    if isinstance(frame, pl.LazyFrame):
        frame = frame.collect()
    if "allocation" not in frame.columns:
        raise ParameterError("allocation table needs an 'allocation' column", list(frame.columns))
    seed = whole("seed", seed, **PERIODS.option("seed").bounds())
    keep = (*by, ACCOUNT, PERIOD, "allocation")  # a pandas table keeps its index levels too
    table = (frame[[c for c in frame.columns if c in keep]] if isinstance(frame, pd.DataFrame)
             else frame)
    groups = split_groups({"allocation": table, "capacities": capacities}, by,
                          what="lottery_groups")
    draws = []
    for _, t in groups:
        draws.append(lottery(t["allocation"], t["capacities"], seed=seed))
    keys = [k if len(k) > 1 else k[0] for k, _ in groups]
    return pd.concat(draws, keys=keys, names=by)


@public("periods")
def period_violations(allocation: pd.DataFrame, requests: Any, capacities: Any,
                      by: str | Sequence[str] = (), rtol: float = 1e-9) -> pd.DataFrame:
    """Conservation breaches of a period allocation against its inputs (empty when none).

    ``allocation`` is indexed by (``*by``, account, period) with an ``allocation`` column (as
    :func:`allocate_periods` returns it); ``requests`` and ``capacities`` are the input tables
    (``*by``, account, period, request) and (``*by``, period, capacity). Rules:
    ``over_capacity`` (a period's total above its capacity), ``over_request`` (an account
    above its request; a pair without a request row asked for 0), ``negative``.

    Parameters
    ----------
    allocation : pandas.DataFrame
        Indexed by (``*by``, account, period), column ``allocation``.
    requests : pandas.DataFrame or polars.DataFrame
        Columns ``*by``, ``account``, ``period``, ``request``.
    capacities : dict, pandas.Series, pandas.DataFrame or polars.DataFrame
        Capacity by (``*by``, period).
    by : str or sequence of str, default ()
        The group column(s), if any.
    rtol : float, default 1e-9
        Relative slack of each capacity and request.

    Returns
    -------
    pandas.DataFrame
        Columns ``rule``, ``key``, ``amount``, ``limit``: one row per breach.

    Raises
    ------
    fairalloc.transforms.errors.FairallocError
        Bad ``requests`` or ``capacities`` (as for :func:`allocate_periods`), or an
        ``allocation`` lacking its column or index levels
        (:class:`~fairalloc.transforms.errors.InputTypeError`).

    Examples
    --------
    >>> alloc = pd.DataFrame({"allocation": [3.0, 2.0]}, index=pd.MultiIndex.from_tuples(
    ...     [("A", 1), ("B", 1)], names=["account", "period"]))
    >>> req = pd.DataFrame({"account": ["A", "B"], "period": [1, 1], "request": [3.0, 1.0]})
    >>> period_violations(alloc, req, {1: 4}).values.tolist()
    [['over_capacity', 1, 5.0, 4.0], ['over_request', ('B', 1), 2.0, 1.0]]
    """
    by = [by] if isinstance(by, str) else list(by)
    keys = [*by, ACCOUNT, PERIOD]
    req = table_input(requests, contract.REQUESTS, by=by, what="requests").frame.to_pandas()
    cap = table_input(capacities, contract.CAPACITIES, by=by, what="capacities").frame
    cap = cap.to_pandas().set_index([*by, PERIOD])["capacity"]
    got = allocation["allocation"]
    asked = req.set_index(keys)["request"].reindex(got.index, fill_value=0.0)
    used = got.groupby(level=[*by, PERIOD]).sum()
    limit = cap.reindex(used.index)
    rows = []
    over_cap = ~(used <= limit * (1 + rtol))  # a period missing from capacities fails too
    rows += [("over_capacity", k, u, c) for k, u, c in
             zip(used.index[over_cap], used[over_cap], limit[over_cap], strict=True)]
    over_req = got > asked * (1 + rtol)
    rows += [("over_request", k, v, r) for k, v, r in
             zip(got.index[over_req], got[over_req], asked[over_req], strict=True)]
    neg = ~(got >= 0)
    rows += [("negative", k, v, 0.0) for k, v in zip(got.index[neg], got[neg], strict=True)]
    return pd.DataFrame(rows, columns=["rule", "key", "amount", "limit"])


@public("lottery")
def lottery_violations(draw: pd.DataFrame, capacities: Any,
                       by: str | Sequence[str] = ()) -> pd.DataFrame:
    """Periods whose lottery winners exceed the integer capacity floor(X_t) (empty when none).

    Parameters
    ----------
    draw : pandas.DataFrame
        Indexed by (``*by``, account, period), column ``won``, as :func:`lottery` returns it.
    capacities : dict, pandas.Series, pandas.DataFrame or polars.DataFrame
        Capacity by (``*by``, period).
    by : str or sequence of str, default ()
        The group column(s), if any.

    Returns
    -------
    pandas.DataFrame
        Columns ``rule`` (``"over_capacity"``), ``key``, ``amount``, ``limit``.

    Raises
    ------
    fairalloc.transforms.errors.FairallocError
        Bad ``capacities`` (as for :func:`lottery`), or a ``draw`` lacking its column or
        index levels (:class:`~fairalloc.transforms.errors.InputTypeError`).
    """
    by = [by] if isinstance(by, str) else list(by)
    cap = table_input(capacities, contract.CAPACITIES, by=by, what="capacities")
    limit = cap.frame.to_pandas().set_index([*by, PERIOD])["capacity"].map(np.floor)
    won = draw.groupby(level=[*by, PERIOD])["won"].sum()
    over = won[won > limit.reindex(won.index)]
    return pd.DataFrame({"rule": "over_capacity", "key": list(over.index),
                         "amount": over.to_numpy(dtype=float),
                         "limit": limit.reindex(over.index).to_numpy()},
                        columns=["rule", "key", "amount", "limit"])
