"""Shared input coercion: the forms every transform accepts, and the errors it raises."""

import os

import hypothesis.strategies as st
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given

from fairalloc.schemas import tables
from fairalloc.transforms import _tables, errors
from fairalloc.transforms._tables import KeyedTable, code_rows, to_polars
from tests.strategies import RULE_EDGES


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


# --- large inputs: keys looked up by their 64-bit hashes, every code checked exactly ----------

@pytest.fixture
def hashed(monkeypatch):
    """Every input takes the hashed lookup of code_rows, however small."""
    monkeypatch.setattr(_tables, "HASHED_LOOKUP_ROWS", 0)


def _table(cols: dict) -> KeyedTable:
    frame = pl.DataFrame(cols).sort(list(cols))
    return KeyedTable(frame.with_columns(v=pl.lit(1.0)), tuple(cols), "v")


@given(st.lists(st.one_of(st.text(max_size=3), st.just("")), min_size=1, max_size=8,
                unique=True), st.data())
def test_hashed_codes_equal_the_keys_positions(keys, data):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_tables, "HASHED_LOOKUP_ROWS", 0)
        rows = data.draw(st.lists(st.sampled_from(keys), min_size=1, max_size=20))
        (codes,) = code_rows(pl.DataFrame({"r": rows}, schema={"r": pl.String}),
                             [(_table({"k": keys}), ["r"], "key")], what="rows")
    assert [sorted(keys)[c] for c in codes] == rows


def test_hashed_codes_of_two_key_columns(hashed):
    table = _table({"g": [1, 1, 2], "k": ["a", "b", "a"]})
    rows = pl.DataFrame({"k2": ["a", "b", "a", "a"], "g2": [2, 1, 1, 2]})
    (codes,) = code_rows(rows, [(table, ["g2", "k2"], "key")], what="rows")
    assert codes.tolist() == [2, 1, 0, 2]
    with pytest.raises(errors.UnknownKeyError, match=r"\(2, 'b'\)"):
        code_rows(pl.DataFrame({"g2": [2], "k2": ["b"]}), [(table, ["g2", "k2"], "key")],
                  what="rows")


@pytest.mark.parametrize("keys", [["a", "c", "b"], [3, 1, 2]])
def test_hashed_lookup_names_unknown_keys(hashed, keys):
    table = KeyedTable(pl.DataFrame({"k": sorted(keys), "v": [1.0, 2.0, 3.0]}), ("k",), "v")
    bad = pl.DataFrame({"k": [keys[0], "zz" if isinstance(keys[0], str) else 99]})
    with pytest.raises(errors.UnknownKeyError, match="zz|99"):
        code_rows(bad, [(table, ["k"], "key")], what="rows")


def test_a_hash_shared_by_two_keys_is_still_coded_exactly(hashed, monkeypatch):
    # a hash that only sees a string's length: "a" and "b" collide in the table
    monkeypatch.setattr(_tables, "_row_hashes",
                        lambda df, cols: df[cols[0]].str.len_bytes().cast(pl.UInt64))
    table = _table({"k": ["a", "b", "cc"]})
    (codes,) = code_rows(pl.DataFrame({"k": ["b", "cc", "a"]}), [(table, ["k"], "key")],
                         what="rows")
    assert codes.tolist() == [1, 2, 0]


def test_an_unknown_key_sharing_a_known_keys_hash_is_named(hashed, monkeypatch):
    # "z" hashes like "a" (same length): the exact check after the lookup must catch it
    monkeypatch.setattr(_tables, "_row_hashes",
                        lambda df, cols: df[cols[0]].str.len_bytes().cast(pl.UInt64))
    table = _table({"k": ["a", "bb"]})
    with pytest.raises(errors.UnknownKeyError, match="'z'"):
        code_rows(pl.DataFrame({"k": ["bb", "z"]}), [(table, ["k"], "key")], what="rows")


