"""apportion: the spec example, hand-checked cases per method, exactness, invariants, errors."""

from __future__ import annotations

import math
from fractions import Fraction

import hypothesis.strategies as st
import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import assume, given, settings

from fairalloc.solvers.portions import exact_sum
from fairalloc.transforms import errors
from fairalloc.transforms.errors import (
    DuplicateKeyError,
    EmptyInputError,
    InputTypeError,
    InvalidAmountError,
    ParameterError,
)
from fairalloc.transforms.portions import METHODS, apportion, portion_violations
from tests import reference_portions as ref
from tests.strategies import (
    ODD_RATIO,
    portions_instances,
    portions_magnitude_instances,
)

DIVISOR = ["jefferson", "webster", "adams", "huntington_hill"]


def test_spec_example():
    out = apportion({1: 3, 2: 1}, 8)
    assert out.to_dict() == {1: 6, 2: 2}
    assert out.dtype == np.int64 and out.name == "portions" and out.index.name == "key"
    assert out.attrs["unallocated"] == 0


@pytest.mark.parametrize(("ratios", "total", "expected"), [
    # share ceil(8/4) = 2 each, the 4 left go to the top ratio
    ({1: 3, 2: 1}, 8, {1: 6, 2: 2}),
    # share ceil(2/6) = 1: a and b get one each, c none (the portions ran out)
    ({"a": 3, "b": 2, "c": 1}, 2, {"a": 1, "b": 1, "c": 0}),
    ({"a": 3, "b": 2, "c": 1}, 1, {"a": 1, "b": 0, "c": 0}),
    # Σ ratios < 1: share ceil(3 / 0.75) = 4 is more than remain, a takes all 3
    ({"a": 0.5, "b": 0.25}, 3, {"a": 3, "b": 0}),
    # ties for the top ratio: the rest split equally, single leftovers in key order
    ({"a": 2, "b": 2, "c": 1}, 10, {"a": 4, "b": 4, "c": 2}),   # share 2, rest 4 → 2 + 2
    ({"a": 2, "b": 2, "c": 1}, 11, {"a": 4, "b": 4, "c": 3}),   # share 3, rest 2 → 1 + 1
    ({"a": 2, "b": 2, "c": 1}, 12, {"a": 5, "b": 4, "c": 3}),   # share 3, rest 3 → 2 + 1
    # order is ratio descending, then key: c (ratio 5) before a and b
    ({"a": 1, "b": 1, "c": 5}, 2, {"a": 1, "b": 0, "c": 1}),   # share 1: c, a, then runs out
    ({"a": 1, "b": 1, "c": 5}, 9, {"a": 2, "b": 2, "c": 5}),   # share 2 each, c gets the 3 left
    # zero ratios get nothing
    ({"a": 1, "z": 0}, 3, {"a": 3, "z": 0}),
])
def test_priority_by_hand(ratios, total, expected):
    assert apportion(ratios, total).to_dict() == expected


