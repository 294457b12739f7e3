"""Multi-period allocation with entitlements (SPEC §2): the "desk" problem.

Accounts hold currency (entitlement weight) and request amounts per period; periods have
capacities. Step 1 gives every account one fulfilment scalar λ_i, capped by its entitlement;
step 2 hands out what is left, iterating. See :mod:`solvers.periods` for how the LPs are solved
and which optimum is chosen where several exist.

Decisions where the spec is silent (documented here and relied on by the tests)
    * An account in ``currency`` without request rows requests 0 in every period; an
      (account, period) pair without a row requests 0. A request naming an account or period
      missing from ``currency`` / ``capacities`` is an error.
    * Periods are ordered by their keys; positional ``weights`` follow that order.
    * ``binding`` is ``"full"`` when the final allocation meets every request (within 1e-9
      relative), else ``"entitlement"`` when λ sits at its cap u < 1, else ``"capacity"``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from solvers import periods as kernels
from transforms._report import Report, stopwatch
from transforms._tables import (
    KeyedTable,
    code_rows,
    key_tuples,
    keyed_table,
    require_rows,
    split_groups,
)
from transforms.errors import InvalidAmountError, ParameterError, SolverError

log = logging.getLogger(__name__)

ACCOUNT, PERIOD = "account", "period"


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
    accounts: KeyedTable
    periods: KeyedTable
    requests: np.ndarray  # (N, T)


def _prepare(requests: Any, currency: Any, capacities: Any) -> _Problem:
    acc = keyed_table(currency, [ACCOUNT], "currency", what="currency")
    per = keyed_table(capacities, [PERIOD], "capacity", what="capacities")
    req = keyed_table(requests, [ACCOUNT, PERIOD], "request", what="requests")
    a, p = code_rows(req.frame, [(acc, [ACCOUNT], "account"), (per, [PERIOD], "period")],
                     what="requests")
    dense = np.zeros((len(acc), len(per)))
    dense[a, p] = req.values
    return _Problem(acc, per, dense)


def _weights(problem: _Problem, weights: Any, auto_weights: bool) -> np.ndarray:
    n_t = len(problem.periods)
    if weights is not None:
        if isinstance(weights, pd.Series | dict):
            table = keyed_table(weights, [PERIOD], "weight", what="weights", allow_zero=False)
            if table.frame[PERIOD].to_list() != problem.periods.frame[PERIOD].to_list():
                raise ParameterError("weights must name exactly the periods of capacities",
                                     table.frame[PERIOD].to_list())
            return table.values
        w = np.asarray(weights, dtype=np.float64).ravel()
        if len(w) != n_t:
            raise ParameterError(f"weights must have one entry per period ({n_t})", [len(w)])
        bad = np.flatnonzero(~np.isfinite(w) | (w <= 0))
        if bad.size:
            raise InvalidAmountError("weights must be finite and > 0",
                                     key_tuples(problem.periods.frame, [PERIOD], bad))
        return w
    if not auto_weights:
        return np.ones(n_t)
    demand = problem.requests.sum(axis=0)
    empty = np.flatnonzero(demand <= 0)
    if empty.size:
        raise InvalidAmountError(
            "default weights are undefined: these periods have zero total demand "
            "(pass weights= or auto_weights=False)",
            key_tuples(problem.periods.frame, [PERIOD], empty),
        )
    return kernels.default_weights(problem.requests)


def _check_thresholds(**values: Any) -> None:
    for name, v in values.items():
        if isinstance(v, bool) or not isinstance(v, int | float) or not np.isfinite(v) or v < 0:
            raise ParameterError(f"{name} must be a finite number ≥ 0", [v])


def allocate_periods(
    requests: Any,
    currency: Any,
    capacities: Any,
    weights: Any = None,
    *,
    auto_weights: bool = True,
    two_step: bool = True,
    convergence_threshold: float = 0.01,
    demand_gap_threshold: float = 0.1,
    max_iterations: int = 10,
    step2_strategy: str = "max_flow",
) -> PeriodAllocation:
    """Allocate period capacity to accounts in proportion to entitlement, then leftovers.

    Parameters
    ----------
    requests : table with columns ``account``, ``period``, ``request`` (pandas or polars)
    currency : Series indexed by account, dict, or table ``account``, ``currency``
    capacities : Series indexed by period, dict, or table ``period``, ``capacity``
    weights : optional Series/dict by period, or a sequence in sorted period order (> 0)
    auto_weights : bool
        Without ``weights``: demand-based weights w_t = D_t / min D (True) or all 1 (False).
    two_step, convergence_threshold, demand_gap_threshold, max_iterations
        Step 2 (leftovers): see SPEC §2.
    step2_strategy : {"max_flow", "lp"}
        How each step-2 round is solved: a max-flow (fast, optimal to ~1e-9 relative) or an LP
        with HiGHS (exact, slow beyond ~10^4 accounts × leftover periods).

    Returns
    -------
    PeriodAllocation

    Examples
    --------
    >>> import pandas as pd
    >>> req = pd.DataFrame([(a, t, 50) for a in "ABCD" for t in (1, 2, 3, 4)],
    ...                    columns=["account", "period", "request"])
    >>> res = allocate_periods(req, {"A": 400, "B": 300, "C": 200, "D": 100},
    ...                        {t: 120 for t in (1, 2, 3, 4)})
    >>> res.allocation.xs(1, level="period")["allocation"].round(9).tolist()
    [48.0, 36.0, 24.0, 12.0]
    >>> round(res.step1_allocated, 9), round(res.step2_allocated, 9)
    (480.0, 0.0)
    """
    _check_thresholds(convergence_threshold=convergence_threshold,
                      demand_gap_threshold=demand_gap_threshold)
    if isinstance(max_iterations, bool) or not isinstance(max_iterations, int) or (
            max_iterations < 0):
        raise ParameterError("max_iterations must be an integer ≥ 0", [max_iterations])
    if not isinstance(step2_strategy, str) or step2_strategy not in kernels.STEP2_SOLVERS:
        raise ParameterError(f"step2_strategy must be one of {kernels.STEP2_SOLVERS.names()}",
                             [step2_strategy])
    with stopwatch() as sw:
        problem = _prepare(requests, currency, capacities)
        w = _weights(problem, weights, auto_weights)
        try:
            sol = kernels.solve_periods(
                problem.requests, problem.accounts.values, problem.periods.values, w,
                two_step=two_step, convergence_threshold=convergence_threshold,
                demand_gap_threshold=demand_gap_threshold, max_iterations=max_iterations,
                step2_strategy=step2_strategy,
            )
        except kernels.LPError as exc:
            raise SolverError(str(exc), [exc.status]) from None
        result = _result(problem, sol)
    report = _report(problem, sol, sw.seconds)
    log.info("allocate_periods: %d accounts × %d periods, %d step-2 iteration(s), %.3fs",
             report.accounts, report.periods, report.iterations, report.wall_time_s)
    return PeriodAllocation(*result, report=report)


def _result(problem: _Problem, sol: kernels.PeriodSolution):
    n, t = problem.requests.shape
    alloc = sol.step1 + sol.step2
    acc_keys = problem.accounts.frame[ACCOUNT].to_pandas()
    per_keys = problem.periods.frame[PERIOD].to_pandas()
    index = pd.MultiIndex.from_product([acc_keys, per_keys], names=[ACCOUNT, PERIOD])
    allocation = pd.DataFrame(
        {"request": problem.requests.ravel(), "step1": sol.step1.ravel(),
         "step2": sol.step2.ravel(), "allocation": alloc.ravel()},
        index=index,
    )
    full = (alloc >= problem.requests * (1 - 1e-9)).all(axis=1)
    at_cap = (sol.lam >= sol.u_cap * (1 - 1e-9)) & (sol.u_cap < 1)
    binding = np.where(full, "full", np.where(at_cap, "entitlement", "capacity"))
    accounts = pd.DataFrame(
        {"currency": problem.accounts.values, "entitlement_share": sol.share,
         "lambda": sol.lam, "u_cap": sol.u_cap,
         "weighted_request": problem.requests @ sol.weights,
         "weighted_allocated": alloc @ sol.weights, "binding": binding},
        index=pd.Index(acc_keys, name=ACCOUNT),
    )
    used = alloc.sum(axis=0)
    cap = problem.periods.values
    periods = pd.DataFrame(
        {"capacity": cap, "weight": sol.weights, "used": used,
         "utilization": np.divide(used, cap, out=np.zeros(t), where=cap > 0),
         "price": sol.price},
        index=pd.Index(per_keys, name=PERIOD),
    )
    step1_total = float(sol.step1.sum(axis=0) @ sol.weights)
    step2_total = float(sol.step2.sum(axis=0) @ sol.weights)
    return allocation, accounts, periods, step1_total, step2_total, sol.iterations


def _report(problem: _Problem, sol: kernels.PeriodSolution, seconds: float) -> PeriodReport:
    w = sol.weights
    alloc = sol.step1 + sol.step2
    s1, s2 = float(sol.step1.sum(axis=0) @ w), float(sol.step2.sum(axis=0) @ w)
    return PeriodReport(
        status=sol.status, wall_time_s=seconds, accounts=len(problem.accounts),
        periods=len(problem.periods), classes=sol.classes, iterations=sol.iterations,
        total_capacity=float(problem.periods.values.sum()),
        total_request=float(problem.requests.sum()), allocated=float(alloc.sum()),
        step1_allocated=s1, step2_allocated=s2,
        unallocated_capacity=float(np.maximum(problem.periods.values - alloc.sum(axis=0),
                                              0).sum()),
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


def allocate_resource(
    account_ids: Sequence,
    cur: Sequence[float],
    requests: Sequence[Sequence[float]],
    capacities: Sequence[float],
    weights: Sequence[float] | None = None,
    auto_weights: bool = True,
    two_step: bool = True,
    convergence_threshold: float = 0.01,
    demand_gap_threshold: float = 0.1,
    max_iterations: int = 10,
) -> ResourceAllocation:
    """Drop-in interface: lists in, the classic result fields out (periods numbered from 1).

    ``requests[i][k]`` is account ``account_ids[i]``'s request in period k + 1.

    Examples
    --------
    >>> res = allocate_resource(["A", "B", "C", "D"], [400, 300, 200, 100], [[50] * 4] * 4,
    ...                         [120] * 4)
    >>> [round(v, 9) for v in res.allocations_summary["alloc_period_1"]]
    [48.0, 36.0, 24.0, 12.0]
    >>> res.step1_allocated, res.step2_allocated
    (480.0, 0.0)
    """
    ids = list(account_ids)
    try:
        matrix = np.asarray(requests, dtype=np.float64)
    except (TypeError, ValueError):
        raise ParameterError("requests must be a rectangular table of numbers "
                             "(one row per account, one column per period)") from None
    n_t = len(capacities)
    if matrix.ndim != 2 or matrix.shape != (len(ids), n_t) or len(cur) != len(ids):
        raise ParameterError(
            "requests must be one row per account and one column per capacity "
            f"({len(ids)} × {n_t}); cur one value per account", [matrix.shape])
    if len(set(ids)) != len(ids):
        dup = pd.Index(ids)[pd.Index(ids).duplicated()].unique().tolist()
        raise ParameterError("account_ids must be unique", dup)
    position = {a: i for i, a in enumerate(ids)}
    periods = np.arange(1, n_t + 1)
    req = pd.DataFrame({"account": np.repeat(np.array(ids, dtype=object), n_t),
                        "period": np.tile(periods, len(ids)), "request": matrix.ravel()})
    res = allocate_periods(
        req, dict(zip(ids, cur, strict=True)), dict(zip(periods.tolist(), capacities,
                                                        strict=True)),
        weights, auto_weights=auto_weights, two_step=two_step,
        convergence_threshold=convergence_threshold,
        demand_gap_threshold=demand_gap_threshold, max_iterations=max_iterations,
    )
    table = res.allocation
    order = np.argsort([position[a] for a in res.accounts.index])  # caller's account order
    acc = res.accounts.iloc[order]
    summary = pd.DataFrame({
        "account_id": acc.index.to_list(), "cur": acc["currency"].to_numpy(),
        "entitlement_share": acc["entitlement_share"].to_numpy(),
        "lambda": acc["lambda"].to_numpy(), "u_cap": acc["u_cap"].to_numpy(),
        "weighted_request": acc["weighted_request"].to_numpy(),
        "weighted_allocated": acc["weighted_allocated"].to_numpy(),
    })
    kinds = (("req", "request"), ("alloc", "allocation"), ("step1_alloc", "step1"),
             ("step2_alloc", "step2"))
    wide = {col: table[col].unstack(PERIOD).iloc[order] for _, col in kinds}
    for k in periods:  # per period: req, alloc, step1_alloc, step2_alloc (the classic order)
        for name, col in kinds:
            summary[f"{name}_period_{k}"] = wide[col][k].to_numpy()
    long = table.reset_index()
    long["_pos"] = long[ACCOUNT].map(position)
    long = long.sort_values(["_pos", PERIOD], kind="stable")
    step1 = long.assign(step=1, allocation=long["step1"])
    step2 = long[long["step2"] > 1e-6].assign(step=2, allocation=lambda d: d["step2"])
    detailed = (pd.concat([step1, step2])
                .sort_values(["_pos", PERIOD, "step"], kind="stable")
                .rename(columns={ACCOUNT: "account_id"})
                [["account_id", PERIOD, "step", "allocation", "request"]]
                .reset_index(drop=True))
    used = res.periods["used"].to_numpy()
    return ResourceAllocation(
        allocations_detailed=detailed,
        allocations_summary=summary,
        weights=res.periods["weight"].tolist(),
        total_weighted_allocated=float(res.accounts["weighted_allocated"].sum()),
        capacity_used=used.tolist(),
        capacities=[float(c) for c in capacities],
        utilization=res.periods["utilization"].tolist(),
        step1_allocated=res.step1_allocated,
        step2_allocated=res.step2_allocated,
    )


def lottery(allocation: Any, capacities: Any, seed: int = 0) -> pd.DataFrame:
    """Turn a fractional allocation into whole units (desks, seats) by dependent rounding.

    Account i wins a unit in period t with probability min(1, a_it) (amounts ≥ 1 are capped at
    one unit); in each period the winners never exceed the integer capacity floor(X_t), and
    their expected number equals the fractional total (systematic sampling over a seeded
    random order of accounts, so no account is favoured by its key). Where the fractional
    total exceeds floor(X_t) (a non-integer capacity), that period's probabilities are scaled
    down to fit; the ``probability`` column shows the scaled value.

    Parameters
    ----------
    allocation : PeriodAllocation, or a Series / DataFrame (column ``allocation``) indexed by
        (account, period)
    capacities : Series indexed by period, dict, or table ``period``, ``capacity``
    seed : int

    Returns
    -------
    pandas.DataFrame
        Indexed by (account, period): ``probability`` and ``won`` (0 or 1).

    Examples
    --------
    >>> res = allocate_periods(
    ...     pd.DataFrame({"account": list("ABC"), "period": 1, "request": 1.0}),
    ...     {"A": 1, "B": 1, "C": 1}, {1: 2})
    >>> draw = lottery(res, {1: 2}, seed=7)
    >>> int(draw["won"].sum()), draw["probability"].round(6).tolist()
    (2, [0.666667, 0.666667, 0.666667])
    """
    if isinstance(allocation, PeriodAllocation):
        allocation = allocation.allocation
    if isinstance(allocation, pd.DataFrame):
        if "allocation" not in allocation.columns:
            raise ParameterError("allocation table needs an 'allocation' column",
                                 list(allocation.columns))
        allocation = allocation["allocation"]
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ParameterError("seed must be an integer ≥ 0", [seed])
    amounts = keyed_table(allocation.rename("allocation"), [ACCOUNT, PERIOD], "allocation",
                          what="allocation")
    per = keyed_table(capacities, [PERIOD], "capacity", what="capacities")
    acc_codes, per_codes = _grid_codes(amounts, per)
    n_acc = int(acc_codes.max()) + 1 if len(acc_codes) else 0
    prob = np.zeros((n_acc, len(per)))
    prob[acc_codes, per_codes] = np.minimum(amounts.values, 1.0)
    won, scale = kernels.systematic_lottery(prob, np.floor(per.values), int(seed))
    return pd.DataFrame(
        {"probability": (prob * scale)[acc_codes, per_codes],
         "won": won[acc_codes, per_codes].astype(np.int64)},
        index=pd.MultiIndex.from_frame(amounts.frame.select(ACCOUNT, PERIOD).to_pandas()),
    )


def _grid_codes(amounts: KeyedTable, per: KeyedTable) -> tuple[np.ndarray, np.ndarray]:
    """Account codes (dense rank) and period codes of the allocation rows."""
    require_rows(amounts.frame, "allocation")
    acc = (amounts.frame[ACCOUNT].rank("dense").to_numpy() - 1).astype(np.int64)
    (p,) = code_rows(amounts.frame.select(PERIOD), [(per, [PERIOD], "period")],
                     what="allocation")
    return acc, p


# --- several independent problems (e.g. scenarios) -----------------------------------------------

def allocate_period_groups(
    requests: Any, currency: Any, capacities: Any, by: str | Sequence[str], **options: Any
) -> PeriodAllocation:
    """:func:`allocate_periods` run independently for each value of the ``by`` column(s).

    All three inputs are tables carrying the ``by`` columns; the result's tables gain them as
    leading index levels, step totals and counts add up over the groups (iterations: the
    largest). Each group is its own LP, solved one after the other.

    >>> req = pd.DataFrame({"scenario": ["x", "y"], "account": ["A", "A"], "period": [1, 1],
    ...                     "request": [5.0, 5.0]})
    >>> cur = pd.DataFrame({"scenario": ["x", "y"], "account": ["A", "A"], "currency": [1, 1]})
    >>> cap = pd.DataFrame({"scenario": ["x", "y"], "period": [1, 1], "capacity": [2.0, 9.0]})
    >>> allocate_period_groups(req, cur, cap, by="scenario").allocation["allocation"].tolist()
    [2.0, 5.0]
    """
    by = [by] if isinstance(by, str) else list(by)
    groups = split_groups({"requests": requests, "currency": currency,
                           "capacities": capacities}, by, what="allocate_period_groups")
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
    report = PeriodReport(status="optimal", iterations=max(r.iterations for r in reports),
                          **total)
    return PeriodAllocation(stack("allocation"), stack("accounts"), stack("periods"),
                            report.step1_allocated, report.step2_allocated, report.iterations,
                            report=report)


def lottery_groups(allocation: pd.DataFrame | pd.Series, capacities: Any,
                   by: str | Sequence[str], seed: int = 0) -> pd.DataFrame:
    """:func:`lottery` for each value of the leading ``by`` index level(s) / columns."""
    by = [by] if isinstance(by, str) else list(by)
    frame = allocation.to_frame("allocation") if isinstance(allocation, pd.Series) else allocation
    groups = split_groups({"allocation": frame[["allocation"]], "capacities": capacities}, by,
                          what="lottery_groups")
    draws = []
    for _, t in groups:
        alloc = t["allocation"].to_pandas().set_index([ACCOUNT, PERIOD])["allocation"]
        draws.append(lottery(alloc, t["capacities"], seed=seed))
    keys = [k if len(k) > 1 else k[0] for k, _ in groups]
    return pd.concat(draws, keys=keys, names=by)


def period_violations(allocation: pd.DataFrame, requests: Any, capacities: Any,
                      by: str | Sequence[str] = (), rtol: float = 1e-9) -> pd.DataFrame:
    """Conservation breaches of a period allocation against its inputs (empty when none).

    ``allocation`` is indexed by (``*by``, account, period) with an ``allocation`` column (as
    :func:`allocate_periods` returns it); ``requests`` and ``capacities`` are the input tables
    (``*by``, account, period, request) and (``*by``, period, capacity). Rules:
    ``over_capacity`` (a period's total above its capacity), ``over_request`` (an account
    above its request; a pair without a request row asked for 0), ``negative``.

    >>> alloc = pd.DataFrame({"allocation": [3.0, 2.0]}, index=pd.MultiIndex.from_tuples(
    ...     [("A", 1), ("B", 1)], names=["account", "period"]))
    >>> req = pd.DataFrame({"account": ["A", "B"], "period": [1, 1], "request": [3.0, 1.0]})
    >>> period_violations(alloc, req, {1: 4}).values.tolist()
    [['over_capacity', 1, 5.0, 4.0], ['over_request', ('B', 1), 2.0, 1.0]]
    """
    by = [by] if isinstance(by, str) else list(by)
    keys = [*by, ACCOUNT, PERIOD]
    req = keyed_table(requests, keys, "request", what="requests").frame.to_pandas()
    cap = keyed_table(capacities, [*by, PERIOD], "capacity", what="capacities").frame
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


def lottery_violations(draw: pd.DataFrame, capacities: Any,
                       by: str | Sequence[str] = ()) -> pd.DataFrame:
    """Periods whose lottery winners exceed the integer capacity floor(X_t) (empty when none)."""
    by = [by] if isinstance(by, str) else list(by)
    cap = keyed_table(capacities, [*by, PERIOD], "capacity", what="capacities")
    limit = cap.frame.to_pandas().set_index([*by, PERIOD])["capacity"].map(np.floor)
    won = draw.groupby(level=[*by, PERIOD])["won"].sum()
    over = won[won > limit.reindex(won.index)]
    return pd.DataFrame({"rule": "over_capacity", "key": list(over.index),
                         "amount": over.to_numpy(dtype=float),
                         "limit": limit.reindex(over.index).to_numpy()},
                        columns=["rule", "key", "amount", "limit"])
