"""Ranked-preference assignment (SPEC §3): users rank items, items have capacities.

Decisions where the spec is silent (documented here and relied on by the tests)
    * Users are those named in ``preferences``; items are those in ``capacities`` (an item in
      ``preferences`` but not in ``capacities`` is an error; an item in ``capacities`` that
      nobody ranks is fine and is used by ``fill_unlisted``).
    * Exactly repeated (user, item, rank) rows collapse; the same (user, item) with two ranks,
      or one user giving two items the same rank, is an error.
    * ``total_cost`` counts the rank of every listed placement, max_rank + 2 for an unlisted
      one and ``unassigned_cost`` for every unassigned user. ``rank_maximal`` places as many
      users as possible first, whatever ``unassigned_cost``.
    * Capacities above the number of users act as unlimited.
    * Every answer is verified before it is returned (each user on at most one item and only
      on a listed one unless ``fill_unlisted``, item loads within capacity, nobody unplaced
      unless allowed, side constraints held); a breach is a
      :class:`~fairalloc.transforms.errors.SolverError` naming the users or items.
    * With ``allow_unassigned=False`` and not every user placeable, the error gives the true
      minimum number of users left out (a maximum-cardinality solve, independent of costs).
    * Flags take only True / False, ``unassigned_cost``, ``seed`` and quota maxima only whole
      numbers (numpy integers too, never bools); a bool amount or key is an
      :class:`~fairalloc.transforms.errors.InputTypeError`. Every exception leaving these functions
      is a :class:`~fairalloc.transforms.errors.FairallocError`.
    * ``by=`` (group columns, e.g. independent registration campaigns): each group is solved on
      its own, exactly as if called with that group's rows alone (same seed), and the results
      are stacked with the group columns leading the index, as sourcing and periods do. Users
      and items are keyed within their group (``item1`` of two campaigns are two items).
      ``constraints`` name users and items without a group, so they cannot be combined with
      ``by`` (a :class:`~fairalloc.transforms.errors.ParameterError`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from fairalloc.schemas import assignment as contract
from fairalloc.solvers import assignment as kernels
from fairalloc.transforms._params import choice, flag, whole
from fairalloc.transforms._report import Report, stopwatch, worst_status
from fairalloc.transforms._tables import (
    KeyedTable,
    by_columns,
    code_rows,
    key_tuples,
    split_groups,
    stack_groups,
    table_input,
    to_polars,
)
from fairalloc.transforms.errors import (
    DuplicateKeyError,
    InputTypeError,
    InvalidAmountError,
    ParameterError,
    SolverError,
    UnknownKeyError,
    public,
    translated,
)
from fairalloc.transforms.options import ASSIGNMENT

log = logging.getLogger(__name__)

# column names from the table definitions (fairalloc.schemas.assignment)
USER, ITEM = contract.USER.name, contract.ITEM.name
RANK, CAPACITY = contract.PREFERENCES.values[0].name, contract.CAPACITIES.values[0].name

#: Ranks beyond this are rejected (costs must stay within the solvers' integer ranges).
MAX_RANK = 1_000_000


@dataclass(frozen=True)
class AssignmentReport(Report):
    """What an assignment run did; ``rank_counts[k]`` users got their k-th choice."""

    strategy: str
    users: int
    items: int
    assigned: int
    unassigned: int
    unlisted: int
    #: The objective: ``rank_cost + unassigned_penalty``.
    total_cost: int
    rank_counts: dict
    priority_levels: int
    #: Σ rank obtained by the placed users (an unlisted item counts max rank + 2).
    rank_cost: int = 0
    #: ``unassigned`` × ``unassigned_cost``: what leaving users unplaced adds to the objective.
    unassigned_penalty: int = 0


@dataclass(frozen=True)
class PreferenceAssignment:
    """``allocation``: indexed by user, columns ``item`` and ``rank`` (missing when none)."""

    allocation: pd.DataFrame
    report: AssignmentReport = field(repr=False)


def _capacities(obj: Any, by: Sequence[str] = ()) -> pl.DataFrame:
    """(*by,) item → integer capacity ≥ 0, or null/NaN for unlimited (kept as -1)."""
    keys = [*by, ITEM]
    df = to_polars(obj, keys, CAPACITY, what="capacities")
    v = df[CAPACITY].to_numpy()
    finite = ~np.isnan(v)
    bad = np.flatnonzero(finite & ((v < 0) | (v != np.floor(v)) | np.isinf(v)))
    if bad.size:
        raise InvalidAmountError("capacities must be whole numbers ≥ 0 (or missing for "
                                 "unlimited)", key_tuples(df, keys, bad[:10]), bad.size)
    df = df.with_columns(pl.Series(CAPACITY, np.where(finite, v, -1.0)))
    return table_input(df, contract.CAPACITIES, by=list(by), what="capacities",
                       rules=False).frame


def _preferences(obj: Any) -> tuple[KeyedTable, np.ndarray, pl.Series]:
    """The preference table (sorted by user, item), each row's user code and the users."""
    prefs = table_input(obj, contract.PREFERENCES, what="preferences")
    ranks = prefs.values
    bad = np.flatnonzero((ranks < 1) | (ranks != np.floor(ranks)) | (ranks > MAX_RANK))
    if bad.size:
        raise InvalidAmountError(f"ranks must be whole numbers from 1 to {MAX_RANK:,}",
                                 key_tuples(prefs.frame, [USER, ITEM], bad[:10]), bad.size)
    # sorted by user: a user's rows are one run, so run ids are the sorted user codes
    col = prefs.frame[USER]
    if col.dtype == pl.Int64:  # numpy: no query-engine start-up on small tables
        v = col.to_numpy()
        change = np.empty(len(v), bool)
        change[:1] = True
        np.not_equal(v[1:], v[:-1], out=change[1:])
        user = np.cumsum(change) - 1
        starts = np.flatnonzero(change)
        users = pl.Series(USER, v[starts])
    else:
        user = col.rle_id().to_numpy().astype(np.int64)
        starts = np.flatnonzero(np.diff(user, prepend=-1))
        users = col.gather(starts)
    # one (user, rank) pair twice: counted in place when users × ranks is small, else sorted
    rank = ranks.astype(np.int64)
    top = int(rank.max())
    if len(users) * top <= 4 * len(rank) + 1024:
        slot = np.flatnonzero(np.bincount(user * top + (rank - 1)) > 1)
        twice_user, twice_rank = slot // top, slot % top + 1
    else:
        packed = np.sort(user * (MAX_RANK + 1) + rank)
        slot = np.unique(packed[1:][packed[1:] == packed[:-1]])
        twice_user, twice_rank = slot // (MAX_RANK + 1), slot % (MAX_RANK + 1)
    if slot.size:
        names = users.gather(twice_user).to_list()
        raise DuplicateKeyError("a user gives the same rank to two items",
                                list(zip(names, twice_rank.tolist(), strict=True)))
    return prefs, user, users