def test_the_exact_check_covers_every_slice_of_rows(hashed, monkeypatch):
    # rows are checked by slices: an unknown key sharing a known key's hash is caught in the
    # trailing part-slice of several as in the first, and every slice lines up with its codes
    monkeypatch.setattr(_tables, "_row_hashes",
                        lambda df, cols: df[cols[0]].str.len_bytes().cast(pl.UInt64))
    monkeypatch.setattr(_tables, "_CHECK_ROWS", 2)
    table = _table({"k": ["a", "bb"]})
    rows = ["bb", "a", "a", "bb", "a", "bb"]
    frame = pl.DataFrame({"k": rows})
    codes = _tables._hashed_codes(frame.slice, frame.height, table, ["k"])
    assert codes.tolist() == [1, 0, 0, 1, 0, 1]
    for bad in (["z", *rows], [*rows, "z"], [*rows[:3], "z", *rows[3:]]):
        frame = pl.DataFrame({"k": bad})
        assert _tables._hashed_codes(frame.slice, frame.height, table, ["k"]) is None
    with pytest.raises(errors.UnknownKeyError, match="'z'"):
        code_rows(pl.DataFrame({"k": [*rows, "z"]}), [(table, ["k"], "key")], what="rows")


def test_an_unknown_key_on_a_known_keys_slot_is_named(hashed, monkeypatch):
    # "z" and "a" differ in their hash but share its top bits (the slot of the direct-mapped
    # lookup), so "z" gets "a"'s code as a candidate: the exact check must refuse it
    monkeypatch.setattr(_tables, "_row_hashes", lambda df, cols: (
        df[cols[0]].str.len_bytes().cast(pl.UInt64) * 2**60
        + df[cols[0]].str.head(1).str.encode("hex").str.to_integer(base=16).cast(pl.UInt64)))
    table = _table({"k": ["a", "bb"]})
    (codes,) = code_rows(pl.DataFrame({"k": ["bb", "a"]}), [(table, ["k"], "key")],
                         what="rows")
    assert codes.tolist() == [1, 0]
    with pytest.raises(errors.UnknownKeyError, match="'z'"):
        code_rows(pl.DataFrame({"k": ["bb", "z"]}), [(table, ["k"], "key")], what="rows")


@pytest.mark.parametrize("keys", [["k"], ["k", "j"]])
def test_rows_hashed_by_slices_meet_the_tables_hashes(monkeypatch, keys):
    # the rows are hashed a slice at a time (the table at once): each slice's hashes must be
    # the whole column's, or every row would fall back to the exact lookup (None here)
    rng = np.random.default_rng(3)
    values = {c: [f"{c}{v}" for v in rng.integers(0, 50, 40)] for c in keys}
    table = KeyedTable(pl.DataFrame(values).unique().sort(keys).with_columns(v=pl.lit(1.0)),
                       tuple(keys), "v")
    picks = rng.integers(0, len(table), 1_000)
    rows = table.frame.select(keys)[picks]
    monkeypatch.setattr(_tables, "_CHECK_ROWS", 7)  # 143 slices, the last a part-slice
    codes = _tables._hashed_codes(rows.slice, rows.height, table, keys)
    assert codes is not None and codes.tolist() == picks.tolist()


def _lookup_hashes(table: np.ndarray, rows: np.ndarray, dtype: type = np.int64
                   ) -> np.ndarray | None:
    """Candidate code per row hash among ``table``'s (``_HashLookup``), in ``dtype``; None
    when undecided."""
    codes = np.empty(len(rows), dtype)
    return codes if _tables._HashLookup(table).codes(rows, codes) else None


