"""Input coercion and key coding shared by every transform.

Every accepted input form (pandas or polars DataFrame / LazyFrame / Series, pandas
(Multi)Index, dict, iterable of tuples) becomes one polars DataFrame with canonical column
names; keys become integer codes in sorted key order, so everything downstream is independent of
input row order; results get a pandas MultiIndex built straight from those codes.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from fairalloc.schemas.tables import Rule, Table
from fairalloc.solvers.blocks import ROW_BLOCK, fresh, gather, mark, row_blocks
from fairalloc.transforms.errors import (
    DuplicateKeyError,
    EmptyInputError,
    FairallocError,
    InputTypeError,
    InvalidAmountError,
    ParameterError,
    UnknownKeyError,
)

_STRING_TYPES = (pl.String, pl.Categorical, pl.Enum)


def to_polars(
    obj: Any, keys: Sequence[str], value: str | None = None, *, what: str,
    extra: Sequence[str] = (),
) -> pl.DataFrame:
    """Coerce ``obj`` to a polars DataFrame with columns ``keys`` (+ ``value``).

    Accepted: polars DataFrame / LazyFrame and pandas DataFrame with those columns (key columns
    may also sit in a pandas index); with a ``value``: a pandas Series indexed by the keys (by
    name, or by position when the index is unnamed) or a dict ``key -> value`` (tuple keys when
    there are several key columns); without a ``value``: a pandas (Multi)Index or an iterable of
    key tuples. Key columns must hold str or int (cast to String / Int64); the value column must
    be numeric (cast to Float64; nulls count as NaN).

    >>> to_polars({"a": 1, "b": 2}, ["source"], "capacity", what="capacity").to_dicts()
    [{'source': 'a', 'capacity': 1.0}, {'source': 'b', 'capacity': 2.0}]
    >>> to_polars([("a", "x")], ["source", "sink"], what="matches").columns
    ['source', 'sink']
    """
    keys = list(keys)
    cols = keys + ([value] if value else []) + list(extra)
    try:
        if extra and not isinstance(obj, pl.DataFrame | pl.LazyFrame | pd.DataFrame):
            raise InputTypeError(f"{what} must be a table with columns {cols}")
        ready: set[str] = set()  # value columns already read as they are cast (pandas numbers)
        df = _frame(obj, keys, value, what, list(extra), ready)
        present = df.columns
        missing = [c for c in cols if c not in present]
        if missing:
            raise InputTypeError(f"{what} lacks required columns (has {present})", missing)
        casts = [_key_cast(df, k, what) for k in keys]
        if present == cols and ready.issuperset(cols[len(keys):]) and all(
                c.dtype == t for c, t in zip(casts, df.dtypes, strict=False)):
            return df  # read as cast already, in the order asked for: the frame is the answer
        casts += [df[c] if c in ready else _value_cast(df, c, what, keys)
                  for c in ([value] if value else []) + list(extra)]
        # Series operations, not a frame query: no query-engine start-up per call
        return pl.DataFrame(casts)
    except FairallocError:
        raise
    except (TypeError, ValueError, OverflowError, pl.exceptions.PolarsError) as exc:
        raise InputTypeError(f"{what}: cannot read the input as a table ({exc})") from None


def _frame(obj: Any, keys: list[str], value: str | None, what: str,
           extra: list[str] | None = None, ready: set[str] | None = None) -> pl.DataFrame:
    if isinstance(obj, pl.LazyFrame):
        return obj.collect()
    if isinstance(obj, pl.DataFrame):
        return obj
    if isinstance(obj, pd.DataFrame):
        wanted = keys + ([value] if value else []) + (extra or [])
        twice = [] if obj.columns.is_unique else sorted(  # is_unique is cached: no mask
            {str(c) for c in obj.columns[obj.columns.duplicated()]} & set(wanted))
        if twice:
            raise InputTypeError(f"{what} has repeated columns", twice)
        in_index = [c for c in wanted if c not in obj.columns and c in (obj.index.names or [])]
        return _columns({c: obj.index.get_level_values(c) if c in in_index else obj[c]
                         for c in wanted if c in in_index or c in obj.columns}, keys, what, ready)
    if isinstance(obj, pd.Series):
        if not value:
            raise InputTypeError(f"{what} must be a table or index, not a Series")
        names = list(obj.index.names)
        if all(n is None for n in names) and len(names) == len(keys):
            names = keys
        if sorted(map(str, names)) != sorted(keys):
            raise InputTypeError(
                f"{what}: a Series must be indexed by {keys} (its index is {list(obj.index.names)})"
            )
        cols = {str(n): obj.index.get_level_values(i) for i, n in enumerate(names)}
        return _columns({**cols, value: obj}, keys, what, ready)
    if isinstance(obj, pd.Index):
        if value:
            raise InputTypeError(f"{what} needs values: pass a Series, dict or table")
        frame = obj.to_frame(index=False)
        names = list(obj.names)
        if all(n is None for n in names) and len(names) == len(keys):
            frame.columns = keys  # unnamed levels are read by position
        elif sorted(map(str, names)) == sorted(keys):
            frame.columns = names  # named levels are read by name, in any order
        else:
            raise InputTypeError(
                f"{what}: an index needs levels named {keys} (or unnamed, in that order); "
                f"it has {names}"
            )
        return _columns({k: frame[k] for k in keys}, keys, what)
    if isinstance(obj, Mapping):
        if not value:
            raise InputTypeError(f"{what} must be a table, index or iterable of tuples")
        rows = [(*_as_tuple(k, len(keys), what), v) for k, v in obj.items()]
        return _rows(rows, keys + [value], loose=value, what=what, n_keys=len(keys))
    if isinstance(obj, Iterable) and not isinstance(obj, str | bytes):
        if value:
            raise InputTypeError(f"{what} needs values: pass a Series, dict or table")
        rows = [_as_tuple(r, len(keys), what) for r in obj]
        return _rows(rows, keys, what=what, n_keys=len(keys))
    raise InputTypeError(f"{what}: unsupported input type {type(obj).__name__}")


#: numpy dtypes of pandas value columns read straight as float64 (polars holds them all).
_READY_DTYPES = frozenset(np.dtype(t) for t in ("float64", "float32", "int8", "int16", "int32",
                                               "int64", "uint8", "uint16", "uint32", "uint64"))


def _columns(cols: dict[str, Any], keys: Sequence[str], what: str,
             ready: set[str] | None = None) -> pl.DataFrame:
    """A polars frame from pandas columns, converted one by one (no pandas frame copy).

    An object column read as anything but strings may have had a bool read as 1: those (and
    columns that do not convert at all) are checked for bools, which are named.

    With ``ready`` (a set), value columns (not ``keys``) of numpy numbers are read as
    :func:`_value_cast` would cast them (float64, NaN for missing, no -0.0), and their names
    are added to ``ready``: the caller need not cast them again.
    """
    out = []
    for k, v in cols.items():
        if ready is not None and k not in keys and v.dtype in _READY_DTYPES:
            # as _value_cast reads them (numpy, missing = NaN), without a polars round trip
            out.append(pl.Series(k, v.to_numpy().astype(np.float64, copy=False) + 0.0))
            ready.add(k)
            continue
        if isinstance(v.dtype, np.dtype) and v.dtype.kind in "fiu":  # numbers in numpy: as
            out.append(pl.Series(k, v.to_numpy(), nan_to_null=True))  # from_pandas, cheaper
            continue
        if isinstance(v.array, pd.arrays.ArrowStringArray):  # strings already in arrow:
            out.append(pl.Series(k, pa.array(v.array)))  # as from_pandas, fewer steps
            continue
        try:
            s = pl.from_pandas(v).alias(k)
        except Exception:
            _refuse_bools({c: cols[c] for c in dict.fromkeys([k, *keys]) if c in cols}, keys,
                          what)
            raise
        if pd.api.types.is_object_dtype(v.dtype) and s.dtype != pl.String:
            _refuse_bools({c: cols[c] for c in dict.fromkeys([k, *keys]) if c in cols}, keys,
                          what)
        out.append(s)
    return pl.DataFrame(out)


_BOOL_TYPES = (bool, np.bool_)

#: What pandas' ``infer_dtype`` says of an object column that may hold a bool.
_MAYBE_BOOL = ("boolean", "mixed", "mixed-integer")


def _has_bool(values: Any) -> bool:
    """Whether any value is a bool (Python or numpy), in C-speed passes (object columns only:
    a typed pandas column of numbers or strings holds no bool)."""
    if isinstance(values, list):
        return not set(map(type, values)).isdisjoint(_BOOL_TYPES)
    if not pd.api.types.is_object_dtype(getattr(values, "dtype", None)):
        return False
    return pd.api.types.infer_dtype(values, skipna=True) in _MAYBE_BOOL and _has_bool(
        list(values))


def _refuse_bools(cols: Mapping[str, Any], keys: Sequence[str], what: str) -> None:
    """Raise :class:`InputTypeError` naming the keys of rows holding a bool in any of ``cols``
    (Python lists or pandas columns): booleans are neither numbers nor keys.

    polars and pandas read ``True`` as 1 among numbers, so this is checked before they see
    the values.
    """
    flagged = [c for c, v in cols.items() if _has_bool(v)]
    if not flagged:
        return
    plain = {c: v if isinstance(v, list) else list(v) for c, v in cols.items()
             if c in flagged or c in keys}
    bad = np.zeros(len(plain[flagged[0]]), dtype=bool)
    for c in flagged:
        bad |= np.fromiter((isinstance(v, _BOOL_TYPES) for v in plain[c]), bool, len(bad))
    rows = np.flatnonzero(bad)[:10].tolist()
    parts = [[plain[k][i] for i in rows] for k in keys if k in plain]
    found = [p[0] if len(p) == 1 else tuple(p) for p in zip(*parts, strict=True)] \
        if parts else rows
    raise InputTypeError(f"{what}: booleans are not numbers or keys (column "
                         f"{', '.join(map(repr, flagged))})", found, int(bad.sum()))


def _as_tuple(key: Any, n: int, what: str) -> tuple:
    t = key if isinstance(key, tuple) else (key,)
    if len(t) != n:
        raise InputTypeError(f"{what}: every key must have {n} part(s)", [key])
    return t


def _rows(rows: list[tuple], columns: list[str], loose: str | None = None, *, what: str = "rows",
          n_keys: int | None = None) -> pl.DataFrame:
    """A frame from row tuples; the ``loose`` column may mix int and float (``{a: 0, b: 1.5}``).

    A bool anywhere (key part or value) is an :class:`InputTypeError` naming its key: polars
    would read it as 1.
    """
    cols = {c: [r[i] for r in rows] for i, c in enumerate(columns)}
    _refuse_bools(cols, columns[:len(columns) if n_keys is None else n_keys], what)
    return pl.DataFrame([pl.Series(c, v, strict=c != loose) for c, v in cols.items()])


def _key_cast(df: pl.DataFrame, col: str, what: str) -> pl.Series:
    s = df[col]
    if df.height == 0:
        return s.cast(pl.String if s.dtype == pl.Null else s.dtype)
    if s.null_count():
        raise InputTypeError(f"{what}: column {col!r} has missing keys", ["<null>"])
    if s.dtype in (pl.String, pl.Int64):  # no cast: a cast starts polars' query engine
        return s
    if isinstance(s.dtype, _STRING_TYPES):
        return s.cast(pl.String)
    if s.dtype.is_integer():
        return s.cast(pl.Int64)
    raise InputTypeError(f"{what}: key column {col!r} must hold str or int, not {s.dtype}",
                         [col])


def _value_cast(df: pl.DataFrame, col: str, what: str, keys: Sequence[str] = ()) -> pl.Series:
    s = df[col]
    dtype = s.dtype
    # + 0.0 turns -0.0 into 0.0, so exact duplicates and outputs never depend on a sign bit
    if dtype.is_float() or dtype.is_integer():  # numpy reads nulls as NaN: no query
        return pl.Series(col, s.to_numpy().astype(np.float64, copy=False) + 0.0)
    if s.dtype == pl.Boolean and df.height and all(k in df.columns for k in keys) and keys:
        raise InputTypeError(f"{what}: column {col!r} holds booleans, not numbers",
                             key_tuples(df, list(keys), np.arange(min(df.height, 10))),
                             df.height)
    if s.dtype == pl.Boolean or not (s.dtype.is_numeric() or s.dtype == pl.Null):
        raise InputTypeError(f"{what}: column {col!r} must be numeric, not {s.dtype}", [col])
    return pl.Series(col, s.cast(pl.Float64).fill_null(float("nan")).to_numpy() + 0.0)


def key_tuples(df: pl.DataFrame, keys: Sequence[str], rows: np.ndarray | None = None) -> list:
    """Keys at ``rows`` (all rows if None): plain values for one key column, tuples otherwise."""
    sub = df.select(keys) if rows is None else df.select(keys)[rows]
    if len(keys) == 1:
        return sub[keys[0]].to_list()
    return list(sub.iter_rows())


@dataclass(frozen=True)
class KeyedTable:
    """A table of unique keys in sorted order with one float value per key: code = row."""

    frame: pl.DataFrame
    keys: tuple[str, ...]
    value: str

    @property
    def values(self) -> np.ndarray:
        return self.frame[self.value].to_numpy()

    def column(self, name: str) -> np.ndarray:
        """A value column as numpy.

        >>> KeyedTable(pl.DataFrame({"k": ["a"], "v": [1.0]}), ("k",), "v").column("v")
        array([1.])
        """
        return self.frame[name].to_numpy()

    @property
    def key_dtype(self) -> pl.DataType:
        """The polars type of the first key column."""
        return self.frame[self.keys[0]].dtype

    def __len__(self) -> int:
        return self.frame.height

    @functools.cached_property
    def arrow_key(self) -> pa.Array:
        """The first key column in arrow, converted once (a table's codes and its result
        index both read it)."""
        return self.frame[self.keys[0]].to_arrow()

    def key_index(self) -> pd.Index:
        """:func:`key_index` of a one-key table's key column.

        >>> KeyedTable(pl.DataFrame({"k": ["a"], "v": [1.0]}), ("k",), "v").key_index()
        Index(['a'], dtype='str', name='k')
        """
        return key_index(self.frame[self.keys[0]], self.keys[0], self.arrow_key)

    def labels(self) -> KeyLabels:
        """The keys by code, for :func:`fairalloc.transforms.errors.translated` (looked up
        lazily)."""
        return KeyLabels(self.frame, self.keys)


class _ArrayTable(KeyedTable):
    """A :class:`KeyedTable` of one key read straight from arrays (:func:`_clean_pandas_table`):
    its columns, key type, arrow key and key index are served from them, and its polars
    frame (the one the general reading builds) is built only when something asks for it.

    >>> t = _ArrayTable("k", pa.array(["a", "b"]), {"v": np.array([1.0, 2.0])}, "v")
    >>> t.values.tolist(), len(t), t.frame.rows()
    ([1.0, 2.0], 2, [('a', 1.0), ('b', 2.0)])
    """

    def __init__(self, key: str, keys: pa.Array | np.ndarray, columns: dict[str, np.ndarray],
                 value: str):
        for v in columns.values():
            v.flags.writeable = False  # as polars hands out its numbers
        object.__setattr__(self, "keys", (key,))
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "_key", keys)  # arrow strings, or int64 numbers
        object.__setattr__(self, "_columns", columns)

    @functools.cached_property
    def frame(self) -> pl.DataFrame:  # type: ignore[override]
        """The table as polars, built on first use."""
        return pl.DataFrame([pl.Series(self.keys[0], self._key),
                             *(pl.Series(n, v) for n, v in self._columns.items())])

    @property
    def values(self) -> np.ndarray:
        return self._columns[self.value]

    def column(self, name: str) -> np.ndarray:
        """A value column as numpy."""
        return self._columns[name]

    @property
    def key_dtype(self) -> pl.DataType:
        """The polars type of the key column."""
        return pl.Int64 if isinstance(self._key, np.ndarray) else pl.String

    def __len__(self) -> int:
        return len(self._key)

    @functools.cached_property
    def arrow_key(self) -> pa.Array:
        """The key column in arrow (strings as read; numbers converted by polars)."""
        return self.frame[self.keys[0]].to_arrow() if isinstance(self._key, np.ndarray) \
            else self._key

    def key_index(self) -> pd.Index:
        """:func:`key_index` of the key column (strings wrapped straight from arrow)."""
        if isinstance(self._key, np.ndarray):
            return super().key_index()
        index = _string_index(self._key, self.keys[0])
        return super().key_index() if index is None else index


class KeyLabels(Sequence):
    """Keys of a table by row (code), each read only when indexed: error labels that cost
    nothing when no error names them. Plain values for one key column, tuples otherwise.

    >>> KeyLabels(pl.DataFrame({"k": ["a", "b"]}), ("k",))[1]
    'b'
    """

    def __init__(self, frame: pl.DataFrame, keys: Sequence[str]):
        self.frame, self.keys = frame, tuple(keys)

    def __getitem__(self, code):  # type: ignore[override]
        return key_tuples(self.frame, self.keys, np.array([int(code)]))[0]

    def __len__(self) -> int:
        return self.frame.height


def keyed_table(
    obj: Any, keys: Sequence[str], value: str, *, what: str, allow_zero: bool = True,
    amounts: bool = True, required: bool = True, extra: Sequence[str] = (),
    collapse: bool = True, rules: Sequence[tuple[str, Rule, bool]] = (),
) -> KeyedTable:
    """Coerce, check amounts (finite, ≥ 0, or > 0), collapse exact duplicates, reject conflicts.

    With ``collapse=False`` any repeated key is an error, even with the same values. ``rules``
    checks value columns by their rules, ``(column, rule, nullable)`` (:func:`table_input`).

    >>> t = keyed_table({"b": 2, "a": 1, ("a"): 1}, ["source"], "capacity", what="capacity")
    >>> t.frame["source"].to_list(), t.values.tolist()
    (['a', 'b'], [1.0, 2.0])
    """
    keys = list(keys)
    df = to_polars(obj, keys, value, what=what, extra=extra)
    if required:
        require_rows(df, what)
    if amounts:  # callers with their own value rules (e.g. -1 = unlimited) check them first
        check_amounts(df, keys, value, what=what, allow_zero=allow_zero)
    for column, rule, nullable in rules:
        check_rule(df, keys, column, rule, what=what, nullable=nullable)
    # Sorted by key then value, repeats of a key are adjacent: an exact repeat collapses, a
    # repeat with another value is a conflict. No hashing of whole rows needed.
    # threads only pay off on large tables (their start-up dominates small sorts)
    values = [value, *extra]  # ``extra`` value columns travel with the key like ``value``
    if _strictly_increasing(df, keys):  # already sorted, no repeats: the sort is the identity
        return KeyedTable(df, tuple(keys), value)
    order = _int_key_order(df, keys)
    if order is not None:  # numpy: one packed number per row, no query-engine start-up
        df = pl.DataFrame([pl.Series(c, df[c].to_numpy()[order]) for c in df.columns])
    else:
        df = df.sort([*keys, *values], multithreaded=df.height > 100_000)

    def same_as_previous(col: str) -> np.ndarray:
        c = df[col]
        v = c.to_numpy() if c.dtype.is_numeric() and not c.null_count() else None
        if v is not None and not (v.dtype.kind == "f" and np.isnan(v).any()):
            return np.r_[False, v[1:] == v[:-1]]  # numpy: no query-engine start-up
        return np.r_[False, (c.slice(1) == c.slice(0, max(len(c) - 1, 0))).to_numpy()]

    repeat = np.logical_and.reduce([same_as_previous(k) for k in keys])
    conflict = repeat & ~np.logical_and.reduce([same_as_previous(v) for v in values])
    bad = conflict if collapse else repeat
    if bad.any():
        dup = df.filter(pl.Series(bad)).unique(subset=keys).sort(keys)
        raise DuplicateKeyError(
            f"{what} gives the same key different {' / '.join(values)} values" if collapse
            else f"{what} gives a key more than once",
            key_tuples(dup, keys)
        )
    if repeat.any():
        df = df.filter(pl.Series(~repeat))
    return KeyedTable(df, tuple(keys), value)


def _int_key_order(df: pl.DataFrame, keys: Sequence[str]) -> np.ndarray | None:
    """The row order sorting integer key columns ``keys`` (a stable sort of one packed int64
    per row), or None when a key column is not Int64 or their ranges do not pack into 62 bits.

    Rows of one key keep their input order rather than being sorted by value: the same rows
    survive (exact repeats collapse, and a key with two values is a conflict either way).
    """
    cols = [df[k] for k in keys]
    if not all(c.dtype == pl.Int64 for c in cols):
        return None
    arrays, span = [c.to_numpy() for c in cols], 1
    lows = [int(a.min()) for a in arrays]
    spans = [int(a.max()) - lo + 1 for a, lo in zip(arrays, lows, strict=True)]
    for s in spans:
        span *= s
    if span >= 2**62:
        return None
    packed = arrays[0] - lows[0]
    for a, lo, s in zip(arrays[1:], lows[1:], spans[1:], strict=True):
        packed *= s
        packed += a - lo
    return np.argsort(packed, kind="stable")


def _strictly_increasing(df: pl.DataFrame, keys: Sequence[str]) -> bool:
    """Whether the key columns ``keys`` strictly increase row by row (lexicographic), in the
    order polars sorts them: integers compared in numpy, strings by polars' Series comparisons
    (byte order, as its sort; no query engine). False for other key types (they are sorted)."""
    cols = [df[k] for k in keys]
    if not all(c.dtype.is_integer() or c.dtype == pl.String for c in cols):
        return False
    if len(cols) == 1:  # one column (no nulls: keys are checked): each row above the last
        c = cols[0]
        if c.dtype == pl.String:
            return bool((c.slice(1) > c.slice(0, max(df.height - 1, 0))).all())
        a = c.to_numpy()
        return bool((a[1:] > a[:-1]).all())
    greater = np.zeros(max(df.height - 1, 0), bool)
    equal = np.ones_like(greater)
    for c in cols:
        if c.dtype == pl.String:
            later, earlier = c.slice(1), c.slice(0, len(greater))
            greater |= equal & (later > earlier).to_numpy()
            equal &= (later == earlier).to_numpy()
        else:
            a = c.to_numpy()
            greater |= equal & (a[1:] > a[:-1])
            equal &= a[1:] == a[:-1]
        if not greater[~equal].all():  # already out of order: no need to look further
            return False
    return bool(greater.all())


def table_input(
    obj: Any, table: Table, *, what: str, by: Sequence[str] = (), value: str | None = None,
    required: bool = True, rules: bool = True,
) -> KeyedTable:
    """Coerce an input table as its definition in :mod:`fairalloc.schemas` says: its key
    columns (after the ``by`` group columns), its value columns, each value column's rule and
    how repeated keys are treated — the same definition the pandera schemas are derived from,
    so the library and the pipeline accept the same tables.

    ``value`` names the value column of :attr:`KeyedTable.values` (default: the first); the
    other value columns travel along. ``rules=False`` leaves the value rules to a caller with
    its own reading of the values (e.g. missing = unlimited). A clean one-key pandas table is
    read straight from its arrays (:func:`_clean_pandas_table`: the same table, its polars
    frame built only when asked for).

    >>> from fairalloc.schemas.portions import RATIOS
    >>> table_input({"b": 2, "a": 1}, RATIOS, what="ratios").frame.rows()
    [('a', 1.0), ('b', 2.0)]
    >>> table_input({"a": -1}, RATIOS, what="ratios")
    Traceback (most recent call last):
    fairalloc.transforms.errors.InvalidAmountError: ratios has negative ratio: 'a' (1 in all)
    """
    values = [c.name for c in table.values]
    value = value or values[0]
    if not by and rules:
        quick = _clean_pandas_table(obj, table, value)
        if quick is not None:
            return quick
    checked = [(c.name, c.rule, c.nullable) for c in table.values if c.rule] if rules else []
    return keyed_table(obj, [*by, *(c.name for c in table.keys)], value, what=what,
                       amounts=False, required=required, collapse=table.repeats != "reject",
                       extra=[v for v in values if v != value], rules=checked)


def _clean_pandas_table(obj: Any, table: Table, value: str) -> KeyedTable | None:
    """:func:`table_input`'s table for a clean pandas input with one key column, read
    straight from its numpy and arrow arrays (no polars reading, casts or checks of frames).

    Clean means: a DataFrame holding the key and value columns (one column level, no
    repeated column names), or, for a table of one value column, a Series of values on a
    one-level index named by the key or unnamed; keys arrow-backed strings or int64, none
    missing, none repeated; values numpy numbers, each column within its rule (the rule
    asking for finite values, missing ones not allowed). The values are read as the general
    reading casts them (float64, -0.0 as 0.0) and the rows sorted by key in the same byte
    order, so the table is the one :func:`keyed_table` builds.

    None for anything else (every input the general reading refuses among it): that
    reading then decides, and names the keys of an error.

    >>> from fairalloc.schemas.coverage import SUPPLIES
    >>> t = _clean_pandas_table(pd.Series([2.0, 1.0], index=pd.Index(["b", "a"])), SUPPLIES,
    ...                         "supply")
    >>> t.frame.rows()
    [('a', 1.0), ('b', 2.0)]
    >>> _clean_pandas_table(pd.Series([2.0, -1.0], index=["b", "a"]), SUPPLIES, "supply") is None
    True
    """
    if len(table.keys) != 1 or any(c.nullable or c.regex for c in table.values):
        return None
    key = table.keys[0].name
    names = [value, *(c.name for c in table.values if c.name != value)]
    if isinstance(obj, pd.DataFrame):
        columns = obj.columns
        if not (columns.nlevels == 1 and columns.is_unique and key in columns
                and all(c in columns for c in names)):
            return None
        key_col, cols = obj[key], [obj[c] for c in names]
    elif isinstance(obj, pd.Series) and len(names) == 1:
        key_col, cols = obj.index, [obj]
        if key_col.nlevels != 1 or not (key_col.name is None or key_col.name == key):
            return None
    else:
        return None
    if not len(key_col) or not all(c.dtype in _READY_DTYPES for c in cols):
        return None
    # as _columns reads them (numpy, -0.0 as 0.0), each column within its rule
    values = [c.to_numpy().astype(np.float64, copy=False) + 0.0 for c in cols]
    rules = {c.name: c.rule for c in table.values if c.rule}
    if not all(_within(rules[n], v) for n, v in zip(names, values, strict=True) if n in rules):
        return None
    if isinstance(key_col.array, pd.arrays.ArrowStringArray):
        keys = pa.array(key_col.array)  # as _columns reads them
        if keys.null_count or keys.type not in (pa.string(), pa.large_string()):
            return None
    elif key_col.dtype == np.int64:
        keys = key_col.to_numpy()
    else:
        return None
    ordered = sorted_unique(keys)
    if ordered is None:
        return None  # repeated keys: collapsed or refused by the general reading
    keys, order = ordered
    if order is not None:
        values = [v[order] for v in values]
    return _ArrayTable(key, keys, dict(zip(names, values, strict=True)), value)


def _increasing(keys: pa.Array | np.ndarray) -> bool:
    """Whether every key is strictly above the one before."""
    if isinstance(keys, np.ndarray):
        return bool((keys[1:] > keys[:-1]).all())
    return len(keys) < 2 or pc.all(pc.less(keys[:-1], keys[1:])).as_py()


def sorted_unique(keys: pa.Array | np.ndarray) -> tuple[Any, np.ndarray | None] | None:
    """Keys (arrow strings, or a numpy array of numbers) in increasing order and the positions
    that sort them (None when they already increase), or None when a key repeats: uniqueness
    is read off the sorted keys (each strictly above the one before), no key is hashed. Arrow
    orders strings by their UTF-8 bytes, that is by code point, as Python and polars do.

    >>> sorted_unique(np.array([3, 1, 2]))
    (array([1, 2, 3]), array([1, 2, 0]))
    >>> sorted_unique(pa.array(["a", "b"]))[1] is None, sorted_unique(pa.array(["a", "a"]))
    (True, None)
    """
    if _increasing(keys):
        return keys, None
    if isinstance(keys, np.ndarray):
        order = np.argsort(keys, kind="stable")
        ordered = keys[order]
    else:
        order = pc.sort_indices(keys).to_numpy().astype(np.int64)
        ordered = keys.take(order)
    return (ordered, order) if _increasing(ordered) else None


def check_rule(df: pl.DataFrame, keys: Sequence[str], value: str, rule: Rule, *, what: str,
               nullable: bool = False) -> None:
    """Raise :class:`InvalidAmountError` naming the keys whose ``value`` breaks ``rule``."""
    values = df[value].to_numpy()
    if not nullable and _within(rule, values):  # two reductions instead of a mask per way
        return
    for words, bad in rule.broken(values, value, nullable=nullable):
        if bad.any():
            rows = np.flatnonzero(bad)
            raise InvalidAmountError(f"{what} has {words}", key_tuples(df, keys, rows[:10]),
                                     len(rows))


def _within(rule: Rule, values: np.ndarray) -> bool:
    """Whether every value is finite and within ``rule``'s bounds, judged by the least and
    the greatest value (NaN spreads to both): True exactly when no mask of
    :meth:`Rule.broken` (without missing values allowed) has a True. False when empty.

    >>> from fairalloc.schemas.tables import POSITIVE
    >>> _within(POSITIVE, np.array([1.0, 2.0])), _within(POSITIVE, np.array([1.0, np.nan]))
    (True, False)
    """
    if not values.size:
        return False
    low, high = values.min(), values.max()
    if not (np.isfinite(low) and np.isfinite(high)):
        return False
    return ((rule.ge is None or low >= rule.ge) and (rule.gt is None or low > rule.gt)
            and (rule.le is None or high <= rule.le) and (rule.lt is None or high < rule.lt))


def check_amounts(
    df: pl.DataFrame, keys: Sequence[str], value: str, *, what: str, allow_zero: bool = True
) -> None:
    """Raise :class:`InvalidAmountError` naming the keys with NaN, infinite or negative values."""
    v = df[value].to_numpy()
    for problem, bad in (
        ("NaN or missing", np.isnan(v)),
        ("infinite", np.isinf(v)),
        ("negative" if allow_zero else "zero or negative", v < 0 if allow_zero else v <= 0),
    ):
        if bad.any():
            rows = np.flatnonzero(bad)
            raise InvalidAmountError(
                f"{what} has {problem} {value}", key_tuples(df, keys, rows[:10]), len(rows)
            )


#: From this many rows on, :func:`code_rows` looks keys up by their 64-bit hashes (an integer
#: lookup, checked against the keys afterwards) instead of by the keys themselves.
HASHED_LOOKUP_ROWS = 100_000


def code_rows(
    df: pl.DataFrame, tables: Sequence[tuple[KeyedTable, Sequence[str], str]], *, what: str,
    narrow: bool = False,
) -> list[np.ndarray]:
    """Codes of every row of ``df`` in each table: ``(table, columns of df, name)``.

    The codes are int64; with ``narrow``, int32 for a table of fewer than 2^31 rows (half the
    memory, for callers whose passes take them by blocks: :mod:`fairalloc.solvers.blocks`).

    ``columns`` of ``df`` are taken in the order of ``table.keys``; a row naming keys missing
    from a table raises :class:`UnknownKeyError` naming them.

    Large inputs (:data:`HASHED_LOOKUP_ROWS` rows or more) are coded by hashing every row's
    key columns once into 64 bits and looking the hashes up among the table's
    (:func:`_hashed_codes`): an integer lookup, much cheaper than hashing and comparing strings
    in a hash table of strings. Every code found is then checked exactly (the table's keys at
    the codes equal the row's keys), so a hash collision can never code a row wrongly; any row
    that does not check out, and any table whose own keys' hashes collide, goes the exact way.
    Two or more hashed tables are coded at once, one thread each (their numpy and polars work
    runs without the GIL); the codes are the same as one after the other.
    A single integer key column is never hashed: :func:`_exact_codes` codes it in numpy.
    Small inputs are coded exactly at once: single-key tables through arrow's lookup of each
    string among the keys (``index_in``, up to 100 000 rows) or a hash map of their keys
    (``replace_strict``), tables with several key columns by a left join on them.
    """
    for table, cols, _ in tables:
        _check_join_types(df, table, cols, what)
    # (single integer keys are coded exactly by numpy, as cheap as any hash)
    hashed = [df.height >= HASHED_LOOKUP_ROWS
              and not (len(cols) == 1 and df[cols[0]].dtype == pl.Int64)
              for _, cols, _ in tables]
    dtypes = [_codes_dtype(table, narrow) for table, _, _ in tables]
    found = iter(_coded_at_once([
        (table, functools.partial(_hashed_codes, df.slice, df.height, table, cols, dtype))
        for (table, cols, _), h, dtype in zip(tables, hashed, dtypes, strict=True) if h]))
    out = []
    for (table, cols, name), h, dtype in zip(tables, hashed, dtypes, strict=True):
        codes = next(found) if h else None
        if codes is None:
            codes = _exact_codes(df, table, cols)
            missing = codes < 0
            if missing.any():
                unknown = df.filter(pl.Series(missing)).select(cols).unique().sort(cols)
                raise UnknownKeyError(
                    f"{what} names {name} keys missing from the {name} table",
                    key_tuples(unknown, list(cols)),
                )
        out.append(codes.astype(dtype, copy=False))
    return out


def _exact_codes(df: pl.DataFrame, table: KeyedTable, cols: Sequence[str]) -> np.ndarray:
    """Row codes by the keys themselves, int32 or int64 (-1 where a key is missing from the
    table)."""
    if len(cols) == 1:  # Series operations: no query-engine start-up
        keys = table.frame[table.keys[0]]
        col = df[cols[0]]
        if keys.dtype == pl.Int64 and col.dtype == pl.Int64:
            # int keys, sorted and unique: numpy only (no query-engine start-up)
            k, v = keys.to_numpy(), col.to_numpy()
            if len(k) and int(k[-1]) - int(k[0]) < 4 * len(k) + 1024:
                # keys in a narrow range: a direct look-up table of codes (-1 absent), at
                # most 4 slots per key (its size follows the table, not the rows)
                lut = np.full(int(k[-1]) - int(k[0]) + 2, -1,
                              np.int32 if len(k) < 2**31 else np.int64)
                lut[k - k[0]] = np.arange(len(k))
                return lut[np.clip(v - k[0], -1, len(lut) - 1)]  # outside → -1 (last entry)
            pos = np.minimum(np.searchsorted(k, v), max(len(k) - 1, 0))  # a binary search,
            found = k[pos] == v if len(k) else np.zeros(len(v), bool)  # each hit checked
            return np.where(found, pos, -1).astype(np.int64, copy=False)
        if keys.dtype == pl.String and df.height <= 100_000:
            # small inputs: arrow's hash lookup of each string among the keys (exact: the
            # strings themselves are compared), without polars' query engine
            found = pc.index_in(col.to_arrow(), value_set=table.arrow_key)
            return (found.fill_null(-1) if found.null_count else found).to_numpy().astype(
                np.int64)
        found = col.replace_strict(keys, pl.int_range(0, len(keys), eager=True), default=None)
    else:
        right = table.frame.lazy().select(
            [pl.col(k).alias(c) for k, c in zip(table.keys, cols, strict=True)]
        ).with_row_index("__code")
        found = df.lazy().select(cols).join(right, on=list(cols), how="left",
                                            maintain_order="left").collect()["__code"]
    return found.fill_null(-1).to_numpy().astype(np.int64)


def string_runs(obj: Any, column: str) -> tuple[np.ndarray, pl.Series] | None:
    """The runs of equal keys in a pandas table's string column, read straight from arrow
    (no polars copy of the column): the first row of each run and its key.

    None when the general reading must decide: not a non-empty pandas DataFrame holding
    ``column`` once, a column not held by arrow as strings (pandas' ``str`` dtype with
    pyarrow storage), or a missing key. That reading (:func:`to_polars`, then the runs of
    the polars column) finds the same runs or raises its error.

    >>> starts, keys = string_runs(pd.DataFrame({"k": ["a", "a", "b", "a"]}, dtype="str"), "k")
    >>> starts.tolist(), keys.to_list()
    ([0, 2, 3], ['a', 'b', 'a'])
    >>> string_runs(pd.DataFrame({"k": ["a", None]}, dtype="str"), "k") is None
    True
    """
    if not (isinstance(obj, pd.DataFrame) and len(obj) and obj.columns.is_unique
            and column in obj.columns):
        return None
    values = obj[column].array
    if not isinstance(values, pd.arrays.ArrowStringArray):
        return None
    strings = pa.array(values)
    if isinstance(strings, pa.ChunkedArray):
        strings = strings.combine_chunks()
    if strings.null_count or strings.type not in (pa.string(), pa.large_string()):
        return None
    n = len(strings)
    differ = pc.not_equal(strings.slice(1), strings.slice(0, n - 1))
    starts = np.flatnonzero(differ.to_numpy(zero_copy_only=False))
    starts += 1
    starts = np.concatenate([np.zeros(1, starts.dtype), starts])
    return starts, pl.Series(column, strings.take(pa.array(starts)))


def string_codes(obj: Any, tables: Sequence[tuple[KeyedTable, str]]) -> list[np.ndarray] | None:
    """Codes of a pandas table's string key columns, each ``(table, column)`` looked up among
    the table's single string key straight from arrow (no polars frame): what
    :func:`to_polars` then :func:`code_rows` give when every row is a known string key.

    None when the general reading must decide: not a pandas DataFrame with those columns (once
    each), a column that is not all strings (numbers, bools, missing values, mixed), a table
    whose key is not a string, a key missing from its table, or :data:`HASHED_LOOKUP_ROWS`
    rows or more. That reading then gives the same codes or raises its error, naming the keys.

    >>> t = KeyedTable(pl.DataFrame({"k": ["a", "b"], "v": [1.0, 2.0]}), ("k",), "v")
    >>> string_codes(pd.DataFrame({"k": ["b", "a", "b"]}, dtype=object), [(t, "k")])
    [array([1, 0, 1])]
    >>> string_codes(pd.DataFrame({"k": ["b", "z"]}, dtype=object), [(t, "k")]) is None
    True
    """
    columns = _string_key_columns(obj, tables, large=False)
    if columns is None:
        return None
    out = []
    for (table, _), strings in zip(tables, columns, strict=True):
        found = pc.index_in(strings, value_set=table.arrow_key)
        if found.null_count:  # unknown keys: named by the general reading
            return None
        out.append(found.to_numpy().astype(np.int64))
    return out


def _string_key_columns(obj: Any, tables: Sequence[tuple[KeyedTable, str]], *, large: bool
                        ) -> list[pa.Array] | None:
    """Each ``(table, column)``'s column of a pandas table as arrow strings
    (:func:`_key_strings`), for the look-ups straight from arrow: below
    :data:`HASHED_LOOKUP_ROWS` rows (Python strings converted too), or, with ``large``, at
    that many rows or more (strings held by arrow only). None when ``obj`` is not a pandas
    DataFrame with unique column names of that size, or any column is not one to code so."""
    rows = len(obj) if isinstance(obj, pd.DataFrame) else -1
    if not (rows >= max(HASHED_LOOKUP_ROWS, 1) if large else 0 <= rows < HASHED_LOOKUP_ROWS):
        return None
    if not obj.columns.is_unique:
        return None
    out = []
    for table, col in tables:
        strings = _key_strings(obj, table, col, objects=not large)
        if strings is None:
            return None
        out.append(strings)
    return out


def _key_strings(obj: pd.DataFrame, table: KeyedTable, col: str, *, objects: bool
                 ) -> pa.Array | None:
    """Column ``col`` of ``obj`` as arrow strings, to be looked up among ``table``'s single
    string key: held by arrow already, or (with ``objects``) Python strings converted as
    polars reads them (NaN = missing). None when the general reading must decide: a table
    whose key is not one string column, a missing column, anything but strings, a missing
    value."""
    if len(table.keys) != 1 or table.key_dtype != pl.String or col not in obj.columns:
        return None
    v = obj[col]
    try:
        if isinstance(v.array, pd.arrays.ArrowStringArray):
            strings = pa.array(v.array)
        elif objects and v.dtype == object:
            strings = pa.array(v, from_pandas=True)
        else:
            return None
    except (pa.ArrowException, TypeError, ValueError, OverflowError):  # not all strings
        # (bools, numbers, ints beyond 64 bits: the general reading names the table)
        return None
    if strings.type not in (pa.string(), pa.large_string()) or strings.null_count:
        return None
    return strings


def hashed_string_codes(obj: Any, tables: Sequence[tuple[KeyedTable, str]], *,
                        narrow: bool = False) -> list[np.ndarray] | None:
    """:func:`string_codes` for large tables (:data:`HASHED_LOOKUP_ROWS` rows or more): each
    string key column of a pandas table, held by arrow, hashed, looked up and checked a slice
    at a time straight from arrow (:func:`_arrow_codes`), never read into polars whole (at
    10^7 rows two such columns took 250–300 MB as polars strings, the peak of a sourcing
    call). The columns are coded at once, one thread each, as :func:`code_rows` does.

    None when the general reading must decide: not a pandas DataFrame with those columns (once
    each), a column not held by arrow as strings without missing values, a table whose key is
    not one string column, or a row whose code does not check out (an unknown key). That
    reading then gives the same codes or raises its error, naming the keys. The codes are
    int64; with ``narrow``, int32 for a table of fewer than 2^31 rows (as :func:`code_rows`).

    >>> t = KeyedTable(pl.DataFrame({"k": ["a", "b"], "v": [1.0, 2.0]}), ("k",), "v")
    >>> rows = pd.DataFrame({"k": pd.array(["b", "a"] * 50_000, dtype="str")})
    >>> hashed_string_codes(rows, [(t, "k")])[0][:4].tolist()
    [1, 0, 1, 0]
    """
    columns = _string_key_columns(obj, tables, large=True)
    if columns is None:
        return None
    for table, _ in tables:  # (converted here, not in the threads: see _coded_at_once)
        table.arrow_key  # noqa: B018
    found = _coded_at_once([
        (table, functools.partial(_arrow_codes, strings, table, col, _codes_dtype(table, narrow)))
        for (table, col), strings in zip(tables, columns, strict=True)])
    return None if any(codes is None for codes in found) else found


def _arrow_codes(strings: pa.Array | pa.ChunkedArray, table: KeyedTable, col: str,
                 dtype: type) -> np.ndarray | None:
    """Codes of arrow strings among a table's single string key: by their string views
    (:func:`_view_codes`) while every string fits inside its view, else by polars' hashes
    of slices of them (:func:`_hashed_codes`). None when some row does not check out."""
    try:
        return _view_codes(strings, table, dtype)
    except (_NotInline, pa.ArrowException):  # (a cast arrow refuses: polars reads them)
        pass

    def rows_at(start: int, length: int) -> pl.DataFrame:
        return pl.DataFrame([pl.Series(col, strings.slice(start, length))])

    return _hashed_codes(rows_at, len(strings), table, [col], dtype)


#: Longest string (in bytes) that arrow holds inside its 16-byte view: the 4-byte length, then
#: the bytes, zero-padded. Two such views are equal exactly when their strings are.
INLINE_BYTES = 12


class _NotInline(Exception):
    """A string longer than :data:`INLINE_BYTES`: its view points into a data buffer."""


def _views(strings: pa.Array | pa.ChunkedArray) -> pa.Array:
    """``strings`` as arrow string views, in one chunk (arrow builds them without the GIL:
    2.5 ms a column at 10^6 rows)."""
    if isinstance(strings, pa.ChunkedArray):
        strings = pa.chunked_array([_unsliced(c) for c in strings.chunks], strings.type)
        return pc.cast(strings, pa.string_view()).combine_chunks()
    return pc.cast(_unsliced(strings), pa.string_view())


def _unsliced(strings: pa.Array) -> pa.Array:
    """The same strings as an array that starts at row 0 of its buffers (no copy: the offsets
    buffer is sliced instead). Arrow's cast to string views writes a view for every row
    before a slice's start as well: at 10^7 rows, 84 MB and half a second for a slice of
    2^18 rows near the end."""
    if not strings.offset:
        return strings
    width = 8 if strings.type == pa.large_string() else 4  # (string or large_string)
    _, offsets, data = strings.buffers()
    return pa.Array.from_buffers(strings.type, len(strings), [
        None, offsets.slice(width * strings.offset, width * (len(strings) + 1)), data])


def _view_words(views: pa.Array) -> np.ndarray:
    """The (n, 2) uint64 words of arrow string views (no copy; the array keeps them alive)."""
    words = np.frombuffer(views.buffers()[1], np.uint64).reshape(-1, 2)
    return words[views.offset:views.offset + len(views)]


#: Odd multipliers of :func:`_view_hashes` (the golden ratio's, and two of MurmurHash3's).
_MIX = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F),
        np.uint64(0xFF51AFD7ED558CCD))


def _view_hashes(words: np.ndarray, out: np.ndarray, tmp: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each row of (n, 2) view words into ``out`` (``tmp``: scratch of the
    same length): the words multiplied, mixed, then folded and multiplied again, so every
    bit of a key moves the top bits (the lookup's first slots) and the low ones."""
    np.multiply(words[:, 0], _MIX[0], out=out)
    np.multiply(words[:, 1], _MIX[1], out=tmp)
    out ^= tmp
    np.right_shift(out, np.uint64(32), out=tmp)
    out ^= tmp
    out *= _MIX[2]
    np.right_shift(out, np.uint64(29), out=tmp)
    out ^= tmp
    return out


def _view_codes(strings: pa.Array | pa.ChunkedArray, table: KeyedTable, dtype: type
                ) -> np.ndarray | None:
    """Codes of arrow strings among a table's single string key, all in numpy on their string
    views: a string of up to :data:`INLINE_BYTES` bytes is its two 64-bit words, so the rows'
    words are hashed (:func:`_view_hashes`), looked up among the table's
    (:class:`_HashLookup`) and checked exactly by comparing the table's words at the codes
    with the rows' own. A slice at a time (:data:`_CHECK_ROWS`), into scratch arrays reused
    from slice to slice: no polars work (its thread pool woke for every small step, on the
    core the other column's thread was using) and no fresh pages after the first slice. The
    views' memory goes back to the system when the column is done: arrow's allocator kept
    it in the worker thread's heap (about 220 MB after coding 10^7 rows, resident through
    the rest of the call).

    None when some row's code does not check out (an unknown key), or two of the table's
    keys share a hash and a row lands on them: the exact lookup then decides. Raises
    :class:`_NotInline` at the first slice holding a longer string (a table key longer than
    that is never a row's code: its words differ from every inline row's).
    """
    try:
        return _coded_by_views(strings, table, dtype)
    finally:  # (the views are gone by now) their memory back to the system, not kept
        pa.default_memory_pool().release_unused()  # in this thread's heap


def _coded_by_views(strings: pa.Array | pa.ChunkedArray, table: KeyedTable, dtype: type
                    ) -> np.ndarray | None:
    """The work of :func:`_view_codes`, whose arrow buffers are all let go when it returns."""
    keys = _view_words(_views(table.arrow_key))
    hashes = np.empty(len(keys), np.uint64)
    lookup = _HashLookup(_view_hashes(keys, hashes, np.empty_like(hashes)))
    height = len(strings)
    codes = fresh(height, np.dtype(dtype))
    rows = min(_CHECK_ROWS, height)
    hashes, scratch = fresh(rows, np.uint64), fresh(rows, np.uint64)
    got = fresh((min(ROW_BLOCK, rows), 2), np.uint64)
    for start in range(0, height, _CHECK_ROWS):
        views = _views(strings.slice(start, min(_CHECK_ROWS, height - start)))
        words = _view_words(views)
        n = len(words)
        if int(words.view(np.int32)[:, 0].max(initial=0)) > INLINE_BYTES:  # (the lengths)
            raise _NotInline
        part = codes[start:start + n]
        if not lookup.codes(_view_hashes(words, hashes[:n], scratch[:n]), part) or (
                part.min(initial=0) < 0):
            return None
        for block in row_blocks(n):  # exact: the table's words at the codes are the rows'
            candidates = part[block]
            at = got[:len(candidates)]
            np.take(keys, candidates, axis=0, out=at)
            if not np.array_equal(at, words[block]):
                return None
    return codes


def _codes_dtype(table: KeyedTable, narrow: bool) -> type:
    """int32 codes for a table of fewer than 2^31 rows when ``narrow``, else int64."""
    return np.int32 if narrow and len(table) < 2**31 else np.int64


#: Threads of :func:`workers`: one per core of the 2-core machines the benchmarks run on; more
#: jobs than that wait their turn.
WORKERS = 2

_workers: ThreadPoolExecutor | None = None
_workers_lock = threading.Lock()


def workers() -> ThreadPoolExecutor:
    """The process's pool of :data:`WORKERS` threads for the transforms' work beside the
    caller's thread (coding key columns, building an index while the kernels run).

    Kept for the life of the process, not started per call: threads started afresh got
    empty allocator arenas and fresh pages every time (coding two key columns of 10^6 rows
    after a polars query: median 53 ms against 31–35 ms in kept threads). A process forked
    from one that had the pool gets a pool of its own (the parent's threads do not exist
    there: :func:`_workers_after_fork`). Jobs never wait on other jobs of the pool, so
    callers on many threads at once only queue.
    """
    global _workers
    with _workers_lock:
        if _workers is None:
            _workers = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="fairalloc")
        return _workers


