"""Fair coverage of populations (SPEC §4) and the fairness audit.

Decisions where the spec is silent (documented here and relied on by the tests)
    * ``shortfall`` is the number of people still uncovered, population × (1 − coverage);
      ``allocated`` is what the group received (Σ over its resources).
    * A resource's ``marginal_value`` is the price of its tight set at the optimum: the common
      w_i |F′(y_i)| of the balanced groups drawing on it, 0 when it is not scarce. ``scarce``
      means its price is positive (it is fully used and more of it would lower the loss).
    * The allocation lists every eligible (group, resource) pair, zeros included; repeated
      eligibility rows collapse. A group with no eligible resource keeps its prior coverage.
    * ``audit_fairness`` reads "receives something" as an amount above ``tol`` × the group's
      population, and compares coverages within ``tol``; weights compare exactly.
    * Magnitudes: any positive finite populations, supplies and weights are accepted, and
      groups that share no resource never affect each other (each connected component of the
      eligibility graph is solved on its own scale, weights enter the solver as logarithms).
      Refused up front, with :class:`InvalidAmountError` naming the groups or resources, is
      only what float64 cannot hold in the results: a group whose weighted loss
      w × population × max |F| over [prior, 1] is not below 1e300 or whose weighted marginal
      value at its prior w |F′(prior)| is not finite, or populations or supplies whose totals
      are not below 1e300 (so the objective, the marginal values and every sum stay finite).
    * The report's ``status`` is ``"optimal"``, or ``"repaired"`` when the solver's answer
      broke a supply or coverage 1 by more than ``fairalloc.solvers.verify.RTOL`` of the limit and
      was scaled back exactly onto it (possible only inside a component whose amounts differ by
      more than about 10^9); an answer that cannot be repaired raises :class:`SolverError`.
      It is ``"suboptimal"`` when every limit holds but the answer is known to miss the
      optimum: inside one component, amounts more than about 2e18 apart relative to what the
      component can deliver (a group of 1e-9 sharing a resource with a set flowing 1e11) may
      be cut off from a resource it should share, or a small group left short of its share
      by the float noise of a far larger component (1e-9 beside 1e10); the solver detects
      both and says so.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from fairalloc.schemas import coverage as contract
from fairalloc.solvers import coverage as kernels
from fairalloc.transforms._params import number
from fairalloc.transforms._report import Report, stopwatch
from fairalloc.transforms._tables import (
    KeyedTable,
    code_rows,
    key_tuples,
    level,
    multi_index,
    string_codes,
    table_input,
    to_polars,
    unique_pairs,
)
from fairalloc.transforms.errors import InvalidAmountError, ParameterError, public, translated
from fairalloc.transforms.options import COVERAGE, LOSS_PARAMETERS

log = logging.getLogger(__name__)

GROUP, RESOURCE = contract.GROUP.name, contract.RESOURCE.name  # fairalloc.schemas.coverage
#: Relative tolerance of :func:`coverage_violations`.
RTOL = 1e-9
VIOLATION_COLUMNS = ["rule", "key", "amount", "limit"]
POPULATION, PRIOR, WEIGHT = (c.name for c in contract.GROUPS.values)
SUPPLY, AMOUNT = contract.SUPPLY.name, contract.ALLOCATION.values[0].name


@dataclass(frozen=True)
class CoverageReport(Report):
    """What a coverage run did."""

    loss: str
    groups: int
    resources: int
    eligible_pairs: int
    repeated_pairs: int
    groups_without_resources: int
    scarce_resources: int
    rounds: int  # decomposition rounds (max flows)
    objective: float


@dataclass(frozen=True)
class CoverageAllocation:
    """``allocation`` by (group, resource); ``groups`` and ``resources`` tables; objective."""

    allocation: pd.Series
    groups: pd.DataFrame
    resources: pd.DataFrame
    objective: float
    report: CoverageReport = field(repr=False)


def parse_loss(loss: Any) -> kernels.Loss:
    """Read a loss name: ``"quadratic"``, ``("power", m)``, ``("log", eps)`` or ``"exp"``.

    Parameters
    ----------
    loss : str or tuple
        ``"quadratic"``, ``("power", m)`` with m > 1, ``("log", eps)`` with eps > 0, or
        ``"exp"``.

    Returns
    -------
    fairalloc.solvers.coverage.Loss
        The loss the coverage solver minimises.

    Raises
    ------
    fairalloc.transforms.errors.ParameterError
        Any other name, or an exponent or epsilon that is not a finite number in its range.
    """
    if isinstance(loss, str) and loss in COVERAGE.choices("loss") and loss not in LOSS_PARAMETERS:
        return kernels.Loss(loss)
    if isinstance(loss, tuple | list) and len(loss) == 2 and loss[0] in LOSS_PARAMETERS:
        name, p = loss
        symbol, low = LOSS_PARAMETERS[name]
        rule = f"{symbol} > {low:g}"
        try:
            value = number(f"loss ({name!r}, …)", p, low=low, low_open=True)
        except ParameterError:
            raise ParameterError(f"loss ({name!r}, …) needs a finite number {rule} "
                                 "(not a bool)", [p]) from None
        return kernels.Loss(name, value)
    raise ParameterError('loss must be "quadratic", ("power", m), ("log", eps) or "exp"', [loss])


def _groups(obj: Any) -> tuple[KeyedTable, np.ndarray, np.ndarray, np.ndarray]:
    """The group table (sorted by group) and its population, prior and weight arrays."""
    table = table_input(obj, contract.GROUPS, what="groups")  # prior in [0, 1), others > 0
    return table, table.values, table.column(PRIOR), table.column(WEIGHT)


class _Keys(Mapping):
    """Keys in code order per kind (``"group"``, ``"resource"``), listed only when an error
    needs them."""

    def __init__(self, tables: dict[str, KeyedTable]):
        self._tables = tables

    def __contains__(self, kind: object) -> bool:
        return kind in self._tables

    def __getitem__(self, kind: str) -> list:
        return key_tuples(self._tables[kind].frame, [kind])

    def __iter__(self):
        return iter(self._tables)

    def __len__(self) -> int:
        return len(self._tables)


#: What the results must stay below (sums over many groups then still fit in float64).
LIMIT = 1e300


def _representable(gt: KeyedTable, n, f, w, rt: KeyedTable, b, loss: kernels.Loss) -> None:
    """Refuse, naming the keys, what float64 cannot hold in the results (see the module)."""
    with np.errstate(over="ignore", invalid="ignore"):
        worst = np.maximum(np.abs(loss.value(f)), np.abs(loss.value(np.ones_like(f))))
        term = w * (n * worst)
        slope = loss.marginal(f, w)
        bad = ~(term < LIMIT) | ~np.isfinite(slope)
        if not bad.any() and not (term.sum() < LIMIT):
            bad = term >= np.sort(term)[-min(len(term), 10)]  # the largest contributors
        if not bad.any() and not (n.sum() < LIMIT):
            bad = n >= np.sort(n)[-min(len(n), 10)]
    if bad.any():
        rows = np.flatnonzero(bad)
        raise InvalidAmountError(
            f"groups whose weighted loss or marginal value float64 cannot hold (weight × "
            f"population × max |F| must stay below {LIMIT:g}, weight × |F′(prior)| finite)",
            key_tuples(gt.frame, [GROUP], rows[:10]), rows.size)
    with np.errstate(over="ignore"):
        total_b = b.sum()
    if not (total_b < LIMIT):
        rows = np.argsort(b)[::-1][:10]
        raise InvalidAmountError(f"supplies whose total float64 cannot hold (below {LIMIT:g})",
                                 key_tuples(rt.frame, [RESOURCE], rows), len(rows))


def _pairs(eligibility: Any, groups: KeyedTable, resources: KeyedTable, what: str):
    # string keys of a pandas table are coded straight from arrow; anything else (and any
    # row to refuse) goes the general way, which names the keys
    codes = string_codes(eligibility, [(groups, GROUP), (resources, RESOURCE)])
    if codes is None:
        df = to_polars(eligibility, [GROUP, RESOURCE], what=what)
        codes = code_rows(df, [(groups, [GROUP], "group"), (resources, [RESOURCE], "resource")],
                          what=what)
    g, k = codes
    return unique_pairs(g, k, len(resources))


#: The columns of :attr:`CoverageAllocation.groups` (fairalloc.schemas.coverage).
GROUP_COLUMNS = tuple(c.name for c in contract.GROUPS_OUT.values)
#: The columns of :attr:`CoverageAllocation.resources` and their dtypes (the same schema).
RESOURCE_COLUMNS = tuple(c.name for c in contract.RESOURCES_OUT.values)
_RESOURCE_ROW = np.dtype([(c.name, np.bool_ if c.dtype is bool else np.float64)
                          for c in contract.RESOURCES_OUT.values])


@functools.cache
def _column_index(names: tuple[str, ...]) -> pd.Index:
    """A table's column index, built once (an Index of strings costs about 0.06 ms)."""
    return pd.Index(list(names))


