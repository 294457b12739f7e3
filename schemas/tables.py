"""Table contracts written once: each column's name, type, nullability, meaning and amount rule.

A :class:`Table` lists its key columns and its value columns (:class:`Column`); everything else
is derived from it — the pandera schema of an input table (polars back-end, keys as columns),
the pandera schema of an output table (pandas back-end, keys as the index) and the column
descriptions the pipeline shows in Dagster (:func:`fairalloc.pipelines.metadata.table_metadata`)
and the transforms' coercion of an input table (:func:`fairalloc.transforms._tables.table_input`
reads its key and value names, each value column's rule and the repeat policy from here).

The definitions need nothing but the standard library and numpy: pandera is imported only when
a schema is derived, so ``import fairalloc.transforms`` does not load it. The schema modules
(:mod:`fairalloc.schemas.sourcing`, ...) derive their pandera models on first use
(:func:`models`).

Keys hold strings or integers, as the transforms accept both. How repeated keys are treated
follows the transforms: ``"collapse"`` (a key repeated with the same values is one row, with
different values an error), ``"reject"`` (any repeat is an error) or ``"pairs"`` (a list of
pairs without values: repeats collapse).

>>> import polars as pl
>>> t = Table("stock", "Stock per shop.", keys=(key("shop", "The shop."),),
...           values=(Column("stock", float, "Units on the shelf.", AMOUNT),))
>>> t.polars().validate(pl.DataFrame({"shop": [1, 1], "stock": [2.0, 2.0]})).height
2
>>> [c.name for c in t.columns], t.column("stock").rule.text
(['shop', 'stock'], 'finite, ≥ 0')
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    import pandera.pandas as pdx
    import pandera.polars as pa
    from pandera.api.checks import Check


def _pandera() -> Any:
    """pandera's ``Check`` with our registered checks (imported on first schema derivation)."""
    from pandera.api.checks import Check

    import fairalloc.schemas._checks  # noqa: F401  (registers Check.finite, .str_or_int, ...)
    return Check

#: The type of key columns: str or int (see :func:`fairalloc.schemas._checks.str_or_int`).
KEY = "str or int"


@dataclass(frozen=True)
class Rule:
    """An amount rule: bounds and finiteness, with the words that describe it."""

    text: str
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    finite: bool = True

    def checks(self) -> list[Check]:
        """The pandera checks of the rule (the same objects serve both back-ends).

        Returns
        -------
        list of pandera.Check
            Finiteness (when the rule asks for it), then one check per bound.
        """
        Check = _pandera()
        out = [] if not self.finite else [Check.finite()]
        for name, bound in (("ge", self.ge), ("gt", self.gt), ("le", self.le), ("lt", self.lt)):
            if bound is not None:
                out.append(getattr(Check, name)(bound))
        return out

    def broken(self, values: np.ndarray, name: str, *,
               nullable: bool = False) -> list[tuple[str, np.ndarray]]:
        """What breaks the rule in column ``name`` of floats (NaN = missing): for each way of
        breaking it, its words and the mask of the values that do.

        Missing values break it unless ``nullable``; infinite ones always (a whole-number rule
        such as :data:`COUNT` holds integers, which are finite).

        Parameters
        ----------
        values : numpy.ndarray
            The column's values as floats.
        name : str
            The column's name, for the words.
        nullable : bool, default False
            Whether missing values are allowed.

        Returns
        -------
        list of tuple
            (words, mask) pairs: each way of breaking the rule (``"negative capacity"``)
            and where it is broken.

        Examples
        --------
        >>> [(words, mask.tolist()) for words, mask in RANK.broken(np.array([1.0, 0.0]), "rank")]
        ... # doctest: +NORMALIZE_WHITESPACE
        [('NaN or missing rank', [False, False]), ('infinite rank', [False, False]),
         ('rank below 1', [False, True])]
        """
        out = [(f"NaN or missing {name}",
                np.zeros(values.shape, bool) if nullable else np.isnan(values)),
               (f"infinite {name}", np.isinf(values))]
        for bound, compare, at_zero, words in (
                (self.ge, np.less, "negative", "below"),
                (self.gt, np.less_equal, "zero or negative", "at or below"),
                (self.le, np.greater, None, "above"),
                (self.lt, np.greater_equal, None, "at or above")):
            if bound is not None:
                text = (f"{at_zero} {name}" if bound == 0 and at_zero
                        else f"{name} {words} {bound:g}")
                out.append((text, compare(values, bound)))
        return out