def _workers_after_fork() -> None:
    """In a forked child: a lock of its own (the parent's may have been held by a thread
    that does not exist here) and no pool yet."""
    global _workers, _workers_lock
    _workers, _workers_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_workers_after_fork)


def _coded_at_once(jobs: list[tuple[KeyedTable, Callable[[], np.ndarray | None]]]
                   ) -> list[np.ndarray | None]:
    """The codes of every job ``(table, code)`` (``code()``), on the :func:`workers` threads
    when there are several: numpy, polars and arrow let go of the GIL, so both cores code at
    once. The tables' frames are built first (a lazy build holds one lock per class, so two
    threads building theirs would wait for each other)."""
    for table, _ in jobs:
        table.frame  # noqa: B018 - built here, not in the threads
    if len(jobs) < 2:
        return [code() for _, code in jobs]
    return list(workers().map(lambda job: job[1](), jobs))


def _row_hashes(df: pl.DataFrame, cols: Sequence[str]) -> pl.Series:
    """One 64-bit hash per row of the columns ``cols`` (the same function for both sides)."""
    if len(cols) == 1:
        return df[cols[0]].hash()
    return df.select(cols).hash_rows()


def _hashed_codes(rows_at: Any, height: int, table: KeyedTable, cols: Sequence[str],
                  dtype: type = np.int64) -> np.ndarray | None:
    """Codes of ``height`` rows by the 64-bit hashes of their keys, every code checked against
    the keys; ``rows_at(start, length)`` is a polars frame of those rows with the key columns
    ``cols`` (``df.slice`` for a frame ``df``).

    None when the table's own keys' hashes collide, or when some row's code does not check
    out (an unknown key, or a hash collision with a key of the table): the exact lookup then
    decides (and names unknown keys).

    The rows are hashed, looked up and checked by slices of :data:`_CHECK_ROWS`: neither the
    hashes nor a gathered copy of the key strings ever exist for all rows at once (at 10^7
    rows the whole hashes of two columns weighed 160 MB on top of their strings), and each
    slice reuses the memory the slice before freed instead of touching fresh pages.
    """
    lookup = _HashLookup(_row_hashes(table.frame, table.keys).to_numpy())
    codes = fresh(height, np.dtype(dtype))
    for start in range(0, height, _CHECK_ROWS):
        rows = rows_at(start, min(_CHECK_ROWS, height - start))
        part = codes[start:start + rows.height]
        if not lookup.codes(_row_hashes(rows, cols).to_numpy(), part) or (
                part.min(initial=0) < 0):
            return None
        # exact: the keys at the codes are the rows'
        for k, c in zip(table.keys, cols, strict=True):
            if not (table.frame[k].gather(part) == rows[c]).all():
                return None
    return codes