@pytest.mark.parametrize(("method", "ratios", "total", "expected"), [
    # quotas 5.3, 2.4, 2.3: floors 5, 2, 2, the one left to the largest remainder (b)
    ("hamilton", {"a": 53, "b": 24, "c": 23}, 10, {"a": 5, "b": 3, "c": 2}),
    # equal remainders 0.5: the lower key wins
    ("hamilton", {"a": 1, "b": 1}, 3, {"a": 2, "b": 1}),
    # the Alabama paradox: raising the total from 10 to 11 takes a portion from c
    ("hamilton", {"a": 6, "b": 6, "c": 2}, 10, {"a": 4, "b": 4, "c": 2}),
    ("hamilton", {"a": 6, "b": 6, "c": 2}, 11, {"a": 5, "b": 5, "c": 1}),
    # values 53, 26.5, 24, 23, 17.7, 13.25, 12, 11.5, 10.6, 8.83
    ("jefferson", {"a": 53, "b": 24, "c": 23}, 10, {"a": 6, "b": 2, "c": 2}),
    # values 7, 3.5, 2.33 beat 2: all three to a
    ("jefferson", {"a": 7, "b": 2}, 3, {"a": 3, "b": 0}),
    # values a: 1, 0.5; b: 2, 1 — b's 2, then a's 1 ties b's 1: the lower key (a) wins
    ("jefferson", {"a": 1, "b": 2}, 2, {"a": 1, "b": 1}),
    ("jefferson", {"a": 2, "b": 1}, 2, {"a": 2, "b": 0}),
    # 2 × values: a 14, 4.67, 2.8; b 4, 1.33
    ("webster", {"a": 7, "b": 2}, 3, {"a": 2, "b": 1}),
    # the last value: a's 53 / 5.5 = 9.64 beats b's 24 / 2.5 = 9.6
    ("webster", {"a": 53, "b": 24, "c": 23}, 10, {"a": 6, "b": 2, "c": 2}),
    # a's first value 1 / (1/2) = 2 equals b's second 3 / (3/2) = 2 (after b's 6): a wins the
    # tie as the lower key, and keeps it when the ratios swap
    ("webster", {"a": 1, "b": 3}, 2, {"a": 1, "b": 1}),
    ("webster", {"a": 3, "b": 1}, 2, {"a": 2, "b": 0}),
    # first portions to every positive key, then 7 / 1 beats 2 / 1
    ("adams", {"a": 7, "b": 2}, 3, {"a": 2, "b": 1}),
    # fewer portions than keys: first portions by ratio descending, then key
    ("adams", {"a": 2, "b": 7, "c": 2}, 2, {"a": 1, "b": 1, "c": 0}),
    ("huntington_hill", {"a": 2, "b": 7}, 1, {"a": 0, "b": 1}),
    # after first portions: a's 7/√2 = 4.95, 7/√6 = 2.86, 7/√12 = 2.02, 7/√20 = 1.57 beat
    # b's 2/√2 = 1.41, which beats a's 7/√30 = 1.28
    ("huntington_hill", {"a": 7, "b": 2}, 6, {"a": 5, "b": 1}),
    ("huntington_hill", {"a": 7, "b": 2}, 7, {"a": 5, "b": 2}),
    # an exact tie in irrationals: a's 9th portion 6/√72 equals b's 2nd 1/√2 (after a's
    # 6/√2 … 6/√56 and both first portions): the lower key, a, gets it
    ("huntington_hill", {"a": 6, "b": 1}, 10, {"a": 9, "b": 1}),
    ("huntington_hill", {"a": 1, "b": 6}, 10, {"a": 2, "b": 8}),
    # zero ratios get nothing under every method
    ("adams", {"a": 1, "b": 0, "c": 3}, 4, {"a": 1, "b": 0, "c": 3}),
    ("hamilton", {"a": 0, "b": 3}, 4, {"a": 0, "b": 4}),
])
def test_classic_methods_by_hand(method, ratios, total, expected):
    assert apportion(ratios, total, method=method).to_dict() == expected


@pytest.mark.parametrize(("method", "ratios", "total", "expected"), [
    # 0.4/4 = Fraction(0.1) exactly, and the float 0.9 is below 9 × Fraction(0.1): the last
    # portion is c's first (ratio 0.1), but 0.9 / 9 rounds up to the float 0.1 and a float
    # implementation hands it to b
    ("jefferson", [0.4, 0.9, 0.1], 13, [4, 8, 1]),
    ("webster", [0.7, 0.5, 0.1, 0.3], 7, [3, 2, 1, 1]),
    # quota 15 × 0.2 / (0.2 + 0.5 + 0.2) is just above 3.333…; float rounding makes b's
    # remainder look larger than a's
    ("hamilton", [0.2, 0.5, 0.2], 15, [4, 8, 3]),
])
def test_float_rounding_never_flips_a_portion(method, ratios, total, expected):
    d = dict(enumerate(ratios))
    assert list(ref.METHODS[method](d, total).values()) == expected  # the exact reading
    assert apportion(d, total, method=method).tolist() == expected


def test_all_zero_ratios_report_the_total_unallocated():
    for method in METHODS:
        out = apportion({"a": 0, "b": 0.0}, 5, method=method)
        assert out.to_dict() == {"a": 0, "b": 0} and out.attrs["unallocated"] == 5


def test_input_forms_agree():
    expected = {"a": 5, "b": 3, "c": 2}
    ratios = {"c": 23, "a": 53, "b": 24}
    forms = [
        ratios,
        pd.Series(ratios),
        pd.DataFrame({"key": list(ratios), "ratio": list(ratios.values())}),
        pl.DataFrame({"key": list(ratios), "ratio": list(ratios.values())}),
        pl.DataFrame({"party": list(ratios), "votes": list(ratios.values())}),  # two columns
        pl.DataFrame({"key": list(ratios), "ratio": list(ratios.values())}).lazy(),
    ]
    for form in forms:
        assert apportion(form, 10, "hamilton").to_dict() == expected
    named = apportion(pd.Series(ratios).rename_axis("party"), 10, "hamilton")
    assert named.index.name == "party"