#: A quantity: finite, ≥ 0.
AMOUNT = Rule("finite, ≥ 0", ge=0)
#: A strictly positive quantity: finite, > 0.
POSITIVE = Rule("finite, > 0", gt=0)
#: A fraction below one: finite, in [0, 1).
FRACTION = Rule("finite, in [0, 1)", ge=0, lt=1)
#: A share: finite, in [0, 1].
SHARE = Rule("finite, in [0, 1]", ge=0, le=1)
#: A whole count: ≥ 0.
COUNT = Rule("≥ 0", ge=0, finite=False)
#: A rank: ≥ 1 (1 = best).
RANK = Rule("≥ 1", ge=1, finite=False)


@dataclass(frozen=True)
class Column:
    """One column: name, type (a Python type, a pandas dtype name or :data:`KEY`), meaning
    (one line), amount rule, whether values may be missing, the values allowed.

    With ``regex`` the name is a regular expression naming a family of columns (e.g.
    ``rank_[1-9][0-9]*``: one column per rank), each following the same rules."""

    name: str
    dtype: Any
    description: str
    rule: Rule | None = None
    nullable: bool = False
    isin: tuple = ()
    coerce: bool = False
    regex: bool = False

    def names(self, name: str) -> bool:
        """Whether ``name`` is this column (or, with ``regex``, one of its family).

        Parameters
        ----------
        name : str
            A column name.

        Returns
        -------
        bool
            True when the name is the column's.
        """
        return re.fullmatch(self.name, name) is not None if self.regex else name == self.name

    def checks(self) -> list[Check]:
        """Every check of the column: key type, amount rule, allowed values.

        Returns
        -------
        list of pandera.Check
            The checks, the same objects for both back-ends.
        """
        Check = _pandera()
        out = [Check.str_or_int()] if self.dtype == KEY else []
        out += self.rule.checks() if self.rule else []
        if self.isin:
            out.append(Check.isin(list(self.isin)))
        return out

    def constraints(self) -> list[str]:
        """The column's rules in words (for the Dagster column schema).

        Returns
        -------
        list of str
            Key type, amount rule and allowed values, in words.
        """
        out = [KEY] if self.dtype == KEY else []
        out += [self.rule.text] if self.rule else []
        if self.isin:
            out.append("one of " + ", ".join(map(str, self.isin)))
        return out

    @property
    def _dtype(self) -> Any:
        return None if self.dtype == KEY else self.dtype

    def polars(self, unique: bool = False) -> pa.Column:
        """The column for pandera's polars back-end.

        Parameters
        ----------
        unique : bool, default False
            Whether every value must be distinct.

        Returns
        -------
        pandera.polars.Column
            The column schema.
        """
        import pandera.polars as pa
        return pa.Column(self._dtype, self.checks(), nullable=self.nullable, unique=unique,
                         coerce=self.coerce, description=self.description)

    def pandas(self) -> pdx.Column:
        """The column for pandera's pandas back-end.

        Returns
        -------
        pandera.pandas.Column
            The column schema.
        """
        import pandera.pandas as pdx
        return pdx.Column(self._dtype, self.checks(), nullable=self.nullable,
                          coerce=self.coerce, description=self.description, regex=self.regex,
                          name=self.name)

    def index(self, unique: bool = False) -> pdx.Index:
        """The column as an index level for pandera's pandas back-end.

        Parameters
        ----------
        unique : bool, default False
            Whether every label must be distinct.

        Returns
        -------
        pandera.pandas.Index
            The index schema.
        """
        import pandera.pandas as pdx
        return pdx.Index(self._dtype, self.checks(), nullable=self.nullable, unique=unique,
                         name=self.name, description=self.description)


def key(name: str, description: str) -> Column:
    """A key column: str or int, never missing.

    Parameters
    ----------
    name : str
        The column's name.
    description : str
        What the key identifies, in one line.

    Returns
    -------
    Column
        The key column's definition.
    """
    return Column(name, KEY, description)


@dataclass(frozen=True)
class TableCheck:
    """A check of a whole output table: a function of the pandas frame returning a bool, its
    name and its error message (a pandera ``Check`` once a schema is derived)."""

    fn: Callable[[Any], bool]
    name: str
    error: str


