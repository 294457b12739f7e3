"""The list interface (``allocate_resource``): every field against the tables interface on the
same data, every input form against every other, the detailed rows against their definition,
and the errors of bad lists."""

from __future__ import annotations

import contextlib
from decimal import Decimal
from unittest import mock

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fairalloc.transforms import errors
from fairalloc.transforms import periods as periods_module
from fairalloc.transforms.periods import allocate_periods, allocate_resource
from tests.strategies import amount_lists, periods_list_instances

WEIGHTED = ["weighted_request", "weighted_allocated"]


def expected_detailed(summary: pd.DataFrame, t: int) -> pd.DataFrame:
    """The SPEC's rows, one by one: each (account, period) once for step 1, then once more for
    step 2 where that gave > 1e-6, in the summary's (the caller's) account order."""
    rows = []
    for rec in summary.to_dict("records"):
        for k in range(1, t + 1):
            rows.append((rec["account_id"], k, 1, rec[f"step1_alloc_period_{k}"],
                         rec[f"req_period_{k}"]))
            if rec[f"step2_alloc_period_{k}"] > 1e-6:
                rows.append((rec["account_id"], k, 2, rec[f"step2_alloc_period_{k}"],
                             rec[f"req_period_{k}"]))
    frame = pd.DataFrame(rows, columns=["account_id", "period", "step", "allocation", "request"])
    return frame.astype({"account_id": summary["account_id"].dtype, "period": "int64",
                         "step": "int64"})


@settings(max_examples=40, deadline=None)
@given(periods_list_instances(), st.booleans())
def test_lists_give_the_tables_result_field_by_field(inst, two_step):
    ids, currency, requests, capacity = inst
    n, t = requests.shape
    got = allocate_resource(ids, currency.tolist(), requests.tolist(), capacity.tolist(),
                            two_step=two_step, auto_weights=False)
    tidy = pd.DataFrame({"account": np.repeat(np.array(ids, dtype=object), t),
                         "period": np.tile(np.arange(1, t + 1), n),
                         "request": requests.ravel()})
    res = allocate_periods(tidy, dict(zip(ids, currency.tolist(), strict=True)),
                           dict(zip(range(1, t + 1), capacity.tolist(), strict=True)),
                           two_step=two_step, auto_weights=False)
    acc = res.accounts.loc[ids]  # the caller's order
    wide = {col: res.allocation[col].unstack("period").loc[ids].to_numpy()
            for col in ("allocation", "step1", "step2")}
    text = isinstance(ids[0], str)  # string ids as pandas strings, others as they are
    columns = {"account_id": pd.array(ids, dtype="str") if text else pd.array(ids, dtype=object),
               "cur": currency}
    for col in ["entitlement_share", "lambda", "u_cap", *WEIGHTED]:
        columns[col] = acc[col].to_numpy()
    for k in range(t):
        columns |= {f"req_period_{k + 1}": requests[:, k],
                    f"alloc_period_{k + 1}": wide["allocation"][:, k],
                    f"step1_alloc_period_{k + 1}": wide["step1"][:, k],
                    f"step2_alloc_period_{k + 1}": wide["step2"][:, k]}
    want = pd.DataFrame(columns)
    summary = got.allocations_summary
    # both interfaces hand the solver the same problem (accounts in key order): the same bits
    pd.testing.assert_frame_equal(summary.drop(columns=WEIGHTED), want.drop(columns=WEIGHTED),
                                  check_exact=True)
    pd.testing.assert_frame_equal(summary[WEIGHTED], want[WEIGHTED], rtol=1e-12)
    pd.testing.assert_frame_equal(got.allocations_detailed, expected_detailed(summary, t),
                                  check_exact=True)
    periods = res.periods
    assert got.capacities == capacity.tolist()
    assert got.weights == periods["weight"].tolist()
    assert got.capacity_used == pytest.approx(periods["used"].tolist(), rel=1e-12, abs=1e-12)
    assert got.utilization == pytest.approx(periods["utilization"].tolist(), rel=1e-12,
                                            abs=1e-12)
    assert got.step1_allocated == res.step1_allocated
    assert got.step2_allocated == res.step2_allocated
    assert got.total_weighted_allocated == pytest.approx(acc["weighted_allocated"].sum(),
                                                         rel=1e-12, abs=1e-9)