@given(st.integers(1, 400), st.integers(0, 60), st.sampled_from([0, 1, 2]), st.data())
def test_hash_lookup_levels_give_every_known_hash_its_code(n, crowd, levels, data):
    """Hashes that share their top bits, and then their next bits, go through every level of
    the direct-mapped look-up (and pandas' table for what is left): each known hash gets its
    own code, whatever the levels."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    table = rng.integers(0, 2**63, n, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    # ``crowd`` of them share the top 24 bits with the first, some also the low 20 bits
    table[:crowd] = (table[0] & ~np.uint64(2**40 - 1)) | (table[:crowd] & np.uint64(2**40 - 1))
    table[: crowd // 2] = (table[: crowd // 2] & ~np.uint64(2**20 - 1)) | (table[0] & np.uint64(
        2**20 - 1))
    table = np.unique(table)
    rng.shuffle(table)
    known = rng.integers(0, len(table), 3 * len(table))
    rows = np.concatenate([table[known], rng.integers(0, 2**63, 50, dtype=np.uint64) * 2])
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_tables, "LOOKUP_LEVELS", levels)
        codes = _lookup_hashes(table, rows, np.int32)
    assert codes.dtype == np.int32
    assert codes[: len(known)].tolist() == known.tolist()
    # an unknown hash gets -1 or a candidate that the caller's exact check refuses
    assert ((codes[len(known):] >= -1) & (codes[len(known):] < len(table))).all()


def test_hash_lookup_refuses_a_table_with_a_repeated_hash():
    table = np.array([5, 7, 5], dtype=np.uint64) << np.uint64(40)
    assert _lookup_hashes(table, table) is None


# --- the cheaper conversions of string keys: the same values and dtypes as the plain ones -----

KEY_TEXT = st.text(max_size=4)  # any unicode, the empty string, NUL


@given(st.lists(st.one_of(KEY_TEXT, st.none()), max_size=12))
def test_arrow_string_columns_reach_polars_as_from_pandas_reads_them(values):
    column = pd.Series(values, dtype="str", name="k")
    assert isinstance(column.array, pd.arrays.ArrowStringArray)  # the path under test
    got = _tables._columns({"k": column}, ["k"], "t")["k"]
    expected = pl.from_pandas(column).alias("k")
    assert got.dtype == expected.dtype == pl.String
    assert got.to_list() == expected.to_list() == [None if v is None else v for v in values]


@given(st.one_of(st.lists(KEY_TEXT, max_size=12), st.lists(st.integers(-2**63, 2**63 - 1),
                                                           max_size=12)))
def test_key_index_equals_the_pandas_conversion(values):
    keys = pl.Series("k", values, dtype=pl.String if values and isinstance(values[0], str)
                     else pl.Int64)
    got = _tables.key_index(keys, "k")
    pd.testing.assert_index_equal(got, pd.Index(keys.to_pandas(), name="k"), exact=True)
    assert got.tolist() == values


@given(st.lists(KEY_TEXT, max_size=8), st.lists(st.integers(-3, 3), max_size=8))
def test_one_key_column_strictly_increasing_as_polars_sorts(strings, ints):
    """In polars' sort order (UTF-8 bytes for strings), every row above the one before."""
    for values, dtype, order in ((strings, pl.String, lambda v: v.encode()),
                                 (ints, pl.Int64, lambda v: v)):
        df = pl.DataFrame({"k": values}, schema={"k": dtype})
        expected = all(order(a) < order(b) for a, b in zip(values, values[1:], strict=False))
        assert _tables._strictly_increasing(df, ["k"]) is expected
        assert _tables._strictly_increasing(df.sort("k").unique("k", maintain_order=True),
                                            ["k"])


@given(st.lists(KEY_TEXT, min_size=1, max_size=8, unique=True), st.data())
def test_string_codes_by_arrow_lookup_equal_positions_and_name_unknown_keys(keys, data):
    table = _table({"k": keys})
    rows = data.draw(st.lists(st.sampled_from(keys), max_size=20))
    (codes,) = code_rows(pl.DataFrame({"r": rows}, schema={"r": pl.String}),
                         [(table, ["r"], "key")], what="rows")
    assert codes.dtype == "int64" and [sorted(keys, key=str.encode)[c] for c in codes] == rows
    unknown = data.draw(KEY_TEXT.filter(lambda v: v not in keys))
    with pytest.raises(errors.UnknownKeyError) as info:
        code_rows(pl.DataFrame({"r": [*rows, unknown]}, schema={"r": pl.String}),
                  [(table, ["r"], "key")], what="rows")
    assert info.value.keys == [unknown]


NUMPY_NUMBERS = ["float64", "float32", "int8", "int16", "int32", "int64", "uint8", "uint16",
                 "uint32", "uint64"]


@given(st.sampled_from(NUMPY_NUMBERS), st.lists(st.sampled_from(
    [0.0, -0.0, 1.0, 2.5, 7.0, 255.0, float("nan"), float("inf"), -3.0, 1e30]), max_size=8))