#: Rows hashed, looked up and checked at a time by :func:`_hashed_codes` (10^6 rows in one
#: slice touched some 10 000 fresh pages more per call of ``direct_sourcing`` after other work
#: had freed its memory).
_CHECK_ROWS = 2**18


class _HashLookup:
    """Candidate codes of row hashes among a table's hashes (-1: no table hash can match), to
    be checked exactly by the caller.

    A direct-mapped array of codes indexed by the top bits of the hash (4 to 8 slots per table
    key: a few MB) answers most rows with one gather. About a fifth of the rows land on a slot
    that several table hashes share; those are looked up the same way among the hashes of the
    shared slots alone, on the next bits of the hash (:data:`LOOKUP_LEVELS` levels, each on
    bits no earlier level used), and the last few in pandas' integer hash table. The levels
    are built once from the table; rows go through them in any number of slices. A row whose
    key is not in the table may get a wrong code (its slot's): the caller's exact check
    catches it. Undecided (:meth:`codes` is False) when two table keys have the same 64-bit
    hash and a row lands on their slots (the only rows those keys could code wrongly).
    """

    def __init__(self, table: np.ndarray):
        keys = np.arange(len(table), dtype=np.int32 if len(table) < 2**31 else np.int64)
        self.levels: list[tuple[np.uint64, np.uint64, np.ndarray]] = []
        low = 0  # the bits below ``top`` are the later levels' (the first takes the top ones)
        top = 64
        for level in range(LOOKUP_LEVELS + 1):
            bits = max(int(4 * len(keys)).bit_length(), 8)
            shift = np.uint64(64 - bits if level == 0 else low)
            if level:
                low += bits
                if low > top:  # no fresh bits left: pandas decides the rest
                    break
            else:
                top = 64 - bits
            mask = np.uint64((1 << bits) - 1)
            slot = ((table[keys] >> shift) & mask).view(np.int64)
            lut = fresh(1 << bits, keys.dtype)
            lut.fill(-1)
            lut[slot] = keys
            ordered = np.sort(slot)
            lut[ordered[1:][ordered[1:] == ordered[:-1]]] = -2  # slots of several table hashes
            self.levels.append((shift, mask, lut))
            keys = keys[lut[slot] == -2]  # the table keys of the shared slots
            if not keys.size:
                break
        self.keys = keys
        self.among = pd.Index(table[keys])

    def codes(self, rows: np.ndarray, out: np.ndarray) -> bool:
        """Write each row hash's candidate code into ``out``; False when undecided."""
        pending: np.ndarray | None = None  # rows still to look up (None: all of them)
        for shift, mask, lut in self.levels:
            if pending is None:
                shared = []
                for part in row_blocks(len(rows)):  # no second array of the rows' slots
                    got = out[part] = np.take(lut, (rows[part] >> shift).view(np.int64))
                    shared.append(np.flatnonzero(got == -2) + part.start)
                pending = np.concatenate(shared) if shared else np.empty(0, np.intp)
            else:
                out[pending] = np.take(lut, ((rows[pending] >> shift) & mask).view(np.int64))
                pending = pending[out[pending] == -2]
            if not pending.size:
                return True
        if not self.among.is_unique:
            return False
        found = self.among.get_indexer(rows[pending])
        out[pending] = np.where(found >= 0, self.keys[found], -1)
        return True