def _forms(ids, currency, requests):
    """The same input held the ways a caller may hold it: (ids, cur, requests) per form."""
    rows = requests.tolist()
    forms = {
        "tuples": (tuple(ids), tuple(currency.tolist()), tuple(map(tuple, rows))),
        "numpy arrays": (np.array(ids, dtype=object), currency, requests),
        "numpy rows": (ids, list(currency), list(requests)),
        "id generator": ((k for k in ids), currency.tolist(), rows),
        "object ids": (pd.Series(ids, dtype=object), currency.tolist(), rows),
        "pandas tables": (ids, pd.Series(currency), pd.DataFrame(requests)),
        "polars tables": (ids, pl.Series(currency), pl.DataFrame(requests)),
        "numpy scalars": (ids, [np.float64(v) for v in currency], [list(r) for r in requests]),
    }
    if not isinstance(ids[0], str):
        forms["numpy int ids"] = (np.array(ids), currency.tolist(), rows)
        forms["int subclass ids"] = ([np.int32(k) if abs(k) < 2**31 else k for k in ids],
                                     currency.tolist(), rows)
    elif not any(k.endswith("\x00") for k in ids):  # NumPy strings drop trailing NULs
        forms["numpy str ids"] = (np.array(ids), currency.tolist(), rows)
        forms["str subclass ids"] = ([np.str_(k) for k in ids], currency.tolist(), rows)
    if np.array_equal(requests, requests.round()):  # whole amounts: as Python ints too
        forms["ints"] = (ids, currency.astype(int).tolist(), requests.astype(int).tolist())
        forms["ints and floats"] = (ids, currency.tolist(),
                                    [[int(v) if j % 2 else v for j, v in enumerate(r)]
                                     for r in rows])
    return forms


@settings(max_examples=25, deadline=None)
@given(periods_list_instances(max_accounts=25))
def test_every_input_form_gives_the_same_result(inst):
    ids, currency, requests, capacity = inst
    base = allocate_resource(ids, currency.tolist(), requests.tolist(), capacity.tolist())
    for form, (i, c, r) in _forms(ids, currency, requests).items():
        res = allocate_resource(i, c, r, tuple(capacity.tolist()))
        for field in ("allocations_summary", "allocations_detailed"):
            pd.testing.assert_frame_equal(getattr(res, field), getattr(base, field),
                                          check_exact=True, obj=f"{form}: {field}")
        assert (res.weights, res.capacity_used, res.step1_allocated, res.step2_allocated) == (
            base.weights, base.capacity_used, base.step1_allocated, base.step2_allocated), form
    # the lists read item by item (Arrow: as when marshal's layout is not the one read, or
    # the items are mixed) and by NumPy (as when Arrow refuses them too): the same result
    readings = {"Arrow": [("_marshal_layout", False)],
                "NumPy": [("_marshal_layout", False), ("_numbers", None)]}
    for reading, patches in readings.items():
        with contextlib.ExitStack() as stack:
            for name, value in patches:
                stack.enter_context(mock.patch.object(periods_module, name, return_value=value))
            res = allocate_resource(ids, currency.tolist(), requests.tolist(),
                                    capacity.tolist())
        for field in ("allocations_summary", "allocations_detailed"):
            pd.testing.assert_frame_equal(getattr(res, field), getattr(base, field),
                                          check_exact=True, obj=f"{reading} reading: {field}")
        assert (res.weights, res.capacity_used, res.step1_allocated, res.step2_allocated) == (
            base.weights, base.capacity_used, base.step1_allocated, base.step2_allocated)