@public("assignment")
def assign_preferences(
    preferences: Any,
    capacities: Any,
    *,
    strategy: str = ASSIGNMENT.strategy,
    fill_unlisted: bool = ASSIGNMENT.fill_unlisted,
    allow_unassigned: bool = ASSIGNMENT.allow_unassigned,
    unassigned_cost: int = ASSIGNMENT.unassigned_cost,
    seed: int = ASSIGNMENT.seed,
    constraints: Any = None,
    by: str | Sequence[str] | None = None,
) -> PreferenceAssignment:
    """Give each user at most one item, best for all (``"min_cost_flow"``) or fairest by tiers.

    Parameters
    ----------
    preferences : pandas.DataFrame or polars.DataFrame
        Columns ``user``, ``item``, ``rank`` (1 = best).
    capacities : dict, pandas.Series, pandas.DataFrame or polars.DataFrame
        Item → whole number ≥ 0 (missing = unlimited), or a table with columns ``item``,
        ``capacity``.
    strategy : {"min_cost_flow", "rank_maximal", "milp"}
        The social optimum (least total rank), lexicographic fairness tiers (most users
        placed, then most first choices, then second choices, …), or the social optimum under
        side constraints (a MILP).
    fill_unlisted : bool
        Also allow any unlisted item, at cost max_rank + 2.
    allow_unassigned : bool
        Users may stay unplaced at ``unassigned_cost`` (always feasible); if False and not all
        users fit, :class:`~fairalloc.transforms.errors.SolverError` says how many cannot be placed.
    unassigned_cost : int, default 10000
        Cost (a whole number ≥ 0) of every user left unplaced.
    seed : int
        Ties between equally good assignments are broken by a seeded per-user priority.
    constraints : dict, optional
        ``strategy="milp"`` only.
        ``{"quotas": [{"users": [...], "items": [...], "max": q}],`` (at most q of those users
        on those items) ``"together": [[u1, u2, ...]],`` (on one item, or all unassigned)
        ``"conflicts": [{"users": [...], "items": [a, b]}]}`` (the group may not occupy both).
        Constraints that admit no assignment raise
        :class:`~fairalloc.transforms.errors.SolverError`.
    by : str or list of str, optional
        Group columns (e.g. ``"campaign"``) carried by both tables: every group is an
        independent assignment, solved as if alone; the result's index gains them as leading
        levels and the report adds up over the groups (status: the worst).

    Returns
    -------
    PreferenceAssignment
        ``allocation`` (indexed by user, or ``(*by, user)``; columns ``item`` and ``rank``,
        missing when unplaced) and the :class:`AssignmentReport`.

    Raises
    ------
    fairalloc.transforms.errors.ParameterError
        An unknown ``strategy``, ``constraints`` without ``strategy="milp"`` or malformed, a
        flag that is not True / False, or a negative or fractional ``unassigned_cost`` or
        ``seed``.
    fairalloc.transforms.errors.UnknownKeyError
        ``preferences`` (or ``constraints``) names an item missing from ``capacities``, or
        ``constraints`` a user missing from ``preferences``.
    fairalloc.transforms.errors.DuplicateKeyError
        The same (user, item) with two ranks, one user giving two items the same rank, or an
        item with two capacities.
    fairalloc.transforms.errors.InvalidAmountError
        A rank or capacity that is not a whole number in its range.
    fairalloc.transforms.errors.EmptyInputError
        ``preferences`` has no rows.
    fairalloc.transforms.errors.InputTypeError
        An input of the wrong type, columns or dtypes (bools included).
    fairalloc.transforms.errors.SolverError
        No assignment places every user (``allow_unassigned=False``; the message says how
        many cannot be placed), infeasible ``constraints``, or a solver answer that breaks
        a limit.

    Examples
    --------
    >>> prefs = pd.DataFrame({"user": ["U1", "U2", "U2"], "item": ["I1", "I1", "I2"],
    ...                       "rank": [1, 1, 2]})
    >>> res = assign_preferences(prefs, {"I1": 1, "I2": 1})
    >>> res.allocation["item"].to_dict()
    {'U1': 'I1', 'U2': 'I2'}
    >>> res.report.rank_counts
    {1: 1, 2: 1}

    Two independent campaigns at once:

    >>> two = pd.concat([prefs.assign(campaign="spring"), prefs.assign(campaign="autumn")])
    >>> caps = pd.DataFrame({"campaign": ["spring", "spring", "autumn", "autumn"],
    ...                      "item": ["I1", "I2", "I1", "I2"], "capacity": [1, 1, 2, 0]})
    >>> assign_preferences(two, caps, by="campaign").allocation["item"].to_dict()
    {('autumn', 'U1'): 'I1', ('autumn', 'U2'): 'I1', ('spring', 'U1'): 'I1', ('spring', 'U2'): 'I2'}
    """
    if by is not None:
        if constraints is not None:
            raise ParameterError("constraints cannot be combined with by= (they name users "
                                 "and items without their group)", ["constraints"])
        return _assign_groups(preferences, capacities, by_columns(by), strategy=strategy,
                              fill_unlisted=fill_unlisted, allow_unassigned=allow_unassigned,
                              unassigned_cost=unassigned_cost, seed=seed)
    choice("strategy", strategy, kernels.STRATEGIES)
    if constraints is not None and strategy != "milp":
        raise ParameterError("constraints need strategy='milp'", [strategy])
    fill_unlisted = flag("fill_unlisted", fill_unlisted)
    allow_unassigned = flag("allow_unassigned", allow_unassigned)
    unassigned_cost = whole("unassigned_cost", unassigned_cost,
                            **ASSIGNMENT.option("unassigned_cost").bounds())
    seed = whole("seed", seed, **ASSIGNMENT.option("seed").bounds())
    with stopwatch() as sw:
        prefs, user, users = _preferences(preferences)
        caps = _capacities(capacities)
        items_table = KeyedTable(caps, (ITEM,), CAPACITY)  # sorted, one row per item
        (item,) = code_rows(prefs.frame, [(items_table, [ITEM], "item")], what="preferences")
        n_u, n_i = len(users), caps.height
        rank = prefs.values.astype(np.int64)
        cost = rank
        if fill_unlisted:
            listed = np.zeros((n_u, n_i), bool)
            listed[user, item] = True
            extra_u, extra_i = np.nonzero(~listed)
            user = np.concatenate([user, extra_u])
            item = np.concatenate([item, extra_i])
            cost = np.concatenate([rank, np.full(len(extra_u), int(rank.max()) + 2)])
        raw = caps[CAPACITY].to_numpy()  # -1 = unlimited; beyond n_u is as good as unlimited
        capacity = np.where(raw < 0, -1, np.minimum(raw, n_u)).astype(np.int64)
        arcs = kernels.Arcs(user, item, cost, capacity, n_u, unassigned_cost, allow_unassigned)
        side = _side(constraints, users, caps[ITEM]) if constraints is not None else None
        try:
            with translated("assignment", labels={"user": users, "item": caps[ITEM]}):
                result = kernels.solve(strategy, arcs, seed, side)  # verified
        except SolverError as err:
            cause = err.__cause__
            if isinstance(cause, kernels.InfeasibleConstraints):
                err = SolverError(f"assignment: infeasible: {cause.detail}", ["constraints"])
            elif isinstance(cause, kernels.Infeasible):
                err = SolverError(f"assignment: no assignment places every user: "
                                  f"{cause.unplaced} user(s) cannot be placed "
                                  "(allow_unassigned=False)")
            else:
                raise
            err.status = cause.status
            raise err from cause
    got = result.item
    # the rank each user obtained: listed arcs come first, unlisted (fill) arcs after them
    listed = (result.arc >= 0) & (result.arc < len(rank))
    obtained = np.full(n_u, np.nan)
    obtained[listed] = rank[result.arc[listed]]
    allocation = pd.DataFrame(
        {ITEM: _nullable_take(caps[ITEM], got),
         RANK: pd.arrays.IntegerArray(rank[np.where(listed, result.arc, 0)],
                                      ~listed)},
        index=pd.Index(users.to_numpy() if users.dtype == pl.Int64 else users.to_pandas(),
                       name=USER),
    )
    report = _report(strategy, got, obtained, rank, arcs, result, sw.seconds, unassigned_cost)
    log.info("assign_preferences(%s): %d of %d users placed in %.3fs", strategy,
             report.assigned, report.users, report.wall_time_s)
    return PreferenceAssignment(allocation, report)