def test_pandas_number_columns_read_as_polars_tables_read_them(dtype, values):
    # numpy numbers of a pandas table are read straight as float64 (no polars round trip):
    # the same values, NaN for missing and no -0.0, as the same table given in polars
    kind = np.dtype(dtype)
    if kind.kind != "f":
        values = [v for v in values if np.isfinite(v) and v == int(v)
                  and np.iinfo(kind).min <= v <= np.iinfo(kind).max]
    frame = pd.DataFrame({"w": np.array(values, dtype=kind),  # columns in another order
                          "k": pd.Series([f"k{i}" for i in range(len(values))], dtype=object),
                          "v": np.array(values, dtype=kind)})
    got = to_polars(frame, ["k"], "v", what="t", extra=["w"])
    expected = to_polars(pl.from_pandas(frame), ["k"], "v", what="t", extra=["w"])
    assert got.columns == expected.columns == ["k", "v", "w"]
    assert got.schema == expected.schema == {"k": pl.String, "v": pl.Float64, "w": pl.Float64}
    for column in ("v", "w"):
        a, b = got[column].to_numpy(), expected[column].to_numpy()
        assert np.array_equal(a, b, equal_nan=True)
        assert got[column].null_count() == 0 and not np.signbit(a[a == 0]).any()


@given(st.sampled_from(["AMOUNT", "POSITIVE", "FRACTION", "SHARE", "COUNT", "RANK"]),
       st.lists(st.sampled_from([*RULE_EDGES, 3.0, 0.99, -2.0, float("-inf")]), max_size=6))
def test_the_quick_rule_check_agrees_with_every_way_of_breaking_the_rule(name, values):
    # the two-reduction check passes a column exactly when no mask of Rule.broken is set
    rule = getattr(tables, name)
    v = np.array(values, dtype=np.float64)
    broken = any(mask.any() for _, mask in rule.broken(v, "x"))
    assert _tables._within(rule, v) == (not broken and len(v) > 0)


@given(st.lists(st.one_of(st.sampled_from(["a", "b", "c", "é", ""]), st.sampled_from(
    ["zz", None, True, 3, 2**70, float("nan")])), max_size=8), st.sampled_from([object, "str"]),
       st.booleans())
def test_string_codes_are_the_codes_of_the_general_reading(values, dtype, clean):
    # straight from arrow, or None: then the general reading decides (and may refuse)
    if clean:
        values = [v for v in values if v in ("a", "b", "c", "é", "")]
    table = KeyedTable(pl.DataFrame({"k": ["", "a", "b", "c", "é"], "v": [1.0] * 5}), ("k",),
                       "v")
    try:
        frame = pd.DataFrame({"k": pd.Series(values, dtype=dtype)})
    except (TypeError, ValueError):  # "str" holds only strings and missing values
        return
    got = _tables.string_codes(frame, [(table, "k")])
    try:
        expected = code_rows(to_polars(frame, ["k"], what="t"), [(table, ["k"], "k")], what="t")
    except errors.FairallocError:
        assert got is None
        return
    if clean and values:
        assert got is not None  # the path under test is taken for clean string tables
    if got is not None:
        assert got[0].dtype == np.int64 and got[0].tolist() == expected[0].tolist()


@given(st.lists(st.one_of(st.sampled_from(["a", "b", "c", "é", ""]), st.sampled_from(
    ["zz", None, True, 3, float("nan")])), max_size=40), st.sampled_from([object, "str"]),
       st.booleans(), st.booleans(), st.sampled_from([1, 3, 2**18]))
def test_hashed_string_codes_are_the_codes_of_the_general_reading(values, dtype, clean, narrow,
                                                                  rows_per_slice):
    # large arrow string columns coded straight from arrow by slices, or None: then the
    # general reading decides (and may refuse); here every table counts as large
    if clean:
        values = [v for v in values if v in ("a", "b", "c", "é", "")]
    one = KeyedTable(pl.DataFrame({"k": ["", "a", "b", "c", "é"], "v": [1.0] * 5}), ("k",), "v")
    two = KeyedTable(pl.DataFrame({"k": ["a", "c", "é"], "v": [1.0] * 3}), ("k",), "v")
    try:
        frame = pd.DataFrame({"k": pd.Series(values, dtype=dtype),
                              "j": pd.Series(values[::-1], dtype=dtype)})
    except (TypeError, ValueError):  # "str" holds only strings and missing values
        return
    tables = [(one, "k"), (two, "j")]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_tables, "HASHED_LOOKUP_ROWS", 0)
        mp.setattr(_tables, "_CHECK_ROWS", rows_per_slice)
        got = _tables.hashed_string_codes(frame, tables, narrow=narrow)
        try:
            expected = code_rows(to_polars(frame, ["k", "j"], what="t"),
                                 [(one, ["k"], "k"), (two, ["j"], "j")], what="t", narrow=narrow)
        except errors.FairallocError:
            assert got is None
            return
    if dtype == "str" and values and all(v in ("a", "c", "é") for v in values):
        assert got is not None  # the path under test is taken for clean arrow string tables
    if got is not None:
        assert [c.dtype for c in got] == [c.dtype for c in expected]
        assert [c.tolist() for c in got] == [c.tolist() for c in expected]