def test_lists_of_floats_or_small_ints_are_read_in_one_pass():
    # all floats, or all ints within 32 bits (rows lists or tuples): read from their marshal
    # encoding, never item by item
    rows = [[5.0, 1.5, 0.0], (3.0, -0.0, 3.0), [0.0, 0.0, 7.25]]
    ints = [[5, 1, 0], (3, 0, 2**31 - 1), [0, 0, 7]]
    with mock.patch.object(periods_module, "_numbers", side_effect=AssertionError), \
            mock.patch.object(periods_module, "_flat_rows", side_effect=AssertionError):
        for_floats = allocate_resource(["a", "b", "c"], [1.0, 2.0, 0.5], rows, [4, 4, 4])
        for_ints = allocate_resource(["a", "b", "c"], (1, 2, 3), ints, [4, 4, 4])
    summary = for_floats.allocations_summary
    assert summary["req_period_2"].tolist() == [1.5, 0.0, 0.0]
    assert np.signbit(summary["req_period_2"]).sum() == 0  # -0.0 read as 0.0
    assert summary["req_period_3"].tolist() == [0.0, 3.0, 7.25]
    assert summary["cur"].tolist() == [1.0, 2.0, 0.5]
    assert for_ints.allocations_summary["req_period_3"].tolist() == [0.0, 2.0**31 - 1, 7.0]
    assert for_ints.allocations_summary["cur"].tolist() == [1.0, 2.0, 3.0]


class _Float(float):
    def __float__(self):  # NumPy reads a float subclass by its __float__
        return 99.0


@pytest.mark.parametrize(
    ("values", "shape"),
    [
        ([[5.0, True], [1.0, 2.0]], (2, 2)),  # a flag among floats
        ([1, False], (2,)),
        ([[5.0, 1], [1.0, 2.0]], (2, 2)),  # ints and floats mixed
        ([2**31, 1], (2,)),  # an int beyond 32 bits
        ([[1.0], [2.0, 3.0, 4.0]], (2, 2)),  # ragged rows, as many items in all
        ([[1.0, 2.0], [3.0, 4.0]], (2, 3)),
        ([[1.0, 2.0], [3.0, 4.0]], (1, 2)),
        ([[1.0, 2.0], [3.0, 4.0]], (2,)),
        ([1.0, 2.0], (2, 1)),
        ([_Float(1.5), 2.0], (2,)),  # a float subclass
        ([np.float64(1.5), 2.0], (2,)),
        ([[1.0, 2.0], np.array([3.0, 4.0])], (2, 2)),
        ([type("Row", (list,), {})([1.0, 2.0]), [3.0, 4.0]], (2, 2)),
        ([{0: 1.0, 1: 2.0}, [3.0, 4.0]], (2, 2)),
        ([{1.0, 2.0}, [3.0, 4.0]], (2, 2)),  # sets are written as lists are, code aside
        ([[3.0, 4.0], frozenset((1.0, 2.0))], (2, 2)),
        ({1.0, 2.0}, (2,)),
        ([[1.0, 2.0], "ab"], (2, 2)),
        ([[], []], (2, 0)),
    ],
)
def test_only_plain_lists_are_read_from_their_marshal_encoding(values, shape):
    assert periods_module._marshalled(values, shape) is None


@pytest.mark.parametrize(
    ("values", "shape"),
    [
        ([[1.0, 2.5], (3.0, 4.0), [-0.0, np.inf]], (3, 2)),
        ((7, -3, 2**31 - 1, -(2**31)), (4,)),
        ([[0]], (1, 1)),
        ([float("nan"), 1e300, 5e-324], (3,)),
    ],
)
def test_the_marshal_reading_gives_numpys_values(values, shape):
    got = periods_module._marshalled(values, shape)
    want = np.asarray(values, dtype=np.float64)
    assert got.dtype == np.float64 and got.flags.c_contiguous and got.flags.writeable
    np.testing.assert_array_equal(got, want)
    assert (np.signbit(got) == np.signbit(want)).all()


def _plain(values, shape) -> bool:
    """Whether ``values`` are what the one-pass reading takes (its definition): n exact floats,
    or n exact ints within 32 bits, or n list or tuple rows of t ≥ 1 of them, of one kind."""
    if len(values) != shape[0]:
        return False
    if len(shape) == 2:
        if not shape[1] or any(type(r) not in (list, tuple) or len(r) != shape[1]
                               for r in values):
            return False
        values = [v for r in values for v in r]
    kinds = {type(v) for v in values}
    return kinds == {float} or (kinds == {int} and all(-(2**31) <= v < 2**31 for v in values))