#: Levels of direct-mapped look-ups after the first in :class:`_HashLookup`, each on the
#: hashes of the slots the level before found shared, before pandas' hash table takes the rest.
LOOKUP_LEVELS = 2


def _check_join_types(df: pl.DataFrame, table: KeyedTable, cols: Sequence[str], what: str) -> None:
    for k, c in zip(table.keys, cols, strict=True):
        if df[c].dtype != table.frame[k].dtype:  # (a frame's schema is built per call)
            raise InputTypeError(
                f"{what}: key column {c!r} is {df[c].dtype} but the table it refers to holds "
                f"{table.frame[k].dtype}",
                [c],
            )


def require_rows(df: pl.DataFrame, what: str) -> None:
    """Raise :class:`EmptyInputError` when a required table has no rows."""
    if df.height == 0:
        raise EmptyInputError(f"{what} is empty")


def unique_pairs(a: np.ndarray, b: np.ndarray, n_b: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Sorted unique (a, b) code pairs, in the dtypes of ``a`` and ``b``, and how many
    duplicates collapsed (:func:`unique_code_pairs` of ``[a, b]``).

    >>> unique_pairs(np.array([1, 0, 1]), np.array([0, 2, 0]), 3)
    (array([0, 1]), array([2, 0]), 1)
    """
    return unique_code_pairs([a, b], n_b)


def unique_code_pairs(codes: list[np.ndarray], n_b: int
                      ) -> tuple[np.ndarray, np.ndarray, int]:
    """Sorted unique (a, b) code pairs of ``codes = [a, b]``, in the dtypes of ``a`` and
    ``b``, and how many duplicates collapsed.

    The pairs are packed into one int64 (``a`` high, ``b`` low) and sorted as numbers, which is
    the lexicographic order of (a, b). ``codes`` is emptied: once packed, ``a`` and ``b`` are
    let go, so where the caller holds them nowhere else (and they are :func:`fresh` arrays)
    the unpacked pairs reuse their memory (at 10^7 pairs of int32 codes the peak is 80 MB
    lower).

    >>> codes = [np.array([1, 0, 1]), np.array([0, 2, 0])]
    >>> unique_code_pairs(codes, 3), codes
    ((array([0, 1]), array([2, 0]), 1), [])
    """
    a, b = codes
    codes.clear()
    shift = max(int(n_b - 1).bit_length(), 1)
    if int(a.max(initial=0)).bit_length() + shift > 62:
        raise OverflowError("too many keys to pack a pair of codes into 64 bits")
    # one array, worked in place: a fresh array of 10^7 numbers costs more than the work on it
    pair = np.left_shift(a, shift, out=fresh(len(a), np.int64), dtype=np.int64)
    pair |= b
    high_dtype, low_dtype = a.dtype, b.dtype
    del a, b
    pair.sort()  # numpy's vectorised sort: cheaper than polars' on one core of a busy machine
    keep = fresh(len(pair), bool)
    keep[:1] = True
    np.not_equal(pair[1:], pair[:-1], out=keep[1:])
    n = int(np.count_nonzero(keep))
    high, low = fresh(n, high_dtype), fresh(n, low_dtype)
    mask, at = (1 << shift) - 1, 0
    for part in row_blocks(len(pair)):  # unpacked by blocks, the duplicates left out
        kept = pair[part][keep[part]]
        out = slice(at, at + len(kept))
        np.right_shift(kept, shift, out=high[out], casting="unsafe")  # (fits: codes of a, b)
        np.bitwise_and(kept, mask, out=low[out], casting="unsafe")
        at = out.stop
    return high, low, len(pair) - n


def level(table: KeyedTable, col: str, codes: np.ndarray) -> tuple[pd.Index, np.ndarray]:
    """The index level of ``table``'s column ``col`` at row codes ``codes``, unused values dropped.

    Returns the level values (sorted, unique) and the level codes per entry of ``codes``:
    ``codes`` itself where they are the same, else an array of their own (``codes`` is only
    read).
    """
    s = table.frame[col]
    if table.keys == (col,):  # one key, sorted and unique: codes are rows already
        index, remap = key_level(table, col, codes)
        return index, codes if remap is None else gather(remap, codes)
    if col == table.keys[0]:  # the table is sorted by its keys: this column is sorted
        change = s.ne_missing(s.shift(1)).to_numpy()
        per_row = np.cumsum(change) - 1
        uniq = s.filter(pl.Series(change))
    else:
        per_row = (s.rank("dense").to_numpy() - 1).astype(np.int64)
        uniq = s.unique().sort()
    lc = gather(per_row.astype(codes.dtype, copy=False), codes)
    used = mark(lc, len(uniq))
    if not used.all():
        lc = gather((np.cumsum(used) - 1).astype(lc.dtype), lc, out=lc)
        uniq = uniq.filter(pl.Series(used))
    return key_index(uniq, col), lc


def key_level(table: KeyedTable, col: str, codes: np.ndarray, *,
              used: np.ndarray | None = None) -> tuple[pd.Index, np.ndarray | None]:
    """The index level of a one-key table's key ``col`` at row codes ``codes``, unused keys
    dropped, and the level code of each row code (in the dtype of ``codes``; None when every
    key is used: the row codes are the level codes). ``codes`` is only read; ``used`` is
    which rows of the table ``codes`` name, when the caller has it.

    >>> t = KeyedTable(pl.DataFrame({"k": ["a", "b", "c"], "v": [1.0] * 3}), ("k",), "v")
    >>> index, remap = key_level(t, "k", np.array([2, 0, 2]))
    >>> index.tolist(), remap.tolist()
    (['a', 'c'], [0, 0, 1])
    """
    if table.keys != (col,):  # (a column of several keys repeats: level() ranks it)
        raise ValueError(f"key_level takes a table of the one key {col!r}, not {table.keys}")
    keys = table.frame[col]
    if used is None:
        used = mark(codes, len(keys))
    if used.all():
        return key_index(keys, col), None
    return key_index(keys.filter(pl.Series(used)), col), (np.cumsum(used) - 1).astype(codes.dtype)


@functools.cache
def _pandas_string_dtype() -> Any:
    """The pandas dtype polars gives a String column (:func:`key_index`), read once."""
    return pl.Series([""]).to_pandas().dtype


def key_index(keys: pl.Series, name: str, arrow: pa.Array | None = None) -> pd.Index:
    """The pandas Index of a key column, equal (values and dtype) to
    ``pd.Index(keys.to_pandas(), name=name)``.

    Strings whose pandas dtype is arrow-backed (pandas' default ``str``) are wrapped straight
    from arrow, without going through pyarrow's conversion to pandas (a fixed cost of about
    0.1 ms a column). ``arrow`` is ``keys.to_arrow()`` when the caller has it already.

    >>> key_index(pl.Series(["a", "b"]), "k")
    Index(['a', 'b'], dtype='str', name='k')
    """
    if keys.dtype == pl.String:
        index = _string_index(keys.to_arrow() if arrow is None else arrow, name)
        if index is not None:
            return index
    return pd.Index(keys.to_pandas(), name=name)


def _string_index(values: pa.Array, name: str) -> pd.Index | None:
    """:func:`key_index` of arrow strings (those of a polars String column), or None when
    pandas' string dtype is not arrow-backed."""
    dtype = _pandas_string_dtype()
    if isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
        return pd.Index(pd.arrays.ArrowStringArray(values, dtype=dtype), name=name)
    return None


def multi_index(parts: Sequence[tuple[pd.Index, np.ndarray]]) -> pd.MultiIndex:
    """A MultiIndex straight from (level, codes) pairs, without re-hashing the values."""
    return pd.MultiIndex(
        levels=[p[0] for p in parts],
        codes=[p[1] for p in parts],
        names=[p[0].name for p in parts],
        verify_integrity=False,
    )


def code_dtype(level: pd.Index) -> np.dtype:
    """The integer dtype pandas keeps a MultiIndex level's codes in (the first of int8, int16,
    int32, int64 whose largest value exceeds the level's length, pandas' own rule): codes made
    in it are taken as they are, where int64 codes are copied down (at 5.2 × 10^6 rows, two
    fresh 42 MB arrays and their copies).

    >>> code_dtype(pd.Index(range(100))), code_dtype(pd.Index(range(1000)))
    (dtype('int8'), dtype('int16'))
    """
    return next(np.dtype(d) for d in (np.int8, np.int16, np.int32, np.int64)
                if len(level) < np.iinfo(d).max)


def product_index(outer: pd.Index, inner: pd.Index) -> pd.MultiIndex:
    """Every (outer, inner) pair, outer-major, as a MultiIndex built from codes.

    >>> product_index(pd.Index(["a", "b"], name="x"), pd.Index([1, 2], name="y")).tolist()
    [('a', 1), ('a', 2), ('b', 1), ('b', 2)]
    """
    n, t = len(outer), len(inner)
    outer_codes = fresh((n, t), code_dtype(outer))
    outer_codes[:] = np.arange(n, dtype=outer_codes.dtype)[:, None]
    inner_codes = fresh((n, t), code_dtype(inner))
    inner_codes[:] = np.arange(t, dtype=inner_codes.dtype)[None, :]
    return multi_index([(outer, outer_codes.reshape(-1)), (inner, inner_codes.reshape(-1))])


def by_columns(by: Any) -> list[str]:
    """The group columns of a ``by=`` argument: one name or a non-empty sequence of names.

    >>> by_columns("campaign"), by_columns(("commodity", "year"))
    (['campaign'], ['commodity', 'year'])
    """
    cols = [by] if isinstance(by, str) else list(by) if isinstance(by, Iterable) else [by]
    if not cols or not all(isinstance(c, str) for c in cols):
        raise ParameterError("by must name one or more group columns", [by])
    return cols


def stack_groups(parts: Sequence[tuple[tuple, pd.DataFrame]], by: Sequence[str]) -> pd.DataFrame:
    """The groups' tables ``[(key tuple, table), …]`` stacked, the ``by`` levels leading.

    >>> t = pd.DataFrame({"v": [1]}, index=pd.Index(["a"], name="k"))
    >>> stack_groups([(("x",), t), (("y",), t)], ["g"]).index.tolist()
    [('x', 'a'), ('y', 'a')]
    """
    keys = [k if len(k) > 1 else k[0] for k, _ in parts]
    return pd.concat([t for _, t in parts], keys=keys, names=list(by))


def split_groups(frames: dict[str, Any], by: Sequence[str], *, what: str) -> list[tuple]:
    """Partition several tables by the ``by`` columns: ``[(key tuple, {name: frame}), …]``.

    Each table is a pandas (columns or index levels) or polars DataFrame / LazyFrame with the
    ``by`` columns, which must hold str or int keys without nulls, of the same kind in every
    table. Keys are sorted; every key must appear in every table (else
    :class:`UnknownKeyError` naming the groups missing somewhere). Other inputs raise
    :class:`InputTypeError`, an empty table :class:`EmptyInputError`.

    >>> import polars as pl
    >>> a = pl.DataFrame({"g": ["y", "x"], "v": [1, 2]})
    >>> [(k, t["a"]["v"].to_list()) for k, t in split_groups({"a": a}, ["g"], what="demo")]
    [(('x',), [2]), (('y',), [1])]
    """
    by = list(by)
    parts: dict[str, dict] = {}
    kinds: dict[str, list] = {}
    for name, obj in frames.items():
        df = obj.collect() if isinstance(obj, pl.LazyFrame) else obj
        if isinstance(df, pd.DataFrame):
            df = pl.from_pandas(df.reset_index() if df.index.names != [None] else df)
        if not isinstance(df, pl.DataFrame):
            raise InputTypeError(f"{what}: {name} must be a pandas or polars table with the "
                                 f"group columns {by}, not {type(obj).__name__}", [name])
        missing = [c for c in by if c not in df.columns]
        if missing:
            raise InputTypeError(f"{what}: {name} lacks the group columns", missing)
        require_rows(df, f"{what}: {name}")
        # str or int keys, no nulls (named errors), one dtype per column for comparisons
        df = df.with_columns([_key_cast(df, c, f"{what}: {name}") for c in by])
        kinds[name] = [df.schema[c] for c in by]
        parts[name] = {k: v.drop(by) for k, v in
                       df.partition_by(by, as_dict=True, maintain_order=True).items()}
    first = next(iter(kinds.values()), [])
    for name, dtypes in kinds.items():
        clash = [c for c, a, b in zip(by, first, dtypes, strict=True) if a != b]
        if clash:
            raise InputTypeError(f"{what}: group columns hold str keys in one table and int "
                                 f"keys in another ({name} differs)", clash)
    keys = [set(p) for p in parts.values()]
    every, some = set.intersection(*keys), set.union(*keys)
    if some - every:
        raise UnknownKeyError(f"{what}: groups missing from some tables", sorted(some - every))
    return [(k, {n: p[k] for n, p in parts.items()}) for k in sorted(every)]