@pytest.mark.parametrize(("ratios", "total", "method", "error", "named"), [
    ({"a": 1, "b": -2}, 3, "priority", InvalidAmountError, "'b'"),
    ({"a": float("nan")}, 3, "hamilton", InvalidAmountError, "'a'"),
    ({"a": 1, "b": float("inf")}, 3, "webster", InvalidAmountError, "'b'"),
    ({"a": 1}, 2.5, "priority", ParameterError, "2.5"),
    ({"a": 1}, -1, "priority", ParameterError, "-1"),
    ({"a": 1}, "8", "priority", ParameterError, "'8'"),
    ({"a": 1}, True, "priority", ParameterError, "True"),
    ({"a": 1}, Fraction(17, 2), "priority", ParameterError, "17, 2"),
    ({"a": 1}, float("nan"), "priority", ParameterError, "nan"),
    ({"a": 1}, 2**51, "priority", ParameterError, "2**50"),
    ({"a": 1}, 3, "dhondt", ParameterError, "'dhondt'"),
    (pd.DataFrame({"key": ["a", "b", "a"], "ratio": [1, 2, 1]}), 3, "priority",
     DuplicateKeyError, "'a'"),
    (pd.Series([1.0, 2.0], index=["x", "x"]), 3, "priority", DuplicateKeyError, "'x'"),
    ({}, 3, "priority", EmptyInputError, "empty"),
    ([1, 2], 3, "priority", InputTypeError, "list"),
    (pl.DataFrame({"key": ["a"], "ratio": ["x"]}), 3, "priority", InputTypeError, "numeric"),
])
def test_bad_input_raises_naming_the_keys(ratios, total, method, error, named):
    with pytest.raises(error, match=None) as info:
        apportion(ratios, total, method=method)
    assert named in str(info.value)


def test_integral_float_total_is_accepted():
    assert apportion({1: 3, 2: 1}, 8.0).to_dict() == {1: 6, 2: 2}
    assert apportion({1: 3, 2: 1}, np.int32(8)).to_dict() == {1: 6, 2: 2}


# ----------------------------------------------------------------------------- properties

@settings(max_examples=150)
@given(portions_instances(), st.sampled_from(sorted(ref.METHODS)))
def test_matches_the_exact_reference(case, method):
    ratios, total = case
    assert apportion(ratios, total, method=method).to_dict() == ref.METHODS[method](ratios, total)


@settings(max_examples=100)
@given(portions_instances(max_keys=40, max_total=2000), st.sampled_from(sorted(ref.METHODS)))
def test_sum_is_exact(case, method):
    ratios, total = case
    out = apportion(ratios, total, method=method)
    positive = any(v > 0 for v in ratios.values())
    assert int(out.sum()) == (total if positive else 0)
    assert out.attrs["unallocated"] == (0 if positive else total)
    assert (out >= 0).all()
    assert (out[[k for k, v in ratios.items() if v == 0]] == 0).all()


@settings(max_examples=100)
@given(portions_instances(max_keys=40, max_total=5000))
def test_hamilton_meets_quota(case):
    ratios, total = case
    s = sum(Fraction(v) for v in ratios.values())
    assume(s > 0)
    out = apportion(ratios, total, method="hamilton")
    for k, v in ratios.items():
        quota = total * Fraction(v) / s
        assert math.floor(quota) <= out[k] <= math.ceil(quota)


@settings(max_examples=60)
@given(portions_instances(max_keys=30, max_total=300), st.sampled_from(DIVISOR),
       st.integers(1, 30))
def test_divisor_methods_are_house_monotone(case, method, more):
    ratios, total = case
    before = apportion(ratios, total, method=method)
    after = apportion(ratios, total + more, method=method)
    assert (after >= before).all()


@settings(max_examples=60)
@given(portions_instances(max_keys=30, max_total=500), st.sampled_from(sorted(ref.METHODS)),
       st.randoms(use_true_random=False))
def test_permutation_invariant(case, method, rnd):
    ratios, total = case
    items = list(ratios.items())
    rnd.shuffle(items)
    table = pl.DataFrame({"key": [k for k, _ in items], "ratio": [v for _, v in items]})
    assert apportion(table, total, method=method).equals(apportion(ratios, total, method=method))