@settings(max_examples=300, deadline=None)
@given(amount_lists())
def test_the_marshal_reading_takes_exactly_the_plain_lists(case):
    values, shape = case
    got = periods_module._marshalled(values, shape)
    if not _plain(values, shape):
        assert got is None
        return
    want = np.asarray(values, dtype=np.float64)
    assert got is not None and got.shape == shape and got.dtype == np.float64
    np.testing.assert_array_equal(got, want)  # NaN where NaN
    assert (np.signbit(got) == np.signbit(want)).all()


def test_marshals_layout_is_the_one_read():
    # this Python writes the layout the one-pass reading expects (else it is never taken)
    assert periods_module._marshal_layout()


def test_amounts_arrow_refuses_are_read_by_numpy():
    # an int beyond what a double holds exactly, beside floats: NumPy's float64, as before
    big = 2**53 + 1
    res = allocate_resource(["a", "b"], [1, big], [[1.0, float(big)], [big, 2.0]], [4, 4],
                            auto_weights=False)
    summary = res.allocations_summary
    assert summary["cur"].tolist() == [1.0, float(big)]
    assert summary["req_period_1"].tolist() == [1.0, float(big)]


def test_ids_in_any_order_and_of_any_kind_follow_the_caller():
    rows = [[5.0, 1.0], [3.0, 3.0], [0.0, 7.0], [2.0, 2.0]]
    by_str = allocate_resource(["d", "b", "a", "c"], [1, 2, 3, 1], rows, [4, 4])
    by_int = allocate_resource([4, 2, 1, 3], [1, 2, 3, 1], rows, [4, 4])
    by_tuple = allocate_resource([(4,), (2,), (1,), (3,)], [1, 2, 3, 1], rows, [4, 4])
    assert by_str.allocations_summary["account_id"].tolist() == ["d", "b", "a", "c"]
    assert by_int.allocations_summary["account_id"].tolist() == [4, 2, 1, 3]
    assert by_int.allocations_summary["account_id"].dtype == object
    for other in (by_int, by_tuple):
        pd.testing.assert_frame_equal(other.allocations_summary.drop(columns="account_id"),
                                      by_str.allocations_summary.drop(columns="account_id"),
                                      check_exact=True)
    assert by_str.allocations_detailed["account_id"].tolist()[:2] == ["d", "d"]


B = [[5, 1, 0], [3, 3, 3], [0, 0, 7]]


