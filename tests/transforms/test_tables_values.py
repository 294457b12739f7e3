"""Value and key coercion (transforms/_tables.py): booleans are neither numbers nor keys,
numpy scalars are numbers, tuple keys are keys — in every input form, naming the keys."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest

from fairalloc.transforms import errors
from fairalloc.transforms._tables import KeyLabels, keyed_table, to_polars


@pytest.mark.parametrize(
    ("obj", "named"),
    [
        ({"a": True, "b": 1}, ["a"]),
        ({"a": 2.5, "b": np.True_}, ["b"]),
        ({"a": False, "b": True}, ["a", "b"]),
        (pd.Series({"a": 1.5, "b": True}, dtype=object), ["b"]),
        (pd.Series({"a": 2, "b": np.False_}, dtype=object), ["b"]),
        (pd.Series({"a": True, "b": False}), ["a", "b"]),
        (pd.DataFrame({"key": ["a", "b"], "v": pd.Series([2.0, True], dtype=object)}), ["b"]),
        (pl.DataFrame({"key": ["a", "b"], "v": [True, False]}), ["a", "b"]),
    ],
    ids=["dict", "dict-numpy-bool", "dict-all-bool", "series-object", "series-numpy-bool",
         "series-bool", "pandas-frame", "polars-frame"],
)
def test_a_bool_value_is_an_input_type_error_naming_its_key(obj, named):
    with pytest.raises(errors.InputTypeError) as info:
        to_polars(obj, ["key"], "v", what="ratios")
    assert info.value.keys == named
    assert "bool" in str(info.value)


@pytest.mark.parametrize(
    ("obj", "named"),
    [
        ([(1, "x"), (True, "y")], [(True, "y")]),
        ([("a", "x"), ("b", np.True_)], [("b", True)]),
        (pd.MultiIndex.from_tuples([(2, "x"), (np.True_, "y")]), [(True, "y")]),
    ],
)
def test_a_bool_key_part_is_an_input_type_error_naming_the_key(obj, named):
    with pytest.raises(errors.InputTypeError) as info:
        to_polars(obj, ["source", "sink"], what="matches")
    assert info.value.keys == named


def test_a_bool_in_a_tuple_key_is_named_with_the_whole_key():
    with pytest.raises(errors.InputTypeError) as info:
        keyed_table({("g", True): 1.0, ("g", 2): 3.0}, ["grp", "key"], "v", what="t")
    assert info.value.keys == [("g", True)]


def test_numpy_scalars_are_numbers_and_tuple_keys_are_keys():
    t = keyed_table({("g", 2): np.float32(1.5), ("g", 1): np.int64(3)}, ["grp", "key"], "v",
                    what="t")
    assert t.frame.rows() == [("g", 1, 3.0), ("g", 2, 1.5)]


def test_key_labels_are_read_lazily_by_code():
    t = keyed_table({("g", 2): 1.0, ("h", 1): 3.0}, ["grp", "key"], "v", what="t")
    labels = t.labels()
    assert isinstance(labels, KeyLabels) and len(labels) == 2
    assert labels[1] == ("h", 1) and labels[np.int64(0)] == ("g", 2)