@settings(max_examples=60)
@given(st.lists(st.floats(0, 1e300, allow_nan=False, allow_infinity=False), max_size=30)
       | st.lists(st.floats(0, 1e-300, allow_nan=False), max_size=30))
def test_exact_sum(values):
    assert exact_sum(np.array(values, dtype=np.float64)) == sum(map(Fraction, values))


@pytest.mark.parametrize("method", sorted(ref.METHODS))
def test_extreme_magnitudes_match_the_reference(method):
    # huge and tiny ratios side by side: float sums and quotients would overflow or vanish
    ratios = {0: 1e300, 1: 3e299, 2: 7e-300, 3: 1e308, 4: 2.5e307}
    for total in (1, 4, 5, 17):
        got = apportion(ratios, total, method=method).to_dict()
        assert got == ref.METHODS[method](ratios, total)


@pytest.mark.parametrize("method", sorted(ref.METHODS))
def test_many_keys_and_ties(method):
    # 20 000 keys, many equal ratios: the exact ranking of near-ties stays per distinct value
    rng = np.random.default_rng(3)
    r = rng.integers(0, 6, 20_000) / 4
    out = apportion(pd.Series(r), 123_457, method=method)
    assert int(out.sum()) == 123_457
    # equal ratios get portions differing by at most one, the lower keys the larger ones
    frame = pd.DataFrame({"r": r, "p": out.to_numpy()})
    assert (frame.loc[frame.r == 0, "p"] == 0).all()
    positive = frame[frame.r > 0]
    spread = positive.groupby("r")["p"].agg(["min", "max"])  # sorted by ratio
    # a larger ratio never gets fewer portions (every method here is monotone in the ratio)
    assert (spread["min"].to_numpy()[1:] >= spread["max"].to_numpy()[:-1]).all()
    if method != "priority":  # (priority: equal ratios late in line may get less, or none)
        assert ((spread["max"] - spread["min"]) <= 1).all()
        for _, grp in positive.groupby("r"):
            assert grp["p"].is_monotonic_decreasing


def _claim(method: str, r: Fraction, j: int) -> Fraction:
    """The exact value of a key's j-th portion (j ≥ 1 for the zero-divisor methods)."""
    if method == "jefferson":
        return r / (j + 1)
    if method == "webster":
        return r / (j + Fraction(1, 2))
    if method == "adams":
        return r / j
    return r * r / (j * (j + 1))  # Huntington-Hill, compared through squares


@settings(max_examples=80)
@given(st.lists(st.one_of(st.integers(1, 10**6).map(float),
                          st.floats(1e-200, 1e200, allow_nan=False)), min_size=1, max_size=25),
       st.integers(0, 10**12), st.sampled_from(DIVISOR))
def test_divisor_certificate_at_large_totals(ratios, total, method):
    """Every portion handed out is worth at least every portion held back (exactly), and an
    equal pair is resolved for the lower key: the defining property of a divisor method."""
    r = [Fraction(x) for x in ratios]
    n = len(r)
    assume(total > n)  # so that some key holds a portion beyond any first one
    out = apportion(dict(enumerate(ratios)), total, method=method).tolist()
    assert sum(out) == total
    zero_first = method in ("adams", "huntington_hill")
    given_last = [(_claim(method, r[i], out[i] - 1), i) for i in range(n)
                  if out[i] > (1 if zero_first else 0)]
    held_next = [(_claim(method, r[i], out[i]), i) for i in range(n) if out[i] > 0 or
                 not zero_first]
    assert given_last and held_next
    worst_given = min(given_last, key=lambda p: (p[0], -p[1]))
    best_held = max(held_next, key=lambda p: (p[0], -p[1]))
    assert worst_given[0] > best_held[0] or (
        worst_given[0] == best_held[0] and worst_given[1] < best_held[1])


@settings(max_examples=80)
@given(st.lists(st.integers(0, 1000).map(float), min_size=1, max_size=25),
       st.integers(0, 2**50))
def test_hamilton_at_large_totals_matches_the_reference(ratios, total):
    """Large totals put many remainders inside the exact band (whole and fractional sums)."""
    d = dict(enumerate(ratios))
    assert apportion(d, total, method="hamilton").to_dict() == ref.hamilton(d, total)
    halves = {k: v + 0.5 for k, v in d.items()}
    assert apportion(halves, total, method="hamilton").to_dict() == ref.hamilton(halves, total)


# --- issue 11: one error contract, verified answers -----------------------------------------