@pytest.mark.parametrize(
    ("ids", "cur", "requests", "error", "needle"),
    [
        (["a", "b", "c"], [1, 2, 3], [[5, 1, 0], [3, 3], [0, 0, 7]], errors.InputTypeError,
         "rows must each hold 3 amounts.*: 'b' \\(1 in all\\)"),
        (["c", "b", "a"], [1, 2, 3], [[5, 1], [3, 3, 3, 3], [0, 0, 7]], errors.InputTypeError,
         "'c', 'b' \\(2 in all\\)"),
        (["a", "b", "a"], [1, 2, 3], B, errors.ParameterError, "unique: 'a'"),
        (["b", "a", "b"], [1, 2, 3], B, errors.ParameterError, "unique: 'b'"),
        ([3, 1, 3], [1, 2, 3], B, errors.ParameterError, "unique: 3 "),
        ([1, 2, np.int64(1)], [1, 2, 3], B, errors.ParameterError, "unique: 1 "),
        ([[1], 2, 3], [1, 2, 3], B, errors.InputTypeError, "hashable"),
        (["a", "b", "c"], [1, 2, 3], [[True, False, True]] * 3, errors.ParameterError, "'bool'"),
        # a flag among numbers is not an amount (NumPy and Arrow would read it as 1 or 0)
        (["a", "b", "c"], [1, 2, 3], [[5, True, 0], [3, 3, 3], [0, 0, 7]],
         errors.ParameterError, "not booleans: \\('a', 2\\) \\(1 in all\\)"),
        (["a", "b", "c"], [1, 2, 3], [[5.5, 1, 0], [3, 3, False], [0, np.True_, 7]],
         errors.ParameterError, "not booleans: \\('b', 3\\), \\('c', 2\\) \\(2 in all\\)"),
        (["a", "b", "c"], [1, 2, 3], [np.array([5.0, 1, 0]), np.array([True, False, True]),
                                      np.array([0.0, 0, 7])],
         errors.ParameterError, "not booleans: \\('b', 1\\), \\('b', 2\\), \\('b', 3\\)"),
        (["a", "b", "c"], [1, 2, 3], pl.DataFrame({"p1": [5, 2, 4], "p2": [True, False, True],
                                                   "p3": [1, 1, 1]}),
         errors.ParameterError,
         "not booleans: \\('a', 2\\), \\('b', 2\\), \\('c', 2\\) \\(3 in all"),
        (["a", "b", "c"], [1.5, True, 3], B, errors.ParameterError, "cur must be numbers, not "
         "booleans: 'b' \\(1 in all\\)"),
        (["a", "b", "c"], [1, 2, 3], [[5, "1", 0], [3, 3, 3], [0, 0, 7]],
         errors.ParameterError, "'<U21'"),
        (["a", "b", "c"], [1, 2, 3], [[5, None, 0], [3, 3, 3], [0, 0, 7]],
         errors.ParameterError, "'object'"),
        (["a", "b", "c"], [1, 2, 3], [[5, Decimal(1), 0], [3, 3, 3], [0, 0, 7]],
         errors.ParameterError, "'object'"),
        (["a", "b", "c"], [1, 2, 3], [[5, 2**64, 0], [3, 3, 3], [0, 0, 7]],
         errors.ParameterError, "'object'"),
        (["a", "b", "c"], [1, 2, 3], [{0: 1, 1: 1, 2: 1}] * 3, errors.ParameterError,
         "'object'"),  # rows that are not sequences are not read by their keys
        (["a", "b", "c"], [1, 2, 3], [[5, 1, 0], [3, float("nan"), 3], [0, 0, 7]],
         errors.InvalidAmountError, "\\('b', 2\\)"),
        (["a", "b", "c"], [1, 2, 3], [[5, 1, 0], [3, 3, 3], [0, -1, float("inf")]],
         errors.InvalidAmountError, "\\('c', 2\\), \\('c', 3\\) \\(2 in all\\)"),
        (["c", "a", "b"], [1, -2, float("nan")], B, errors.InvalidAmountError, "'a', 'b'"),
        (["a", "b", "c"], [True, False, True], B, errors.ParameterError, "'bool'"),
        (["a\ud800", "b", "c"], [1, 2, 3], B, errors.InputTypeError, "surrogates"),
        (["a", "b", "c"], [1, 2, 3], [[5, 1, 0], [3, 3, 3]], errors.ParameterError, "3 × 3"),
        (["a", "b", "c"], [1, 2, 3], [[5, 1], [3, 3], [0, 0]], errors.ParameterError, "3 × 3"),
    ],
)
def test_bad_lists_are_refused_naming_what_is_wrong(ids, cur, requests, error, needle):
    with pytest.raises(error, match=needle):
        allocate_resource(ids, cur, requests, [4, 4, 4])


def test_one_period_and_amounts_that_are_all_zero_for_an_account():
    res = allocate_resource(["b", "a"], [0, 1], [[0], [3]], [2])
    assert res.allocations_summary["alloc_period_1"].tolist() == [0.0, 2.0]
    assert res.allocations_detailed["step"].tolist() == [1, 1]
    assert res.allocations_detailed["period"].dtype == np.int64


@pytest.mark.parametrize("requests", [[], np.zeros((0, 2)), pd.DataFrame(np.zeros((0, 2)))])
@pytest.mark.parametrize("auto_weights", [True, False])
def test_no_accounts_is_an_empty_input(requests, auto_weights):
    # a (0, T) array once reached the entitlement shares and divided by zero
    with pytest.raises(errors.EmptyInputError, match="account_ids is empty"):
        allocate_resource([], [], requests, [1.0, 2.0], auto_weights=auto_weights)