@pytest.mark.parametrize("n", [1, 126, 127, 128, 32766, 32767, 32768])
def test_product_index_equals_from_product_with_the_codes_pandas_keeps(n):
    outer = pd.Index([f"a{i}" for i in range(n)], name="account")
    inner = pd.Index([3, 1, 2], name="period")
    got = _tables.product_index(outer, inner)
    want = pd.MultiIndex.from_product([outer, inner])
    assert got.equals(want) and list(got.names) == ["account", "period"]
    # codes made in the dtype pandas keeps are taken as they are (no int64 copies)
    assert [c.dtype for c in got.codes] == [c.dtype for c in want.codes]
    assert [c.dtype for c in got.codes] == [_tables.code_dtype(outer), np.dtype(np.int8)]


@given(st.lists(st.one_of(KEY_TEXT, st.integers(-5, 5)), max_size=8),
       st.lists(st.sampled_from([0.0, -0.0, 0.5, 0.99, 1.0, 3.0, float("nan"), -1.0, 1e300]),
                min_size=8, max_size=8),
       st.sampled_from(["str", "int64", object]), st.sampled_from(["float64", "int64",
                                                                     "float32"]),
       st.sampled_from(["frame", "series", "index"]))
def test_a_clean_pandas_table_is_read_as_the_general_reading_reads_it(
        keys, values, key_dtype, value_dtype, form):
    # straight from numpy and arrow, or None: then the general reading decides (and may refuse)
    from fairalloc.schemas.coverage import GROUPS, SUPPLIES
    keys = [k for k in keys if isinstance(k, int)] if key_dtype == "int64" else [
        str(k) for k in keys]
    n = len(keys)
    population = np.array(values[:n], dtype=np.float64)
    if value_dtype == "int64":
        population = np.clip(np.nan_to_num(np.trunc(population)), -7.0, 7.0)
    with np.errstate(over="ignore"):  # 1e300 as float32: inf, refused as the general reading
        population = population.astype(value_dtype)
    prior = np.resize([0.0, 0.5, 0.25], n)
    table, value = GROUPS, "population"
    if form == "frame":
        obj = pd.DataFrame({"weight": np.ones(n), "group": pd.Series(keys, dtype=key_dtype),
                            "prior": prior, "population": population})
    else:
        table, value = SUPPLIES, "supply"
        index = pd.Index(keys, dtype=key_dtype, name="resource" if form == "index" else None)
        obj = pd.Series(population, index=index)
    got = _tables._clean_pandas_table(obj, table, value)
    try:
        expected = _tables.keyed_table(
            obj, [table.keys[0].name], value, what="t", amounts=False,
            extra=[c.name for c in table.values if c.name != value],
            rules=[(c.name, c.rule, c.nullable) for c in table.values if c.rule])
    except errors.FairallocError:
        assert got is None
        return
    clean = (key_dtype is not object and n and len(set(keys)) == n
             and np.isfinite(population).all() and (population > 0).all())
    if clean:
        assert got is not None  # the path under test is taken for clean tables
    if got is not None:  # served from its arrays first, then as the polars frame
        assert len(got) == len(expected) and got.key_dtype == expected.key_dtype
        assert np.array_equal(got.values, expected.values) and not got.values.flags.writeable
        for c in got.frame.columns[1:]:
            assert np.array_equal(got.column(c), expected.column(c))
            assert not np.signbit(got.column(c)).any()
        pd.testing.assert_index_equal(got.key_index(), expected.key_index(), exact=True)
        assert got.arrow_key.equals(expected.arrow_key)
        assert got.keys == expected.keys and got.value == expected.value
        assert got.frame.schema == expected.frame.schema
        assert got.frame.equals(expected.frame)


@given(st.lists(st.text(max_size=3), min_size=1, max_size=6, unique=True),
       st.lists(st.text(max_size=3), min_size=1, max_size=6, unique=True), st.data())