@pytest.mark.parametrize("ratios", [
    {"a": True, "b": 1},
    {"a": np.True_, "b": 1.5},
    pd.Series({"a": True, "b": 1}, dtype=object),
    pd.DataFrame({"key": ["a", "b"], "ratio": [True, False]}),
])
def test_a_boolean_ratio_is_refused_naming_its_key(ratios):
    # regression: {"a": True, "b": 1} apportioned 8 as 4 + 4
    with pytest.raises(InputTypeError, match="'a'") as info:
        apportion(ratios, 8)
    assert "a" in info.value.keys


@pytest.mark.parametrize(("total", "needle"), [
    (np.True_, "True"), (np.float64(2.5), "2.5"), (np.int64(-3), "-3"), (None, "None"),
])
def test_total_follows_the_number_rules(total, needle):
    with pytest.raises(ParameterError, match=needle):
        apportion({"a": 1}, total)


def test_numpy_scalars_are_numbers():
    assert apportion({"a": np.float32(3), "b": np.int64(1)}, np.int64(8)).to_dict() == \
        {"a": 6, "b": 2}
    assert apportion({"a": 3, "b": 1}, np.float64(8.0)).to_dict() == {"a": 6, "b": 2}
    with pytest.raises(ParameterError, match="method"):
        apportion({"a": 1}, 3, method=None)


def test_a_wrong_kernel_answer_is_a_solver_error_naming_the_keys(monkeypatch):
    from fairalloc.solvers import portions as kernels

    def bad(r, total):  # gives one portion too many to the second key
        out = np.zeros(len(r), dtype=np.int64)
        out[0] = total
        out[1] = 1
        return out

    monkeypatch.setattr(kernels.METHODS, "get", lambda name: bad)
    with pytest.raises(errors.SolverError, match="sum to 4, not 3") as info:
        apportion({"a": 1, "b": 1}, 3)
    assert info.value.status == "optimal"
    # methods never see ratio-0 keys, so that rule is checked on the kernel's check itself
    with pytest.raises(kernels.SolverFailure) as failure:
        kernels.verify_portions(np.array([1.0, 0.0]), 4, np.array([2, 2]))
    assert failure.value.what == "key" and failure.value.codes == [1]


def test_portion_violations_checks_its_total():
    with pytest.raises(ParameterError, match="total"):
        portion_violations(pd.Series({"a": 1}, name="portions"), {"a": 1}, True)


@pytest.mark.parametrize("method", METHODS)
def test_ratios_far_apart_keep_every_portion(method):
    got = apportion({"a": 1e-300, "b": 1e300, "c": 5e-324, "z": 0.0}, 2**50, method)
    assert got.sum() == 2**50 and got["z"] == 0 and (got >= 0).all()
    assert got["b"] >= 2**50 - 3


@settings(max_examples=60)
@given(portions_magnitude_instances(), st.sampled_from(sorted(ref.METHODS)))
def test_magnitudes_sum_exactly_and_keep_the_rules(case, method):
    ratios, total = case
    out = apportion(ratios, total, method=method)
    positive = [k for k, v in ratios.items() if v > 0]
    assert int(out.sum()) == (total if positive else 0)
    assert (out >= 0).all() and out.dtype == np.int64
    assert all(out[k] == 0 for k, v in ratios.items() if v == 0)
    s = sum(Fraction(v) for v in ratios.values())
    if method == "hamilton" and s > 0:
        for k, v in ratios.items():
            quota = total * Fraction(v) / s
            assert math.floor(quota) <= out[k] <= math.ceil(quota), k


@settings(max_examples=40)
@given(portions_magnitude_instances(max_keys=6), st.sampled_from(sorted(ref.METHODS)))
def test_magnitudes_match_the_exact_reference_for_small_totals(case, method):
    ratios, total = case
    assume(total <= 60)
    assert apportion(ratios, total, method=method).to_dict() == ref.METHODS[method](ratios, total)


@settings(max_examples=60)
@given(st.dictionaries(st.integers(0, 20), ODD_RATIO, max_size=6),
       st.one_of(st.integers(-2, 40), st.sampled_from([True, 2.5, 8.0, "8", None, np.int64(5),
                                                      math.nan, 2**51])),
       st.sampled_from([*sorted(ref.METHODS), "dhondt", None]))
def test_only_fairalloc_errors_escape(ratios, total, method):
    try:
        out = apportion(ratios, total, method=method)
    except errors.FairallocError:
        return
    assert (out >= 0).all()