def _columns(names: tuple[str, ...]) -> pd.Index:
    """A fresh view of :func:`_column_index` (a view shares its values, never its name)."""
    return _column_index(names).view()


@public("coverage")
def allocate_coverage(groups: Any, eligibility: Any, supply: Any, *,
                      loss: Any = COVERAGE.loss) -> CoverageAllocation:
    """Allocate scarce resources to weighted populations, minimising Σ w n F(coverage).

    The optimum is exact (to float precision): see :mod:`fairalloc.solvers.coverage` for the method.
    The answer is verified before it is returned (every resource within its supply, every
    group within coverage 1, amounts finite and ≥ 0); ``report.status`` is ``"optimal"``,
    ``"repaired"`` or ``"suboptimal"`` (see the module notes). Magnitudes are free within
    float64: only groups whose weight × population × max |F| reaches 1e300 or whose
    weight × |F′(prior)| overflows, or totals of populations or supplies reaching 1e300, are refused
    (:class:`InvalidAmountError` naming them).

    It is fair (no group with a higher weight and no higher coverage, or a lower coverage and
    no lower weight, loses a shared resource to another), resources not fully used leave
    their groups at coverage 1, and groups sharing a scarce resource are balanced.

    Parameters
    ----------
    groups : pandas.DataFrame or polars.DataFrame
        Columns ``group``, ``population`` (> 0), ``prior`` (coverage in [0, 1)) and
        ``weight`` (> 0).
    eligibility : pandas.DataFrame or polars.DataFrame
        Columns ``group``, ``resource``: who may receive what.
    supply : dict, pandas.Series, pandas.DataFrame or polars.DataFrame
        Resource → supply (> 0), or a table with columns ``resource``, ``supply``.
    loss : str or tuple, default "quadratic"
        ``"quadratic"`` (1 − y)², ``("power", m)`` (1 − y)^m, ``("log", eps)``
        −ln(y + eps) or ``"exp"`` e^(−y).

    Returns
    -------
    CoverageAllocation
        ``allocation`` (a Series of amounts by (group, resource)), the ``groups`` table
        (coverage, shortfall, allocated, marginal value), the ``resources`` table (supply,
        used, scarce, marginal value), the ``objective`` and the :class:`CoverageReport`.

    Raises
    ------
    fairalloc.transforms.errors.ParameterError
        A bad ``loss``.
    fairalloc.transforms.errors.UnknownKeyError
        ``eligibility`` names a group or resource missing from ``groups`` or ``supply``.
    fairalloc.transforms.errors.DuplicateKeyError
        A group or resource is given two different rows.
    fairalloc.transforms.errors.InvalidAmountError
        A population, weight or supply that is not finite and > 0, a prior outside [0, 1),
        or magnitudes beyond float64 (above); the keys are named.
    fairalloc.transforms.errors.EmptyInputError
        ``groups`` or ``supply`` has no rows.
    fairalloc.transforms.errors.InputTypeError
        An input of the wrong type, columns or dtypes.
    fairalloc.transforms.errors.SolverError
        A solver answer that breaks a limit and cannot be repaired, naming the resources or
        groups.

    Examples
    --------
    >>> groups = pd.DataFrame({"group": ["old", "young"], "population": [100, 300],
    ...                        "prior": [0.0, 0.0], "weight": [3.0, 1.0]})
    >>> elig = pd.DataFrame({"group": ["old", "young"], "resource": ["A", "A"]})
    >>> res = allocate_coverage(groups, elig, {"A": 150})
    >>> res.groups["coverage"].round(4).to_dict()
    {'old': 0.75, 'young': 0.25}
    >>> r = res.resources.loc["A"]
    >>> round(float(r["used"]), 6), bool(r["scarce"]), round(float(r["marginal_value"]), 6)
    (150.0, True, 1.5)
    """
    parsed = parse_loss(loss)
    with stopwatch() as sw:
        gt, n, f, w = _groups(groups)
        rt = table_input(supply, contract.SUPPLIES, what="supply")
        b = rt.values
        _representable(gt, n, f, w, rt, b, parsed)
        g, k, repeats = _pairs(eligibility, gt, rt, what="eligibility")
        labels = _Keys({GROUP: gt, RESOURCE: rt})
        with translated("coverage", labels=labels):
            sol = kernels.solve_coverage(n, f, w, b, g, k, parsed)
    y = np.minimum(f + sol.s / n, 1.0)  # verified: ≤ 1 to RTOL; the table shows at most 1
    objective = float((w * (n * parsed.value(y))).sum())
    gi, ri = gt.key_index(), rt.key_index()
    has = np.bincount(g, minlength=len(n)) > 0
    # the tables' indexes are the allocation's levels when every key has a pair (codes = rows)
    levels = [(gi, g) if has.all() else level(gt, GROUP, g),
              (ri, k) if np.bincount(k, minlength=len(b)).all() else level(rt, RESOURCE, k)]
    allocation = pd.Series(sol.x, index=multi_index(levels), name=AMOUNT, copy=False)
    group_table = pd.DataFrame(  # one float block: cheaper than seven columns
        np.column_stack([n, f, w, y, n * (1.0 - y), sol.s, parsed.marginal(y, w)]),
        columns=_columns(GROUP_COLUMNS), index=gi, copy=False)
    # one record array: pandas splits it into a float and a bool block, without inferring
    # the column names' dtype again or checking each column as a dict of arrays would
    rows = np.empty(len(b), _RESOURCE_ROW)
    for name, column in zip(RESOURCE_COLUMNS, (
            b, np.bincount(k, weights=sol.x, minlength=len(b)), sol.scarce, sol.price),
            strict=True):
        rows[name] = column
    resource_table = pd.DataFrame(rows, columns=_columns(RESOURCE_COLUMNS), index=ri, copy=False)
    report = CoverageReport(
        status=sol.status, wall_time_s=sw.seconds, loss=parsed.name, groups=len(n),
        resources=len(b), eligible_pairs=len(g), repeated_pairs=repeats,
        groups_without_resources=int((~has).sum()), scarce_resources=int(sol.scarce.sum()),
        rounds=sol.rounds, objective=objective)
    log.info("allocate_coverage(%s): %d groups, %d resources, %d rounds in %.3fs (%s)",
             parsed.name, report.groups, report.resources, sol.rounds, sw.seconds, sol.status)
    return CoverageAllocation(allocation, group_table, resource_table, objective, report)