@dataclass(frozen=True)
class Table:
    r"""A table: name, meaning, key columns, value columns and how repeated keys are treated.

    An output table without keys (a list of findings, e.g. the fairness audit) keeps a plain
    row index; ``checks`` are :class:`TableCheck`\ s of the whole output table (e.g. which
    columns of a ``regex`` family must be present).
    """

    name: str
    description: str
    keys: tuple[Column, ...]
    values: tuple[Column, ...] = ()
    repeats: Literal["collapse", "reject", "pairs"] = "collapse"
    checks: tuple[TableCheck, ...] = ()

    @property
    def columns(self) -> tuple[Column, ...]:  # numpydoc ignore=RT01
        """Keys first, then values."""
        return (*self.keys, *self.values)

    def column(self, name: str) -> Column | None:
        """The column called ``name``.

        Parameters
        ----------
        name : str
            A column name.

        Returns
        -------
        Column or None
            The column; None when the table has none of that name.
        """
        return next((c for c in self.columns if c.names(name)), None)

    def grouped(self, *by: Column, name: str | None = None) -> Table:
        """The same table inside groups: the ``by`` columns lead the keys.

        Parameters
        ----------
        *by : Column
            The group columns, in order.
        name : str, optional
            The grouped table's name (default: the same name).

        Returns
        -------
        Table
            The grouped definition.
        """
        return replace(self, name=name or self.name, keys=(*by, *self.keys))

    def polars(self) -> pa.DataFrameSchema:
        """The input contract: pandera polars back-end, keys as columns, other columns allowed.

        Returns
        -------
        pandera.polars.DataFrameSchema
            The schema, with this definition as its ``metadata["table"]``.
        """
        import pandera.polars as pa
        Check = _pandera()
        names = [c.name for c in self.keys]
        one_key = len(self.keys) == 1 and self.repeats == "reject"
        checks = []
        if self.repeats == "collapse" and self.values:
            checks.append(Check.one_value_per_key(keys=names,
                                                  values=[c.name for c in self.values]))
        return pa.DataFrameSchema(
            {c.name: c.polars(unique=one_key and c in self.keys) for c in self.columns},
            checks=checks,
            unique=names if self.repeats == "reject" and not one_key else None,
            strict=False, name=self.name, description=self.description,
            metadata={"table": self},
        )

    def pandas(self) -> pdx.DataFrameSchema:
        """The output contract: pandera pandas back-end, keys as the index, no other columns.

        Returns
        -------
        pandera.pandas.DataFrameSchema
            The schema, with this definition as its ``metadata["table"]``.
        """
        import pandera.pandas as pdx
        Check = _pandera()
        index: pdx.Index | pdx.MultiIndex | None = None
        if len(self.keys) == 1:
            index = self.keys[0].index(unique=True)
        elif self.keys:
            index = pdx.MultiIndex([c.index() for c in self.keys])
        return pdx.DataFrameSchema(
            {c.name: c.pandas() for c in self.values}, index=index, strict=True,
            checks=[Check(c.fn, name=c.name, error=c.error) for c in self.checks],
            name=self.name, description=self.description, metadata={"table": self},
        )


def table_of(schema: Any) -> Table | None:
    """The :class:`Table` a pandera schema was derived from.

    Parameters
    ----------
    schema : Table or pandera schema
        A table definition, or a schema derived from one (or any other schema).

    Returns
    -------
    Table or None
        The definition; None for a schema not derived from a :class:`Table`.
    """
    if isinstance(schema, Table):
        return schema
    return (getattr(schema, "metadata", None) or {}).get("table")


def models(namespace: dict[str, Any],
           derive: Mapping[str, Callable[[], Any]]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that derives each pandera model on first use and keeps it.

    A schema module defines its tables, then ``__getattr__ = models(globals(), {...})`` with one
    entry per model name: ``from fairalloc.schemas.portions import PortionRatios`` derives it
    then, and importing the definitions alone (as the transforms do) never loads pandera.

    Parameters
    ----------
    namespace : dict
        The module's ``globals()``, where a derived model is kept.
    derive : mapping of str to callable
        Model name → a function of no arguments deriving it.

    Returns
    -------
    callable
        The module's ``__getattr__``.
    """
    def __getattr__(name: str) -> Any:
        if name not in derive:
            raise AttributeError(f"module {namespace['__name__']!r} has no attribute {name!r}")
        namespace[name] = model = derive[name]()
        return model
    return __getattr__