def test_two_hashed_tables_coded_at_once_give_each_tables_codes(left, right, data):
    # two hashed tables are coded in two threads: each gets its own codes, in order, and an
    # unknown key is named by the table that misses it, the first one first
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_tables, "HASHED_LOOKUP_ROWS", 0)
        n = data.draw(st.integers(1, 20))
        a = data.draw(st.lists(st.sampled_from(left), min_size=n, max_size=n))
        b = data.draw(st.lists(st.sampled_from(right), min_size=n, max_size=n))
        rows = pl.DataFrame({"a": a, "b": b}, schema={"a": pl.String, "b": pl.String})
        tables = [(_table({"k": left}), ["a"], "left"), (_table({"k": right}), ["b"], "right")]
        got = code_rows(rows, tables, what="rows")
        assert [sorted(left)[c] for c in got[0]] == a and [sorted(right)[c] for c in got[1]] == b
        bad = rows.with_columns(pl.lit("zzzz").alias("a"), pl.lit("yyyy").alias("b"))
        with pytest.raises(errors.UnknownKeyError, match="left") as info:
            code_rows(bad, tables, what="rows")
        assert "zzzz" in str(info.value)


# --- string keys coded on arrow's string views (_view_codes) ----------------------------------

#: Keys of 0 to 24 bytes in UTF-8 (NUL, 2-, 3- and 4-byte characters): arrow keeps those of up
#: to 12 bytes inside their views, the rest point into a data buffer.
VIEW_KEYS = st.text(st.sampled_from(["a", "b", "\x00", "é", "€", "𝄞"]), max_size=6)


def _str_frame(rows: list[str], chunks: int = 1) -> pd.DataFrame:
    """One arrow string column ``k``, held by pandas in ``chunks`` arrow chunks."""
    parts = [pd.Series(part, dtype="str") for part in np.array_split(np.array(rows, object),
                                                                     chunks)]
    return pd.DataFrame({"k": pd.concat(parts, ignore_index=True)})


@given(st.lists(VIEW_KEYS, min_size=1, max_size=10, unique=True), st.data(),
       st.sampled_from([1, 3, 2**18]), st.sampled_from([1, 3]), st.booleans())
def test_string_view_codes_are_the_keys_positions(keys, data, rows_per_slice, chunks, narrow):
    # rows coded on their views, by slices across arrow chunks, are the keys' positions; an
    # unknown key gives None (the general reading then names it); a row longer than 12 bytes
    # sends its column to polars' hashes, which give the same codes
    rows = data.draw(st.lists(st.sampled_from(keys) | VIEW_KEYS, min_size=1, max_size=30))
    table = _table({"k": keys})
    calls = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_tables, "HASHED_LOOKUP_ROWS", 0)
        mp.setattr(_tables, "_CHECK_ROWS", rows_per_slice)
        real = _tables._hashed_codes
        mp.setattr(_tables, "_hashed_codes", lambda *a: calls.append(a) or real(*a))
        got = _tables.hashed_string_codes(_str_frame(rows, min(chunks, len(rows))),
                                          [(table, "k")], narrow=narrow)
    if set(rows) <= set(keys):
        assert got is not None and got[0].dtype == (np.int32 if narrow else np.int64)
        assert got[0].tolist() == [sorted(keys).index(r) for r in rows]
    else:
        assert got is None
    if all(len(r.encode()) <= _tables.INLINE_BYTES for r in rows):
        assert not calls  # the views decided
    elif set(rows) <= set(keys):
        assert len(calls) == 1  # polars' hashes decided


@pytest.mark.parametrize("word", [0, 1])
def test_a_view_hash_shared_with_an_unknown_key_is_caught_by_the_words(monkeypatch, word):
    # a hash of one word of the view alone: the row "abcdEFGH9" shares "abcdEFGH1"'s first
    # word (length and first 4 bytes), "zzzzEFGH1" its second (bytes 4 to 11); the words
    # compared after the lookup must refuse both
    monkeypatch.setattr(_tables, "HASHED_LOOKUP_ROWS", 0)
    monkeypatch.setattr(_tables, "_view_hashes",
                        lambda words, out, tmp: np.copyto(out, words[:, word]) or out)
    table = _table({"k": ["abcdEFGH1", "x"]})
    assert _tables.hashed_string_codes(_str_frame(["x", "abcdEFGH1"]), [(table, "k")]
                                       )[0].tolist() == [1, 0]
    unknown = "abcdEFGH9" if word == 0 else "zzzzEFGH1"
    assert _tables.hashed_string_codes(_str_frame(["x", unknown]), [(table, "k")]) is None


