"""Sourcing transforms: the spec's examples, input forms, groups, options and every error."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import polars as pl
import pytest

from fairalloc.transforms import errors
from fairalloc.transforms.sourcing import (
    SourcingReport,
    conservation_violations,
    direct_sourcing,
    proportional_sourcing,
)

FOUR = [("A", "X"), ("A", "Y"), ("B", "X"), ("B", "Y")]
CAP = {"A": 300, "B": 150}
DEM = {"X": 300, "Y": 300}


def as_dict(series: pd.Series) -> dict:
    return {k: float(v) for k, v in series.items()}


# --- the spec's worked examples ----------------------------------------------------------------

def test_proportional_example():
    got = proportional_sourcing(FOUR, DEM, CAP)
    assert as_dict(got) == {("A", "X"): 200, ("A", "Y"): 200, ("B", "X"): 100, ("B", "Y"): 100}
    assert got.index.names == ["source", "sink"]
    assert got.dtype == np.float64


def test_direct_example_scales_over_requested_sources():
    src, sink = direct_sourcing(FOUR, CAP, DEM)
    assert as_dict(src) == {("A", "X"): 150, ("A", "Y"): 150, ("B", "X"): 75, ("B", "Y"): 75}
    pd.testing.assert_series_equal(src, sink, check_names=False)


def test_direct_tolerance_example():
    src, sink = direct_sourcing(
        [("A", "X"), ("B", "Y"), ("C", "Z")], {"A": 100, "B": 460, "C": 900},
        {"X": 500, "Y": 500, "Z": 500}, relative_tolerance=0.1,
    )
    assert as_dict(src) == {("A", "X"): 100, ("B", "Y"): 460, ("C", "Z"): 500}
    assert sink[("A", "X")] == pytest.approx(100 / 0.9, rel=1e-15)
    assert sink[("B", "Y")] == 460 and sink[("C", "Z")] == 500


# --- hand-checked options --------------------------------------------------------------------

def test_zero_capacity_policies():
    m = [("A", "X"), ("B", "X"), ("C", "Y")]
    cap = {"A": 0, "B": 0, "C": 10}
    dem = {"X": 50, "Y": 4}
    even = proportional_sourcing(m, dem, cap, on_zero_capacity="even")
    assert as_dict(even) == {("A", "X"): 25, ("B", "X"): 25, ("C", "Y"): 4}
    zero = proportional_sourcing(m, dem, cap, on_zero_capacity="zero")
    assert as_dict(zero) == {("A", "X"): 0, ("B", "X"): 0, ("C", "Y"): 4}
    with pytest.raises(errors.ZeroCapacityError, match="'X'"):
        proportional_sourcing(m, dem, cap, on_zero_capacity="raise")
    # direct sourcing: zero-capacity sources get nothing
    src, _ = direct_sourcing(m, cap, dem)
    assert as_dict(src) == {("A", "X"): 0, ("B", "X"): 0, ("C", "Y"): 4}


def test_redistribute_moves_leftovers_to_unmet_sinks():
    # A (100) serves X and Y; B (1000) serves Y only. Round 1: X asks 100 of A, Y asks
    # 100*100/1100 of A and 100*1000/1100 of B; A is asked 109.09 and scales by 100/109.09:
    # X gets 91.67, Y gets 8.33 + 90.91 = 99.24. Round 2: only Y–B has unmet demand and spare
    # capacity, so Y's shortfall of 0.76 moves to B. A stays used up, X keeps 91.67.
    m = [("A", "X"), ("A", "Y"), ("B", "Y")]
    cap, dem = {"A": 100, "B": 1000}, {"X": 100, "Y": 100}
    plain, _ = direct_sourcing(m, cap, dem)
    src, sink = direct_sourcing(m, cap, dem, redistribute=True)
    assert plain[("B", "Y")] == pytest.approx(1000 / 11)
    assert src[("B", "Y")] == pytest.approx(100 - 100 / 12)
    assert src[("A", "X")] == plain[("A", "X")] == pytest.approx(100 * 11 / 12)
    assert src.groupby(level="sink").sum()["Y"] == pytest.approx(100)
    assert src.groupby(level="source").sum()["A"] == pytest.approx(100)
    assert src.attrs["report"].rounds == 2 and src.attrs["report"].converged


def test_redistribute_with_tolerance_keeps_sinks_within_demand():
    # Sink X is served by a small source A shared with a huge sink Z, and by a big source B;
    # redistribution fills X from B, and the tolerance rule must not push X past its demand.
    m = [("A", "X"), ("A", "Z"), ("B", "X")]
    cap, dem = {"A": 10, "B": 1000}, {"X": 100, "Z": 10_000}
    src, sink = direct_sourcing(m, cap, dem, relative_tolerance=0.2, redistribute=True)
    received = sink.groupby(level="sink").sum()
    assert received["X"] <= 100 * (1 + 1e-9)
    assert received["X"] == pytest.approx(100)
    assert src.groupby(level="source").sum()["A"] <= 10 * (1 + 1e-12)


def test_duplicate_matches_collapse_and_are_reported():
    src, _ = direct_sourcing(FOUR + FOUR[:2], CAP, DEM)
    assert len(src) == 4
    assert src.attrs["report"].duplicate_matches == 2


def test_unmatched_sink_and_source_get_nothing_and_are_reported():
    src, sink = direct_sourcing([("A", "X")], {"A": 5, "B": 7}, {"X": 3, "W": 8})
    assert as_dict(src) == {("A", "X"): 3}
    report = src.attrs["report"]
    assert isinstance(report, SourcingReport)
    assert report.unmatched_sinks == 1 and report.unmatched_sink_keys == ("W",)
    assert report.unallocated_demand == pytest.approx(8)
    assert report.total_capacity == 12 and report.total_demand == 11
    assert report.status == "optimal" and report.wall_time_s >= 0


def test_int_keys():
    got = proportional_sourcing([(1, 10), (2, 10)], {10: 9}, {1: 1, 2: 2})
    assert as_dict(got) == {(1, 10): 3, (2, 10): 6}
    assert got.index.levels[0].dtype == np.int64


# --- input forms -----------------------------------------------------------------------------

def _forms():
    pairs = pd.DataFrame(FOUR, columns=["source", "sink"])
    cap = pd.DataFrame({"source": list(CAP), "capacity": list(CAP.values())})
    dem = pd.DataFrame({"sink": list(DEM), "demand": list(DEM.values())})
    yield "tuples", FOUR, CAP, DEM
    yield "pandas", pairs, cap, dem
    yield "polars", pl.from_pandas(pairs), pl.from_pandas(cap), pl.from_pandas(dem)
    yield "lazy", pl.from_pandas(pairs).lazy(), pl.from_pandas(cap).lazy(), pl.from_pandas(dem)
    yield ("multiindex+series", pd.MultiIndex.from_frame(pairs),
           cap.set_index("source")["capacity"], dem.set_index("sink")["demand"])
    yield ("unnamed series", iter(FOUR), pd.Series(CAP), pd.Series(DEM))
    yield ("index columns", pairs.set_index("source"), cap.set_index("source"),
           dem.set_index("sink"))


@pytest.mark.parametrize("form", list(_forms()), ids=lambda f: f[0])
def test_every_input_form_gives_the_same_result(form):
    _, m, cap, dem = form
    expected = direct_sourcing(FOUR, CAP, DEM)[0]
    pd.testing.assert_series_equal(direct_sourcing(m, cap, dem)[0], expected, check_exact=True)


# --- groups ----------------------------------------------------------------------------------

def test_by_groups_run_independently_and_lead_the_index():
    rows = [("c", 2024, "A", "X"), ("c", 2024, "B", "X"), ("d", 2025, "A", "X")]
    m = pd.DataFrame(rows, columns=["commodity", "year", "source", "sink"])
    cap = pd.DataFrame({"commodity": ["c", "c", "d"], "year": [2024, 2024, 2025],
                        "source": ["A", "B", "A"], "capacity": [10.0, 30.0, 1.0]})
    dem = pd.DataFrame({"commodity": ["c", "d"], "year": [2024, 2025], "sink": ["X", "X"],
                        "demand": [20.0, 5.0]})
    got = proportional_sourcing(m, dem, cap, by=["commodity", "year"])
    assert got.index.names == ["commodity", "year", "source", "sink"]
    assert as_dict(got) == {("c", 2024, "A", "X"): 5, ("c", 2024, "B", "X"): 15,
                            ("d", 2025, "A", "X"): 5}
    src, _ = direct_sourcing(m, cap, dem, by=["commodity", "year"])
    assert as_dict(src)[("d", 2025, "A", "X")] == 1
    assert src.attrs["report"].groups == 2


def test_by_with_dict_tuple_keys():
    got = proportional_sourcing([("g", "A", "X")], {("g", "X"): 4}, {("g", "A"): 1}, by="grp")
    assert got.index.names == ["grp", "source", "sink"]
    assert as_dict(got) == {("g", "A", "X"): 4}


# --- errors ----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("kwargs", "error", "needle"),
    [
        (dict(matches=[("A", "X"), ("Q", "X")]), errors.UnknownKeyError, "'Q'"),
        (dict(matches=[("A", "X"), ("A", "Q")]), errors.UnknownKeyError, "'Q'"),
        (dict(source_capacity={"A": math.nan, "B": 1}), errors.InvalidAmountError, "'A'"),
        (dict(source_capacity={"A": math.inf, "B": 1}), errors.InvalidAmountError, "'A'"),
        (dict(sink_demand={"X": -1, "Y": 1}), errors.InvalidAmountError, "'X'"),
        (dict(sink_demand=pd.DataFrame({"sink": ["X", "X", "Y"], "demand": [1.0, 2.0, 3.0]})),
         errors.DuplicateKeyError, "'X'"),
        (dict(matches=[]), errors.EmptyInputError, "matches is empty"),
        (dict(source_capacity={"A": "lots", "B": 1}), errors.InputTypeError, "capacity"),
        (dict(matches=pd.DataFrame({"source": ["A"]})), errors.InputTypeError, "'sink'"),
        (dict(matches=[(1.5, "X")]), errors.InputTypeError, "str or int"),
        (dict(matches=[(1, "X")]), errors.InputTypeError, "source"),
        (dict(relative_tolerance=1.0), errors.ParameterError, "< 1"),
        (dict(relative_tolerance=-0.1), errors.ParameterError, "≥ 0"),
        (dict(relative_tolerance=math.nan), errors.ParameterError, "finite"),
        (dict(relative_tolerance="x"), errors.ParameterError, "'x'"),
        (dict(relative_tolerance="0.5"), errors.ParameterError, "'0.5'"),
        (dict(relative_tolerance=True), errors.ParameterError, "True"),
        (dict(by=["source"]), errors.ParameterError, "by"),
        (dict(by=["capacity"]), errors.ParameterError, "'capacity'"),
        (dict(source_capacity={}), errors.EmptyInputError, "source_capacity is empty"),
        (dict(sink_demand=pd.Series([], dtype=float)), errors.EmptyInputError, "sink_demand"),
        (dict(matches=pd.MultiIndex.from_tuples(FOUR, names=["from", "to"])),
         errors.InputTypeError, "levels named"),
        (dict(matches=pl.DataFrame({"source": pl.Series([2**63 + 1], dtype=pl.UInt64),
                                    "sink": ["X"]})), errors.InputTypeError, "matches"),
    ],
)
def test_direct_errors_name_the_offending_keys(kwargs, error, needle):
    args = dict(matches=FOUR, source_capacity=CAP, sink_demand=DEM) | kwargs
    with pytest.raises(error) as info:
        direct_sourcing(**args)
    assert isinstance(info.value, ValueError)
    assert needle in str(info.value)


def test_exact_duplicate_amounts_collapse_silently():
    dem = pd.DataFrame({"sink": ["X", "X", "Y"], "demand": [300.0, 300.0, 300.0]})
    src, _ = direct_sourcing(FOUR, CAP, dem)
    assert src.sum() == 450


def test_mixed_key_types_raise():
    with pytest.raises(errors.InputTypeError):
        direct_sourcing([("A", "X"), (1, "X")], {"A": 1, 1: 1}, {"X": 1})


def test_unknown_zero_capacity_policy_lists_the_known_ones():
    with pytest.raises(errors.ParameterError, match="even") as info:
        proportional_sourcing(FOUR, DEM, CAP, on_zero_capacity="spread")
    assert info.value.keys == ["spread"]
    with pytest.raises(errors.ParameterError):
        proportional_sourcing(FOUR, DEM, CAP, on_zero_capacity=["even"])


def test_named_multiindex_is_read_by_level_name():
    swapped = pd.MultiIndex.from_tuples([(k, s) for s, k in FOUR], names=["sink", "source"])
    pd.testing.assert_series_equal(direct_sourcing(swapped, CAP, DEM)[0],
                                   direct_sourcing(FOUR, CAP, DEM)[0], check_exact=True)


def test_results_do_not_share_memory():
    src, sink = direct_sourcing(FOUR, CAP, DEM)
    assert not np.shares_memory(src.to_numpy(), sink.to_numpy())
    src.iloc[0] = 99.0
    assert sink.iloc[0] == 150


def test_negative_zero_reads_as_zero():
    a = proportional_sourcing([("A", "X")], {"X": -0.0}, {"A": 1.0})
    b = proportional_sourcing([("A", "X")], {"X": 0.0}, {"A": 1.0})
    assert a.to_numpy().tobytes() == b.to_numpy().tobytes()
    cap = pd.DataFrame({"source": ["A", "A"], "capacity": [-0.0, 0.0]})
    first = direct_sourcing([("A", "X")], cap, {"X": 1.0})[0]
    second = direct_sourcing([("A", "X")], cap.iloc[::-1], {"X": 1.0})[0]
    assert first.to_numpy().tobytes() == second.to_numpy().tobytes()


@pytest.mark.parametrize("scale", [1e200, 1e-200, 1e300])
def test_extreme_magnitudes_neither_overflow_nor_underflow(scale):
    cap = {k: v * scale for k, v in CAP.items()}
    dem = {k: v * scale for k, v in DEM.items()}
    got = proportional_sourcing(FOUR, dem, cap)
    np.testing.assert_allclose(got.to_numpy() / scale, [200, 200, 100, 100], rtol=1e-12)
    src, sink = direct_sourcing(FOUR, cap, dem, relative_tolerance=0.1)
    np.testing.assert_allclose(src.to_numpy() / scale, [150, 150, 75, 75], rtol=1e-12)
    big = proportional_sourcing([("A", "X"), ("B", "X")], {"X": 1.0}, {"A": 1e308, "B": 1e308})
    assert big.tolist() == [0.5, 0.5]


def test_error_lists_at_most_ten_keys_and_counts_all():
    m = [(f"S{i:02d}", "X") for i in range(25)]
    with pytest.raises(errors.UnknownKeyError) as info:
        direct_sourcing(m, {"A": 1}, {"X": 1})
    assert len(info.value.keys) == 10 and info.value.count == 25
    assert "(25 in all)" in str(info.value) and "'S00'" in str(info.value)
    assert "'S10'" not in str(info.value)


def test_qa_raises_on_broken_kernel(monkeypatch):
    from fairalloc.solvers import sourcing as kernels

    real = kernels.direct_allocation

    def broken(*args, **kwargs):
        res = real(*args, **kwargs)
        return kernels.DirectAllocation(res.source_flow * 2, res.sink_flow * 2, 1, True,
                                        res.requested, res.zero_sinks)

    monkeypatch.setattr(kernels, "direct_allocation", broken)
    with pytest.raises(errors.SolverError, match="'A'") as info:
        direct_sourcing(FOUR, CAP, DEM)
    assert "sourcing" in str(info.value) and info.value.status == "optimal"
    assert info.value.keys == ["A", "B"]
    src, _ = direct_sourcing(FOUR, CAP, DEM, run_qa=False)
    assert src.sum() == 900


# --- conservation audit -----------------------------------------------------------------------

def test_conservation_violations_empty_on_our_results_and_finds_planted_ones():
    src, sink = direct_sourcing(FOUR, CAP, DEM, relative_tolerance=0.2)
    table = pd.concat([src, sink], axis=1)
    assert conservation_violations(table, CAP, DEM).empty
    table.loc[("B", "Y"), "sink_volume"] = 1000.0
    table.loc[("A", "X"), "source_volume"] = 290.0
    found = conservation_violations(table, CAP, DEM)
    assert set(map(tuple, found[["rule", "key"]].values)) == {
        ("over_demand", "Y"), ("over_capacity", "A")
    }


def test_conservation_violations_skips_capacity_for_proportional():
    prop = proportional_sourcing(FOUR, DEM, CAP)
    assert not conservation_violations(prop, CAP, DEM).empty  # A is asked 400 of 300
    assert conservation_violations(prop, CAP, DEM, check_capacity=False).empty


# --- issue 11: conservation at any magnitude, one error contract --------------------------------

@pytest.mark.parametrize("redistribute", [False, True])
@pytest.mark.parametrize("tol", [0.0, 0.1])
def test_a_huge_unrelated_capacity_does_not_underflow_other_flows(redistribute, tol):
    # regression: one global exponent (from A) scaled C's flows to 0
    src, sink = direct_sourcing([("C", "Z")], {"C": 50, "A": 1e300}, {"Z": 100},
                                relative_tolerance=tol, redistribute=redistribute)
    assert src[("C", "Z")] == 50
    assert sink[("C", "Z")] == pytest.approx(50 / (1 - tol), rel=1e-15)
    assert src.attrs["report"].status == "optimal"


def test_a_huge_unrelated_capacity_in_another_group_does_not_underflow():
    m = [("g", "C", "Z"), ("h", "A", "Y")]
    src, _ = direct_sourcing(m, {("g", "C"): 50, ("h", "A"): 1e300},
                             {("g", "Z"): 100, ("h", "Y"): 1e-300}, by="grp")
    assert src.tolist() == [50.0, 1e-300]


def test_sources_far_apart_at_one_sink_share_by_capacity():
    # shares 1e-300 / (1e-300 + 1e300) of a demand of 1e300: 1e-300, not 0
    got = proportional_sourcing([("A", "X"), ("B", "X")], {"X": 1e300}, {"A": 1e-300, "B": 1e300})
    assert got[("A", "X")] == pytest.approx(1e-300, rel=1e-12, abs=0)
    assert got[("B", "X")] == pytest.approx(1e300, rel=1e-12)
    src, _ = direct_sourcing([("A", "X"), ("B", "X")], {"A": 1e-300, "B": 1e300},
                             {"X": 2e300}, redistribute=True)
    assert src[("A", "X")] == pytest.approx(1e-300, rel=1e-12, abs=0)
    assert src[("B", "X")] == 1e300


def test_demands_beyond_float_range_in_sum_still_scale_exactly():
    # A is asked 1.5e308 + 1.5e308 (inf as a float sum); it must give exactly its capacity
    src, _ = direct_sourcing([("A", "X"), ("A", "Y")], {"A": 1e308},
                             {"X": 1.5e308, "Y": 1.5e308})
    assert src.tolist() == [5e307, 5e307]
    assert src.attrs["report"].status == "optimal"


def test_a_tiny_capacity_asked_for_a_huge_volume_keeps_its_precision():
    src, _ = direct_sourcing([("A", "X"), ("A", "Y")], {"A": 3e-300}, {"X": 1e300, "Y": 2e300})
    assert src.tolist() == pytest.approx([1e-300, 2e-300], rel=1e-14, abs=0)
    assert src.sum() <= 3e-300


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        (dict(redistribute="no"), "redistribute"),
        (dict(redistribute=1), "redistribute"),
        (dict(run_qa="yes"), "run_qa"),
        (dict(run_qa=None), "run_qa"),
        (dict(relative_tolerance=np.True_), "relative_tolerance"),
    ],
)
def test_flags_take_only_booleans_and_numbers_no_booleans(kwargs, needle):
    with pytest.raises(errors.ParameterError, match=needle):
        direct_sourcing(FOUR, CAP, DEM, **kwargs)


def test_numpy_scalars_are_numbers_and_flags():
    src, sink = direct_sourcing(FOUR, CAP, DEM, relative_tolerance=np.float32(0.25),
                                run_qa=np.True_, redistribute=np.False_)
    assert src.attrs["report"].relative_tolerance == 0.25
    plain = direct_sourcing(FOUR, CAP, DEM, relative_tolerance=0.25)
    pd.testing.assert_series_equal(sink, plain[1])
    got = direct_sourcing(FOUR, {"A": np.int64(300), "B": np.float32(150)}, DEM)[0]
    pd.testing.assert_series_equal(got, direct_sourcing(FOUR, CAP, DEM)[0])


@pytest.mark.parametrize("fn", ["direct", "proportional"])
def test_a_boolean_amount_is_refused_naming_its_key(fn):
    cap = {"A": True, "B": 150}
    with pytest.raises(errors.InputTypeError, match="'A'") as info:
        if fn == "direct":
            direct_sourcing(FOUR, cap, DEM)
        else:
            proportional_sourcing(FOUR, DEM, cap)
    assert info.value.keys == ["A"]


def test_conservation_violations_checks_its_parameters():
    src, _ = direct_sourcing(FOUR, CAP, DEM)
    with pytest.raises(errors.ParameterError, match="check_capacity"):
        conservation_violations(src, CAP, DEM, check_capacity="no")
    with pytest.raises(errors.ParameterError, match="rtol"):
        conservation_violations(src, CAP, DEM, rtol=True)


def test_foreign_exceptions_leave_as_fairalloc_errors():
    for call in (lambda: direct_sourcing(5, CAP, DEM),
                 lambda: proportional_sourcing(FOUR, DEM, object()),
                 lambda: conservation_violations(object(), CAP, DEM)):
        with pytest.raises(errors.FairallocError):
            call()


def test_an_answer_over_a_limit_is_repaired_and_reported(monkeypatch):
    from fairalloc.solvers import sourcing as kernels

    real = kernels._direct_round

    def sloppy(*args):  # the round over-asks every source by 1e-6 (relative)
        flow, sflow, requested, zero = real(*args)
        return flow * (1 + 1e-6), sflow * (1 + 1e-6), requested, zero

    monkeypatch.setattr(kernels, "_direct_round", sloppy)
    src, sink = direct_sourcing(FOUR, CAP, DEM)
    report = src.attrs["report"]
    assert report.status == "repaired" and report.repaired == 2
    used = src.groupby(level="source").sum()
    assert used["A"] <= 300 and used["B"] <= 150
    assert used["A"] == pytest.approx(300, rel=1e-15)


def test_a_negative_flow_is_a_solver_error_naming_the_source(monkeypatch):
    from fairalloc.solvers import sourcing as kernels

    real = kernels._direct_round

    def broken(*args):
        flow, sflow, requested, zero = real(*args)
        flow = flow.copy()
        flow[-1] = -1.0
        return flow, sflow, requested, zero

    monkeypatch.setattr(kernels, "_direct_round", broken)
    with pytest.raises(errors.SolverError, match="negative") as info:
        direct_sourcing(FOUR, CAP, DEM)
    assert info.value.keys == ["B"] and info.value.status == "optimal"


def test_a_large_table_of_arrow_strings_gives_what_object_strings_give(monkeypatch):
    # 120 000 matches of arrow strings are coded straight from arrow (by 12 slices here); the
    # same table of Python strings goes the general way: the same volumes, index and report,
    # and an unknown key is named either way
    from fairalloc.transforms import _tables, sourcing
    monkeypatch.setattr(_tables, "_CHECK_ROWS", 10_007)
    taken = []
    fast = sourcing.hashed_string_codes
    monkeypatch.setattr(sourcing, "hashed_string_codes",
                        lambda *a, **k: taken.append(fast(*a, **k)) or taken[-1])
    rng = np.random.default_rng(11)
    n = 120_000
    sources = [f"s{i:05d}" for i in range(3_000)]
    sinks = [f"k{i:05d}" for i in range(4_000)]
    matches = {"source": np.array(sources)[rng.integers(0, 3_000, n)],
               "sink": np.array(sinks)[rng.integers(0, 4_000, n)]}
    cap = pd.Series(rng.uniform(1, 100, 3_000), index=pd.Index(sources, name="source"))
    dem = pd.Series(rng.uniform(1, 100, 4_000), index=pd.Index(sinks, name="sink"))
    arrow = pd.DataFrame({k: pd.array(v, dtype="str") for k, v in matches.items()})
    plain = pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in matches.items()})
    got = direct_sourcing(arrow, cap, dem, relative_tolerance=0.1)
    want = direct_sourcing(plain, cap, dem, relative_tolerance=0.1)
    assert taken[0] is not None and taken[1] is None  # arrow's path, then the general one
    for a, b in zip(got, want, strict=True):
        assert a.equals(b) and a.index.equals(b.index)
    assert got[0].attrs["report"].matches == want[0].attrs["report"].matches
    arrow.loc[n // 2, "sink"] = "nowhere"
    with pytest.raises(errors.UnknownKeyError, match="nowhere"):
        direct_sourcing(arrow, cap, dem, relative_tolerance=0.1)
