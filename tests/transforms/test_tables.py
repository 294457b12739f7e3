"""Shared input coercion: the forms every transform accepts, and the errors it raises."""

import pandas as pd
import polars as pl
import pytest

from fairalloc.transforms import errors
from fairalloc.transforms._tables import KeyedTable, code_rows, to_polars


def test_pandas_columns_and_index_levels_are_read_by_name():
    df = pd.DataFrame({"v": [1.0, 2.0], "extra": ["x", "y"]},
                      index=pd.MultiIndex.from_tuples([("a", 1), ("b", 2)], names=["k", "j"]))
    got = to_polars(df, ["j", "k"], "v", what="t")
    assert got.columns == ["j", "k", "v"]
    assert got.rows() == [(1, "a", 1.0), (2, "b", 2.0)]


def test_series_with_named_multiindex():
    s = pd.Series([3, 4], index=pd.MultiIndex.from_tuples([("a", "x"), ("b", "y")],
                                                         names=["sink", "source"]))
    got = to_polars(s, ["source", "sink"], "amount", what="t")
    assert got.select("source", "sink", "amount").rows() == [("x", "a", 3.0), ("y", "b", 4.0)]


def test_repeated_columns_are_named():
    df = pd.DataFrame([["a", "b", 1.0]], columns=["k", "k", "v"])
    with pytest.raises(errors.InputTypeError, match="repeated columns") as info:
        to_polars(df, ["k"], "v", what="t")
    assert "'k'" in str(info.value)


@pytest.mark.parametrize("keys", [["a", "c", "b"], [3, 1, 2]])
def test_code_rows_single_key_codes_and_unknown_keys(keys):
    table = KeyedTable(pl.DataFrame({"k": sorted(keys), "v": [1.0, 2.0, 3.0]}), ("k",), "v")
    rows = pl.DataFrame({"k": [keys[0], keys[1], keys[0]]})
    (codes,) = code_rows(rows, [(table, ["k"], "key")], what="rows")
    assert [sorted(keys)[c] for c in codes] == [keys[0], keys[1], keys[0]]
    bad = pl.DataFrame({"k": [keys[0], "zz" if isinstance(keys[0], str) else 99]})
    with pytest.raises(errors.UnknownKeyError, match="zz|99"):
        code_rows(bad, [(table, ["k"], "key")], what="rows")
