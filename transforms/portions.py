"""Integer portions by ratio — apportionment (SPEC §5).

``apportion(ratios, total, method)`` hands out ``total`` whole portions among keys in
proportion to their ratios, by the two-pass ``"priority"`` rule of the spec or one of the
classic methods (``"hamilton"``, ``"jefferson"``, ``"webster"``, ``"adams"``,
``"huntington_hill"``). The arithmetic is in :mod:`fairalloc.solvers.portions`.

Decisions where the spec is silent (documented here and relied on by the tests)
    * Ties are broken by key: of two keys with an equal claim to the next portion, the lower
      key (in sorted order) gets it. For Adams and Huntington-Hill, whose first portions are
      all worth "infinity", a ``total`` smaller than the number of positive keys gives first
      portions by ratio descending, then key.
    * Ratios are read as float64 (integers up to 2**53 exactly) and then treated as exact
      numbers: no float rounding can flip a portion.
    * A key given twice is an error, even with the same ratio; an empty input is an error.
    * ``total`` may be an integral float (``8.0``); it must not exceed
      :data:`fairalloc.solvers.portions.MAX_TOTAL` (2**50).
    * When every ratio is 0 (or ``total`` is 0) every key gets 0; the portions not handed out
      are in ``result.attrs["unallocated"]`` (0 otherwise), and a warning is logged.
    * Ratios may be any finite floats ≥ 0, at any magnitude within one input (1e-300 next to
      1e300): the arithmetic is exact, so no ratio underflows. Booleans are not ratios
      (:class:`~fairalloc.transforms.errors.InputTypeError` naming the keys); numpy scalars are
      numbers.
    * Every result is verified before it is returned (sum exactly ``total``, nothing
      negative, 0 for ratio-0 keys; ``attrs["status"]`` is ``"optimal"``); a breach would be a
      :class:`~fairalloc.transforms.errors.SolverError` naming the keys. Every exception leaving
      these functions is a :class:`~fairalloc.transforms.errors.FairallocError`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from numbers import Integral
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from fairalloc.schemas import portions as contract
from fairalloc.solvers import portions as kernels
from fairalloc.transforms._params import choice, number, whole
from fairalloc.transforms._tables import KeyLabels, table_input
from fairalloc.transforms.errors import InputTypeError, ParameterError, public, translated
from fairalloc.transforms.options import PORTIONS as OPTIONS

log = logging.getLogger(__name__)

# column names from the table definitions (fairalloc.schemas.portions)
KEY, RATIO = contract.KEY.name, contract.RATIOS.values[0].name
PORTIONS = contract.PORTIONS.values[0].name

#: The method names ``apportion`` accepts.
METHODS: tuple[str, ...] = kernels.METHODS.names()


@public("portions")
def apportion(ratios: Any, total: int, method: str = OPTIONS.method) -> pd.Series:
    """Whole portions per key, summing exactly to ``total`` when any ratio is positive.

    Parameters
    ----------
    ratios : dict, pandas.Series, pandas.DataFrame or polars.DataFrame
        A dict ``key -> ratio``, a pandas Series indexed by key, or a table (pandas or polars
        DataFrame) with columns ``key`` and ``ratio`` (or exactly two columns: key, then
        ratio). Ratios must be finite and ≥ 0; keys str or int, each given once.
    total : int
        The whole number of portions to hand out, from 0 to 2**50.
    method : str, default "priority"
        ``"priority"`` (default): every positive-ratio key, by ratio descending then key,
        receives the minimum share ``ceil(total / Σ ratios)`` while portions remain; the rest
        is split equally among the keys tied for the highest ratio, single leftovers to them
        in key order. ``"hamilton"`` (largest remainders), ``"jefferson"`` (D'Hondt),
        ``"webster"`` (Sainte-Laguë), ``"adams"``, ``"huntington_hill"``: the classic quota
        and divisor methods, exact, ties to the lower key.

    Returns
    -------
    pandas.Series
        int64 portions named ``"portions"``, indexed by key in sorted order (the index keeps a
        Series' index name, else it is ``"key"``); ``attrs["unallocated"]`` holds the portions
        not handed out (``total`` when every ratio is 0, else 0) and ``attrs["method"]`` the
        method.

    Raises
    ------
    fairalloc.transforms.errors.InvalidAmountError
        A ratio is negative, NaN or infinite (the keys are named).
    fairalloc.transforms.errors.DuplicateKeyError
        A key appears more than once.
    fairalloc.transforms.errors.EmptyInputError
        ``ratios`` is empty.
    fairalloc.transforms.errors.InputTypeError
        ``ratios`` of the wrong type, columns or dtypes (bools included).
    fairalloc.transforms.errors.ParameterError
        ``total`` is not a whole number from 0 to 2**50, or ``method`` is unknown.
    fairalloc.transforms.errors.SolverError
        The computed portions break an invariant (they are verified before they return).

    Examples
    --------
    >>> apportion({1: 3, 2: 1}, 8).to_dict()
    {1: 6, 2: 2}
    >>> apportion({"a": 53, "b": 24, "c": 23}, 10, method="hamilton").to_dict()
    {'a': 5, 'b': 3, 'c': 2}
    >>> apportion({"a": 53, "b": 24, "c": 23}, 10, method="jefferson").to_dict()
    {'a': 6, 'b': 2, 'c': 2}
    """
    choice("method", method, kernels.METHODS)
    total = _whole_total(total)
    df, name = _ratios_table(ratios)
    r = df[RATIO].to_numpy()
    with translated("portions", labels={"key": KeyLabels(df, (KEY,))}):
        portions = kernels.apportion(r, total, method)  # verified before it returns
    out = pd.Series(portions, index=pd.Index(df[KEY].to_pandas(), name=name), name=PORTIONS)
    unallocated = total - int(portions.sum())
    out.attrs.update(unallocated=unallocated, method=method, status="optimal")
    if unallocated:
        log.warning("every ratio is 0: %d portions are not allocated", unallocated)
    return out


def _whole_total(total: Any) -> int:
    """``total`` as an int: a whole number (an integral float such as ``8.0`` too), not a bool."""
    if isinstance(total, Integral) and not isinstance(total, bool | np.bool_):
        value = whole("total", total, low=0)
    else:
        x = number("total", total, low=0)
        if not x.is_integer():
            raise ParameterError("total must be a whole number ≥ 0", [total])
        value = int(x)
    if value > kernels.MAX_TOTAL:
        raise ParameterError(f"total must be at most 2**50 ({kernels.MAX_TOTAL})", [total])
    return value


def _ratios_table(obj: Any) -> tuple[pl.DataFrame, str]:
    """The ratios as a polars table (key, ratio) sorted by key, and the name of the key."""
    name = KEY
    if isinstance(obj, pd.Series):
        if obj.index.nlevels != 1:
            raise InputTypeError("ratios must be indexed by one key level", obj.index.names)
        name = obj.index.name if obj.index.name is not None else KEY
        obj = obj.rename_axis(KEY)
    elif isinstance(obj, pd.DataFrame | pl.DataFrame | pl.LazyFrame):
        frame = obj.collect() if isinstance(obj, pl.LazyFrame) else obj
        cols = [str(c) for c in frame.columns]
        if not {KEY, RATIO} <= set(cols) and len(cols) == 2:
            frame = (frame.rename(columns=dict(zip(frame.columns, [KEY, RATIO], strict=True)))
                     if isinstance(frame, pd.DataFrame) else
                     frame.rename(dict(zip(frame.columns, [KEY, RATIO], strict=True))))
        obj = frame
    elif not isinstance(obj, Mapping):
        raise InputTypeError(
            f"ratios must be a dict, a pandas Series or a table, not {type(obj).__name__}"
        )
    df = table_input(obj, contract.RATIOS, what="ratios").frame
    return df, name


#: Columns of :func:`portion_violations`.
VIOLATION_COLUMNS = ["rule", "key", "amount", "limit"]


@public("portions")
def portion_violations(portions: pd.DataFrame | pd.Series, ratios: Any, total: int
                       ) -> pd.DataFrame:
    """Breaches of an apportionment against its inputs (empty when none).

    Rules: ``sum`` (the portions do not add up to ``total``, or to 0 when every ratio is 0;
    key ``"<all>"``), ``negative``, ``zero_ratio`` (portions to a key of ratio 0),
    ``unknown_key`` (a key the ratios lack) and ``missing_key`` (a key of the ratios absent).

    Parameters
    ----------
    portions : pandas.Series or pandas.DataFrame
        Portions indexed by key: a Series, or a DataFrame with a ``portions`` column.
    ratios : dict, pandas.Series, pandas.DataFrame or polars.DataFrame
        The ratios given to :func:`apportion`.
    total : int
        The total given to :func:`apportion`.

    Returns
    -------
    pandas.DataFrame
        Columns ``rule``, ``key``, ``amount``, ``limit``: one row per breach.

    Raises
    ------
    fairalloc.transforms.errors.FairallocError
        Bad ``ratios`` or ``total`` (as for :func:`apportion`), or ``portions`` of the wrong
        form (:class:`~fairalloc.transforms.errors.InputTypeError`).

    Examples
    --------
    >>> portion_violations(pd.Series({"a": 6, "b": 1}, name="portions"), {"a": 3, "b": 1}, 8
    ...                    ).values.tolist()
    [['sum', '<all>', 7, 8]]
    """
    got = portions["portions"] if isinstance(portions, pd.DataFrame) else portions
    total = _whole_total(total)
    df, _ = _ratios_table(ratios)
    r = pd.Series(df[RATIO].to_numpy(), index=df[KEY].to_pandas())
    expected = int(total) if (r > 0).any() else 0
    rows = []
    if int(got.sum()) != expected:
        rows.append(("sum", "<all>", int(got.sum()), expected))
    rows += [("negative", k, int(v), 0) for k, v in got[got < 0].items()]
    known = got.index.isin(r.index)
    rows += [("unknown_key", k, int(v), 0) for k, v in got[~known].items()]
    zero = got[known][r.reindex(got.index[known]).to_numpy() == 0]
    rows += [("zero_ratio", k, int(v), 0) for k, v in zero[zero != 0].items()]
    rows += [("missing_key", k, 0, 0) for k in r.index[~r.index.isin(got.index)]]
    return pd.DataFrame(rows, columns=VIOLATION_COLUMNS)