def test_table_keys_sharing_a_view_hash_leave_their_rows_to_the_exact_lookup(monkeypatch):
    # "abcd1" and "abcd2" share a hash of the first word: rows landing on it are undecided
    # (None: the general reading codes them); rows elsewhere are coded
    monkeypatch.setattr(_tables, "HASHED_LOOKUP_ROWS", 0)
    monkeypatch.setattr(_tables, "_view_hashes",
                        lambda words, out, tmp: np.copyto(out, words[:, 0]) or out)
    table = _table({"k": ["abcd1", "abcd2", "x"]})
    assert _tables.hashed_string_codes(_str_frame(["x", "x"]), [(table, "k")]
                                       )[0].tolist() == [2, 2]
    assert _tables.hashed_string_codes(_str_frame(["x", "abcd2"]), [(table, "k")]) is None


def test_a_long_key_in_a_later_slice_hands_the_column_to_polars(monkeypatch):
    long = "a" * (_tables.INLINE_BYTES + 1)
    monkeypatch.setattr(_tables, "HASHED_LOOKUP_ROWS", 0)
    monkeypatch.setattr(_tables, "_CHECK_ROWS", 2)
    calls = []
    real = _tables._hashed_codes
    monkeypatch.setattr(_tables, "_hashed_codes", lambda *a: calls.append(a) or real(*a))
    table = _table({"k": ["a", long]})
    rows = ["a"] * 5 + [long, "a"]
    (codes,) = _tables.hashed_string_codes(_str_frame(rows), [(table, "k")])
    assert codes.tolist() == [0] * 5 + [1, 0] and len(calls) == 1
    calls.clear()
    (codes,) = _tables.hashed_string_codes(_str_frame(["a"] * 7), [(table, "k")])
    assert codes.tolist() == [0] * 7 and not calls  # a long table key alone changes nothing


def test_the_worker_pool_is_kept_and_a_forked_process_gets_its_own():
    pool = _tables.workers()
    assert pool.submit(int, 7).result() == 7 and _tables.workers() is pool
    child = os.fork()
    if child == 0:  # the parent's threads do not exist here: a pool of its own must answer
        ok = False
        try:
            ok = _tables.workers() is not pool and \
                _tables.workers().submit(int, 8).result(timeout=20) == 8
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0


@pytest.mark.parametrize("kind", [pa.string(), pa.large_string()])
@pytest.mark.parametrize("chunked", [False, True])
def test_views_of_a_slice_hold_the_slice_alone(kind, chunked):
    # arrow's cast writes a view for every row before a slice's start too: the views of a
    # slice must be its rows only (at 10^7 rows a slice near the end cost 84 MB otherwise)
    values = [f"k{i}" * (1 + i % 5) for i in range(1_000)]
    strings = pa.chunked_array([values[:400], values[400:]], kind) if chunked else \
        pa.array(values, kind)
    part = strings.slice(350, 300)
    views = _tables._views(part)
    assert views.to_pylist() == values[350:650]
    assert views.buffers()[1].size == 16 * 300 and len(_tables._view_words(views)) == 300


def test_a_column_read_from_a_row_offset_is_coded_on_its_views(monkeypatch):
    # a pandas frame cut from a larger one holds arrow chunks that start at a row offset
    monkeypatch.setattr(_tables, "HASHED_LOOKUP_ROWS", 0)
    monkeypatch.setattr(_tables, "_CHECK_ROWS", 3)
    calls = []
    real = _tables._hashed_codes
    monkeypatch.setattr(_tables, "_hashed_codes", lambda *a: calls.append(a) or real(*a))
    keys = ["a", "bb", "ccc", "dddd"]
    rows = [keys[i % 4] for i in range(23)]
    frame = pd.concat([_str_frame(rows[:11]), _str_frame(rows[11:])], ignore_index=True).iloc[5:]
    (codes,) = _tables.hashed_string_codes(frame, [(_table({"k": keys}), "k")])
    assert codes.tolist() == [i % 4 for i in range(5, 23)] and not calls