AUDIT_COLUMNS = ["complainant", "other", "resource", "complainant_weight", "other_weight",
                 "complainant_coverage", "other_coverage", "amount", "definition"]


@public("coverage")
def audit_fairness(groups: Any, allocation: Any, eligibility: Any, *,
                   tol: float = COVERAGE.tol) -> pd.DataFrame:
    """Every justified complaint against an allocation (empty when it is fair).

    Group i′ may complain about group i over resource k when both are eligible for k, i
    receives some of k, i′ is below coverage 1, and i′ has a weight ≥ i's and a coverage
    ≤ i's with one of them strict. ``definition`` names the strict one: ``"higher_weight"``
    (w′ > w, y′ ≤ y) or ``"lower_coverage"`` (w′ = w, y′ < y).

    Vectorised per resource: the complaint test needs only, for each weight, the least
    coverage among eligible groups of at least (or more than) that weight, a cumulative minimum
    over groups sorted by weight; complainants are listed only for receivers that have one.

    Parameters
    ----------
    groups : pandas.DataFrame or polars.DataFrame
        As for :func:`allocate_coverage`.
    allocation : pandas.Series, pandas.DataFrame or polars.DataFrame
        A Series indexed by (group, resource), or a table with columns ``group``,
        ``resource``, ``amount`` (pairs must be eligible).
    eligibility : pandas.DataFrame or polars.DataFrame
        Columns ``group``, ``resource``.
    tol : float, default 1e-9
        Slack (≥ 0) of the coverage comparisons, of coverage 1 and of what counts as
        receiving (more than ``tol`` × the receiver's population).

    Returns
    -------
    pandas.DataFrame
        One row per complaint, columns :data:`AUDIT_COLUMNS`.

    Raises
    ------
    fairalloc.transforms.errors.InvalidAmountError
        ``allocation`` gives to pairs that are not eligible (named), or a bad amount.
    fairalloc.transforms.errors.UnknownKeyError
        ``eligibility`` names a group missing from ``groups``, or ``allocation`` a group or
        resource missing from ``groups`` or ``eligibility``.
    fairalloc.transforms.errors.DuplicateKeyError
        A group, or a (group, resource) pair of ``allocation``, is given twice with
        different values.
    fairalloc.transforms.errors.EmptyInputError
        ``groups`` has no rows.
    fairalloc.transforms.errors.InputTypeError
        An input of the wrong type, columns or dtypes.
    fairalloc.transforms.errors.ParameterError
        ``tol`` is negative or not a number.

    Examples
    --------
    >>> groups = pd.DataFrame({"group": ["a", "b"], "population": [10, 10], "prior": [0, 0],
    ...                        "weight": [2.0, 1.0]})
    >>> elig = pd.DataFrame({"group": ["a", "b"], "resource": ["R", "R"]})
    >>> alloc = pd.Series([1.0, 5.0], index=pd.MultiIndex.from_tuples(
    ...     [("a", "R"), ("b", "R")], names=["group", "resource"]))
    >>> audit_fairness(groups, alloc, elig)[["complainant", "other", "definition"]].values.tolist()
    [['a', 'b', 'higher_weight']]
    """
    tol = number("tol", tol, **COVERAGE.option("tol").bounds())
    gt, n, f, w = _groups(groups)
    resources = to_polars(eligibility, [GROUP, RESOURCE], what="eligibility")[RESOURCE]
    rt = KeyedTable(pl.DataFrame({RESOURCE: resources.unique().sort(),
                                  "v": np.zeros(resources.n_unique())}), (RESOURCE,), "v")
    eg, ek, _ = _pairs(eligibility, gt, rt, what="eligibility")
    at = table_input(allocation, contract.ALLOCATION, what="allocation", required=False)
    ag, ak = code_rows(at.frame, [(gt, [GROUP], "group"), (rt, [RESOURCE], "resource")],
                       what="allocation")
    n_k = len(rt)
    pair = eg * n_k + ek
    pos = np.searchsorted(pair, ag * n_k + ak)  # eligible pairs are sorted (unique_pairs)
    pos = np.minimum(pos, max(len(pair) - 1, 0))
    off = np.flatnonzero((len(pair) == 0) | (pair[pos] != ag * n_k + ak))
    if off.size:
        raise InvalidAmountError("allocation gives to pairs that are not eligible",
                                 key_tuples(at.frame, [GROUP, RESOURCE], off[:10]), off.size)
    x = np.zeros(len(pair))
    np.add.at(x, pos, at.values)
    y = f + np.bincount(ag, weights=at.values, minlength=len(n)) / n

    c, o, k_, amt, higher = kernels.complaints(eg, ek, n, w, y, x, tol)
    # the same columns and dtypes with or without complaints: keys keep the dtype of the
    # input's keys, amounts are float64, definition is text (an empty table stays typed)
    names_g = gt.frame[GROUP].to_pandas()
    names_k = rt.frame[RESOURCE].to_pandas()
    definition = np.array(["lower_coverage", "higher_weight"])[np.asarray(higher, dtype=int)]
    return pd.DataFrame({
        "complainant": names_g.take(c).reset_index(drop=True),
        "other": names_g.take(o).reset_index(drop=True),
        "resource": names_k.take(k_).reset_index(drop=True),
        "complainant_weight": np.asarray(w[c], dtype=np.float64),
        "other_weight": np.asarray(w[o], dtype=np.float64),
        "complainant_coverage": np.asarray(y[c], dtype=np.float64),
        "other_coverage": np.asarray(y[o], dtype=np.float64),
        "amount": np.asarray(amt, dtype=np.float64),
        "definition": pd.Series(definition, dtype="str"),
    }, columns=AUDIT_COLUMNS)