def _nullable_take(keys: pl.Series, codes: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """The keys at ``codes`` as a nullable pandas array, -1 → missing (int keys: Int64, read
    through numpy rather than a pandas round trip)."""
    missing = codes < 0
    if keys.dtype == pl.Int64:
        return pd.arrays.IntegerArray(keys.to_numpy()[np.where(missing, 0, codes)], missing)
    as_pandas = keys.to_pandas()
    return pd.array(as_pandas, dtype=as_pandas.dtype).take(codes, allow_fill=True)


def _assign_groups(preferences: Any, capacities: Any, by: list[str],
                   **options: Any) -> PreferenceAssignment:
    """:func:`assign_preferences` per group of the ``by`` columns, stacked (``by`` leading)."""
    choice("strategy", options["strategy"], kernels.STRATEGIES)  # before any group is split
    groups = split_groups({"preferences": preferences, "capacities": capacities}, by,
                          what="assign_preferences")
    results = [(key, assign_preferences(t["preferences"], t["capacities"], **options))
               for key, t in groups]
    reports = [r.report for _, r in results]
    counts: dict[int, int] = {}
    for r in reports:
        for k, c in r.rank_counts.items():
            counts[k] = counts.get(k, 0) + c
    total = {f: sum(getattr(r, f) for r in reports) for f in (
        "wall_time_s", "users", "items", "assigned", "unassigned", "unlisted", "total_cost",
        "rank_cost", "unassigned_penalty")}
    report = AssignmentReport(status=worst_status(r.status for r in reports),
                              strategy=options["strategy"],
                              rank_counts=dict(sorted(counts.items())),
                              priority_levels=max(r.priority_levels for r in reports), **total)
    allocation = stack_groups([(k, r.allocation) for k, r in results], by)
    return PreferenceAssignment(allocation, report)


_SIDE_KEYS = ("quotas", "together", "conflicts")


def _side(constraints: Any, users: pl.Series, items: pl.Series) -> kernels.SideConstraints:
    """Translate ``constraints`` (keys quotas / together / conflicts) to codes.

    quotas: ``[{"users": [...], "items": [...], "max": q}, ...]``; together: ``[[u1, u2, ...],
    ...]``; conflicts: ``[{"users": [...], "items": [a, b]}, ...]``.
    """
    if not isinstance(constraints, dict):
        raise ParameterError("constraints must be a dict with keys " + ", ".join(_SIDE_KEYS))
    unknown = [k for k in constraints if k not in _SIDE_KEYS]
    if unknown:
        raise ParameterError(f"unknown constraint kinds (known: {_SIDE_KEYS})", unknown)
    u_code = dict(zip(users.to_list(), range(users.len()), strict=True))
    i_code = dict(zip(items.to_list(), range(items.len()), strict=True))

    def codes(keys: Any, table: dict, what: str) -> np.ndarray:
        keys = list(keys)
        missing = [k for k in keys if k not in table]
        if missing:
            raise UnknownKeyError(f"constraints name unknown {what}", missing)
        return np.array([table[k] for k in keys], dtype=np.int64)

    try:
        quotas = tuple((codes(q["users"], u_code, "users"), codes(q["items"], i_code, "items"),
                        whole("a quota's max", q["max"], low=0))
                       for q in constraints.get("quotas", ()))
        # a user named twice in a group is one user; a group of one constrains nothing
        together = tuple(g for g in (np.unique(codes(g, u_code, "users"))
                                     for g in constraints.get("together", ())) if len(g) > 1)
        conflicts = []
        for c in constraints.get("conflicts", ()):
            pair = codes(c["items"], i_code, "items")
            if len(pair) != 2 or pair[0] == pair[1]:
                raise ParameterError("a conflict names exactly two different items",
                                     list(c["items"]))
            conflicts.append((codes(c["users"], u_code, "users"), int(pair[0]), int(pair[1])))
    except (KeyError, TypeError) as exc:
        raise ParameterError(f"malformed constraints ({exc!r})") from None
    return kernels.SideConstraints(quotas, together, tuple(conflicts))


def _report(strategy, got, obtained, rank, arcs, result, seconds,
            unassigned_cost: int) -> AssignmentReport:
    """The caller's ``unassigned_cost`` prices unplaced users (the solvers may use a smaller
    equivalent one)."""
    placed = got >= 0
    listed = ~np.isnan(obtained)
    counts = np.bincount(obtained[listed].astype(np.int64), minlength=int(rank.max()) + 1)
    unlisted = int((placed & ~listed).sum())
    unassigned = int((~placed).sum())
    rank_cost = int(obtained[listed].sum()) + unlisted * (int(rank.max()) + 2)
    penalty = unassigned * unassigned_cost
    total = rank_cost + penalty
    return AssignmentReport(
        status=str(result.status), wall_time_s=seconds, strategy=strategy, users=arcs.n_users,
        items=len(arcs.capacity), assigned=int(placed.sum()), unassigned=unassigned,
        unlisted=unlisted, total_cost=total,
        rank_counts={k: int(c) for k, c in enumerate(counts) if k >= 1 and c},
        priority_levels=result.levels, rank_cost=rank_cost, unassigned_penalty=penalty,
    )


__all__ = ["AssignmentReport", "PreferenceAssignment", "assign_preferences"]


@public("assignment")
def assignment_summary(allocation: pd.DataFrame, capacities: Any,
                       max_rank: int | None = None,
                       by: str | Sequence[str] | None = None) -> pd.DataFrame:
    """Per item: capacity (missing = unlimited), assigned, and how many got it as rank k.

    The columns do not depend on who got what: ``rank_1`` … ``rank_K`` are all present (0
    where nobody got that rank), K being ``max_rank`` (the worst rank listed in the
    preferences) or, without it, the worst rank obtained.

    Parameters
    ----------
    allocation : pandas.DataFrame
        Indexed by user, columns ``item`` and ``rank`` (missing when unplaced), as in
        :attr:`PreferenceAssignment.allocation`.
    capacities : dict, pandas.Series, pandas.DataFrame or polars.DataFrame
        The capacities given to :func:`assign_preferences`.
    max_rank : int, optional
        The worst rank of the preferences (a whole number ≥ 1): the last rank column.
    by : str or list of str, optional
        Group columns: ``allocation`` indexed by ``(*by, user)`` and ``capacities`` a table
        with the ``by`` columns; each group is summarised on its own.

    Returns
    -------
    pandas.DataFrame
        Indexed by item (or ``(*by, item)``): ``capacity`` (Int64, missing = unlimited),
        ``assigned`` (int64) and ``rank_1`` … ``rank_K`` (int64; 0 where nobody in the group
        obtained rank k).

    Raises
    ------
    fairalloc.transforms.errors.FairallocError
        Bad ``capacities`` (as for :func:`assign_preferences`), an ``allocation`` lacking
        its columns (:class:`~fairalloc.transforms.errors.InputTypeError`), or a rank
        obtained beyond ``max_rank`` (:class:`~fairalloc.transforms.errors.ParameterError`).

    Examples
    --------
    >>> alloc = pd.DataFrame({"item": ["X", "X", None], "rank": [1, 2, None]},
    ...                      index=pd.Index(["a", "b", "c"], name="user"))
    >>> assignment_summary(alloc, {"X": 2, "Y": None}).to_dict("index")["X"]
    {'capacity': 2, 'assigned': 2, 'rank_1': 1, 'rank_2': 1}
    >>> assignment_summary(alloc, {"X": 2}, max_rank=4).columns.tolist()
    ['capacity', 'assigned', 'rank_1', 'rank_2', 'rank_3', 'rank_4']
    """
    if by is not None:
        by = by_columns(by)
        parts = [(k, assignment_summary(_group_allocation(t["allocation"]), t["capacities"],
                                        max_rank=max_rank))
                 for k, t in split_groups({"allocation": allocation, "capacities": capacities},
                                          by, what="assignment_summary")]
        out = stack_groups(parts, by)
        ranks = sorted((c for c in out.columns if c.startswith("rank_")),
                       key=lambda c: int(c.removeprefix("rank_")))
        out[ranks] = out[ranks].fillna(0).astype(np.int64)
        return out[[CAPACITY, "assigned", *ranks]]
    caps = _capacities(capacities)
    cap = pd.array(caps[CAPACITY].to_numpy(), dtype="Int64")
    cap[caps[CAPACITY].to_numpy() < 0] = pd.NA
    index = pd.Index(caps[ITEM].to_pandas(), name=ITEM)
    if not {ITEM, RANK} <= set(allocation.columns):
        raise InputTypeError("allocation needs columns item and rank",
                             list(map(str, allocation.columns)))
    placed = allocation.dropna(subset=[ITEM])
    ranks = placed[RANK].dropna().astype(np.int64)
    worst = int(ranks.max()) if len(ranks) else 0
    if max_rank is not None:
        max_rank = whole("max_rank", max_rank, low=1)
        if worst > max_rank:
            raise ParameterError(f"ranks obtained beyond max_rank {max_rank}", [worst])
    k = max(max_rank or 0, worst)
    counts = placed.groupby(ITEM)[RANK].value_counts().unstack(fill_value=0)
    counts = counts.reindex(index=index, columns=range(1, k + 1), fill_value=0)
    counts.columns = [f"rank_{r}" for r in range(1, k + 1)]
    assigned = placed[ITEM].value_counts().reindex(index, fill_value=0)
    out = pd.DataFrame({CAPACITY: cap, "assigned": assigned.to_numpy(dtype=np.int64)},
                       index=index)
    return pd.concat([out, counts.astype(np.int64)], axis=1)


@public("assignment")
def assignment_violations(allocation: pd.DataFrame, capacities: Any,
                          by: str | Sequence[str] | None = None) -> pd.DataFrame:
    """Breaches of an assignment (empty when none): ``over_capacity`` items, ``duplicate_user``
    rows (a user placed twice) and ``unknown_item`` placements.

    Parameters
    ----------
    allocation : pandas.DataFrame
        Indexed by user, column ``item`` (missing when unplaced).
    capacities : dict, pandas.Series, pandas.DataFrame or polars.DataFrame
        The capacities given to :func:`assign_preferences`.
    by : str or list of str, optional
        Group columns, as for :func:`assignment_summary`; a key then starts with its group's
        values (``(campaign, item)``).

    Returns
    -------
    pandas.DataFrame
        Columns ``rule``, ``key``, ``amount``, ``limit``: one row per breach.

    Raises
    ------
    fairalloc.transforms.errors.FairallocError
        Bad ``capacities`` (as for :func:`assign_preferences`), or an ``allocation`` lacking
        its ``item`` column (:class:`~fairalloc.transforms.errors.InputTypeError`).
    """
    if by is not None:
        groups = split_groups({"allocation": allocation, "capacities": capacities},
                              by_columns(by), what="assignment_violations")
        found = [assignment_violations(_group_allocation(t["allocation"]), t["capacities"])
                 .assign(key=lambda v, k=k: [(*k, x) for x in v["key"]]) for k, t in groups]
        return pd.concat(found, ignore_index=True)
    caps = _capacities(capacities)
    limit = pd.Series(caps[CAPACITY].to_numpy(), index=caps[ITEM].to_pandas())
    placed = allocation[ITEM].dropna()
    counts = placed.value_counts()
    known = counts.index.isin(limit.index)
    rows = [("unknown_item", k, int(v), 0) for k, v in counts[~known].items()]
    counts = counts[known]
    cap = limit.reindex(counts.index)
    over = (cap >= 0) & (counts > cap)
    rows += [("over_capacity", k, int(v), int(cap[k])) for k, v in counts[over].items()]
    dup = allocation.index[allocation.index.duplicated()].unique()
    rows += [("duplicate_user", k, int((allocation.index == k).sum()), 1) for k in dup]
    return pd.DataFrame(rows, columns=["rule", "key", "amount", "limit"])


def _group_allocation(frame: pl.DataFrame) -> pd.DataFrame:
    """One group's allocation rows (from :func:`split_groups`) indexed by user again."""
    return frame.to_pandas().set_index(USER)