@public("coverage")
def coverage_violations(allocation: pd.DataFrame, groups: pl.DataFrame, supply: pl.DataFrame,
                        rtol: float = RTOL) -> pd.DataFrame:
    """Breaches of a coverage allocation against its inputs (empty when none): a resource used
    beyond its supply (``over_supply``, relative ``rtol``), a group above coverage 1
    (``over_coverage``, prior + allocated / population), a ``negative`` amount, and amounts
    for groups or resources the inputs lack (``unknown_group``, ``unknown_resource``).

    Parameters
    ----------
    allocation : pandas.DataFrame
        Column ``amount``, indexed by (``group``, ``resource``).
    groups : polars.DataFrame
        Columns ``group``, ``population``, ``prior``.
    supply : polars.DataFrame
        Columns ``resource``, ``supply``.
    rtol : float, default 1e-9
        Relative slack (≥ 0) of each supply and of coverage 1.

    Returns
    -------
    pandas.DataFrame
        Columns ``rule``, ``key``, ``amount``, ``limit``: one row per breach.

    Raises
    ------
    fairalloc.transforms.errors.ParameterError
        ``rtol`` is negative or not a number.
    fairalloc.transforms.errors.InputTypeError
        An input lacking the columns or index levels above.

    Examples
    --------
    >>> alloc = pd.DataFrame({"amount": [6.0, 2.0]}, index=pd.MultiIndex.from_tuples(
    ...     [("a", "R"), ("b", "R")], names=["group", "resource"]))
    >>> groups = pl.DataFrame({"group": ["a", "b"], "population": [10.0, 10.0],
    ...                        "prior": [0.5, 0.0], "weight": [1.0, 1.0]})
    >>> coverage_violations(alloc, groups, pl.DataFrame({"resource": ["R"], "supply": [7.0]})
    ...                     ).values.tolist()
    [['over_supply', 'R', 8.0, 7.0], ['over_coverage', 'a', 1.1, 1.0]]
    """
    rtol = number("rtol", rtol, low=0)
    amount = allocation["amount"]
    index = groups["group"].to_pandas()
    population = pd.Series(groups["population"].to_numpy(), index=index)
    prior = pd.Series(groups["prior"].to_numpy(), index=index)
    cap = pd.Series(supply["supply"].to_numpy(), index=supply["resource"].to_pandas())
    rows = []
    used = amount.groupby(level="resource").sum()
    known = used.index.isin(cap.index)
    rows += [("unknown_resource", k, float(v), 0.0) for k, v in used[~known].items()]
    limit = cap.reindex(used.index[known])
    over = used[known] > limit * (1 + rtol)
    rows += [("over_supply", k, float(used[k]), float(limit[k])) for k in limit.index[over]]
    got = amount.groupby(level="group").sum()
    known = got.index.isin(population.index)
    rows += [("unknown_group", k, float(v), 0.0) for k, v in got[~known].items()]
    got = got[known]
    coverage = prior.reindex(got.index) + got / population.reindex(got.index)
    over = coverage > 1.0 + rtol
    rows += [("over_coverage", k, float(v), 1.0) for k, v in coverage[over].items()]
    neg = ~(amount >= 0)  # NaN too
    rows += [("negative", k, float(v), 0.0) for k, v in amount[neg].items()]
    return pd.DataFrame(rows, columns=VIOLATION_COLUMNS)


__all__ = ["AUDIT_COLUMNS", "CoverageAllocation", "CoverageReport", "allocate_coverage",
           "audit_fairness", "coverage_violations", "parse_loss"]
