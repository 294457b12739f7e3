"""Invariants of sourcing on generated inputs (hypothesis)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fairalloc.transforms import _tables
from fairalloc.transforms.sourcing import direct_sourcing, proportional_sourcing
from tests import reference_sourcing as ref
from tests.strategies import SOURCING_TOLERANCES, grouped_sourcing_cases, sourcing_cases

RTOL = 1e-9


def totals(series: pd.Series, level: str) -> dict:
    return series.groupby(level=level).sum().to_dict()


def approx_dict(got: pd.Series, expected: dict):
    assert set(got.index) == set(expected)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=RTOL, abs=1e-9), key


def assert_conserves(case, src: pd.Series, sink: pd.Series):
    assert (src >= 0).all() and (sink >= 0).all()
    assert np.isfinite(src).all() and np.isfinite(sink).all()
    for s, used in totals(src, "source").items():
        assert used <= case.capacity[s] * (1 + RTOL) + 1e-12, s
    for k, got in totals(sink, "sink").items():
        assert got <= case.demand[k] * (1 + RTOL) + 1e-12, k


@given(sourcing_cases(), st.sampled_from(["even", "zero"]))
def test_proportional_matches_reference_and_serves_whole_demand(case, policy):
    got = proportional_sourcing(case.matches, case.demand, case.capacity, policy)
    expected = ref.proportional(case.matches, case.capacity, case.demand, policy)
    approx_dict(got, expected)
    assert (got >= 0).all()
    for k, received in totals(got, "sink").items():
        assert received <= case.demand[k] * (1 + RTOL)
        served = policy == "even" or any(case.capacity[s] > 0 for s, kk in case.matches if kk == k)
        if served:
            assert received == pytest.approx(case.demand[k], rel=RTOL)


@given(sourcing_cases(), SOURCING_TOLERANCES)
def test_direct_conserves_and_matches_the_spec_rule(case, tol):
    src, sink = direct_sourcing(case.matches, case.capacity, case.demand, relative_tolerance=tol)
    assert_conserves(case, src, sink)
    exp_src, exp_sink = ref.direct(case.matches, case.capacity, case.demand, tol)
    approx_dict(src, exp_src)
    approx_dict(sink, exp_sink)
    if tol == 0:
        assert src.to_numpy().tobytes() == sink.to_numpy().tobytes()


@given(sourcing_cases(), SOURCING_TOLERANCES)
def test_redistribute_is_maximal_and_conserves(case, tol):
    plain, _ = direct_sourcing(case.matches, case.capacity, case.demand, relative_tolerance=tol)
    src, sink = direct_sourcing(case.matches, case.capacity, case.demand,
                                relative_tolerance=tol, redistribute=True)
    assert_conserves(case, src, sink)
    assert src.attrs["report"].converged
    # never less than the single pass, match by match (later rounds only add)
    assert (src >= plain * (1 - 1e-12)).all()
    used, received = totals(src, "source"), totals(sink, "sink")
    for s, k in set(case.matches):
        spare = case.capacity[s] - used[s] > 1e-6 * max(case.capacity[s], 1)
        unmet = case.demand[k] - received[k] > 1e-6 * max(case.demand[k], 1)
        assert not (spare and unmet), (s, k)


def _frames(case):
    m = pd.DataFrame(case.matches, columns=["source", "sink"])
    cap = pd.DataFrame(list(case.capacity.items()), columns=["source", "capacity"])
    dem = pd.DataFrame(list(case.demand.items()), columns=["sink", "demand"])
    return m, cap, dem


@settings(max_examples=60)
@given(sourcing_cases(), SOURCING_TOLERANCES, st.booleans(), st.randoms(use_true_random=False))
def test_bit_identical_under_row_permutations(case, tol, redistribute, rnd):
    m, cap, dem = _frames(case)
    shuffled = [f.sample(frac=1, random_state=rnd.randrange(2**32)) for f in (m, cap, dem)]
    for fn in (
        lambda mm, cc, dd: direct_sourcing(mm, cc, dd, tol, redistribute=redistribute),
        lambda mm, cc, dd: (proportional_sourcing(mm, dd, cc),),
    ):
        for a, b in zip(fn(m, cap, dem), fn(*shuffled), strict=True):
            pd.testing.assert_series_equal(a, b, check_exact=True)
            assert a.to_numpy().tobytes() == b.to_numpy().tobytes()


@settings(max_examples=40)
@given(sourcing_cases())
def test_every_input_form_is_bit_identical(case):
    m, cap, dem = _frames(case)
    forms = [
        (case.matches, case.capacity, case.demand),
        (m, cap, dem),
        (pl.from_pandas(m), pl.from_pandas(cap), pl.from_pandas(dem).lazy()),
        (pd.MultiIndex.from_frame(m), cap.set_index("source")["capacity"],
         dem.set_index("sink")["demand"]),
    ]
    results = [direct_sourcing(*f, relative_tolerance=0.1)[1] for f in forms]
    for other in results[1:]:
        pd.testing.assert_series_equal(results[0], other, check_exact=True)


@settings(max_examples=40)
@given(grouped_sourcing_cases(), SOURCING_TOLERANCES)
def test_groups_equal_separate_runs(groups, tol):
    rows_m, rows_c, rows_d = [], [], []
    for (c, y), case in groups.items():
        rows_m += [(c, y, s, k) for s, k in case.matches]
        rows_c += [(c, y, s, v) for s, v in case.capacity.items()]
        rows_d += [(c, y, k, v) for k, v in case.demand.items()]
    m = pd.DataFrame(rows_m, columns=["commodity", "year", "source", "sink"])
    cap = pd.DataFrame(rows_c, columns=["commodity", "year", "source", "capacity"])
    dem = pd.DataFrame(rows_d, columns=["commodity", "year", "sink", "demand"])
    src, sink = direct_sourcing(m, cap, dem, tol, by=["commodity", "year"])
    assert src.index.names == ["commodity", "year", "source", "sink"]
    assert src.index.is_monotonic_increasing
    prop = proportional_sourcing(m, dem, cap, by=["commodity", "year"])
    for index in (src.index, prop.index):  # each level: the keys in use, once each, sorted
        for values, name in zip(index.levels, index.names, strict=True):
            assert values.tolist() == sorted(set(index.get_level_values(name))), name
    for (c, y), case in groups.items():
        alone_src, alone_sink = direct_sourcing(case.matches, case.capacity, case.demand, tol)
        part = src.xs((c, y), level=["commodity", "year"])
        np.testing.assert_array_equal(part.to_numpy(), alone_src.to_numpy())
        np.testing.assert_array_equal(
            sink.xs((c, y), level=["commodity", "year"]).to_numpy(), alone_sink.to_numpy())
        assert list(part.index) == list(alone_src.index)


@settings(max_examples=60)
@given(sourcing_cases(), SOURCING_TOLERANCES, st.booleans(), st.integers(-900, 900))
def test_scaling_every_amount_by_a_power_of_two_scales_the_result_exactly(case, tol, redis, k):
    scaled_cap = {s: np.ldexp(v, k) for s, v in case.capacity.items()}
    scaled_dem = {s: np.ldexp(v, k) for s, v in case.demand.items()}
    base = direct_sourcing(case.matches, case.capacity, case.demand, tol, redistribute=redis)
    scaled = direct_sourcing(case.matches, scaled_cap, scaled_dem, tol, redistribute=redis)
    for a, b in zip(base, scaled, strict=True):
        assert np.ldexp(a.to_numpy(), k).tobytes() == b.to_numpy().tobytes()
    prop = proportional_sourcing(case.matches, case.demand, case.capacity)
    prop_scaled = proportional_sourcing(case.matches, scaled_dem, scaled_cap)
    assert np.ldexp(prop.to_numpy(), k).tobytes() == prop_scaled.to_numpy().tobytes()


@settings(max_examples=40)
@given(grouped_sourcing_cases(), SOURCING_TOLERANCES, st.randoms(use_true_random=False))
def test_groups_and_duplicate_rows_are_permutation_invariant(groups, tol, rnd):
    rows_m, rows_c, rows_d = [], [], []
    for (c, y), case in groups.items():
        rows_m += [(c, y, s, k) for s, k in case.matches] * 2  # every match given twice
        rows_c += [(c, y, s, v) for s, v in case.capacity.items()]
        rows_d += [(c, y, k, v) for k, v in case.demand.items()]
    m = pd.DataFrame(rows_m, columns=["commodity", "year", "source", "sink"])
    cap = pd.DataFrame(rows_c, columns=["commodity", "year", "source", "capacity"])
    dem = pd.DataFrame(rows_d, columns=["commodity", "year", "sink", "demand"])
    by = ["commodity", "year"]
    a = direct_sourcing(m, cap, dem, tol, redistribute=True, by=by)
    shuffled = [f.sample(frac=1, random_state=rnd.randrange(2**32)) for f in (m, cap, dem)]
    b = direct_sourcing(*shuffled, tol, redistribute=True, by=by)
    for x, y in zip(a, b, strict=True):
        pd.testing.assert_series_equal(x, y, check_exact=True)


@given(sourcing_cases(), grouped_sourcing_cases(), SOURCING_TOLERANCES)
@settings(max_examples=40)
def test_large_input_key_lookup_gives_the_same_bits(case, groups, tol):
    """Large inputs code their keys by hash (transforms/_tables.py): forced on small ones here,
    the answer must be the exact lookup's, bit for bit, with and without groups."""
    rows, cap, dem = [], {}, {}
    for (c, y), g in groups.items():
        rows += [(c, y, s, k) for s, k in g.matches]
        cap |= {(c, y, s): v for s, v in g.capacity.items()}
        dem |= {(c, y, k): v for k, v in g.demand.items()}
    grouped = (pd.DataFrame(rows, columns=["commodity", "year", "source", "sink"]), cap, dem)
    runs = [((case.matches, case.capacity, case.demand), {}),
            (grouped, {"by": ["commodity", "year"]})]
    for args, kw in runs:
        exact = direct_sourcing(*args, tol, **kw)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(_tables, "HASHED_LOOKUP_ROWS", 0)
            hashed = direct_sourcing(*args, tol, **kw)
        for a, b in zip(hashed, exact, strict=True):
            pd.testing.assert_series_equal(a, b, check_exact=True)


@given(sourcing_cases(), st.sampled_from([1, 3, 1 << 16]), st.booleans())
@settings(max_examples=60)
def test_passes_by_blocks_and_mapped_arrays_change_no_bit(case, block, mapped):
    """The kernels and the key coding work by blocks of ``ROW_BLOCK`` matches, in int32 codes,
    on arrays mapped apart from numpy's (``fresh``), and the index takes the codes over in
    place: whatever the block size, the answer, its index (levels only of the keys the matches
    name) and the report are those of one block, and unused keys stay out of the levels."""
    from fairalloc.solvers import blocks

    args = (case.matches, case.capacity, case.demand)
    one = direct_sourcing(*args, 0.1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(blocks, "ROW_BLOCK", block)
        if mapped:
            mp.setattr(blocks, "FRESH_MAP_BYTES", 1)
        got = direct_sourcing(*args, 0.1)
        prop = proportional_sourcing(case.matches, case.demand, case.capacity)
    for a, b in zip(got, one, strict=True):
        pd.testing.assert_series_equal(a, b, check_exact=True)
    assert vars(got[0].attrs["report"]) | {"wall_time_s": 0} == \
        vars(one[0].attrs["report"]) | {"wall_time_s": 0}
    pairs = sorted(set(case.matches))
    assert got[0].index.equals(pd.MultiIndex.from_tuples(pairs))
    assert got[0].index.levels[0].tolist() == sorted({s for s, _ in pairs})
    assert got[0].index.levels[1].tolist() == sorted({k for _, k in pairs})
    assert prop.index.equals(got[0].index)
    lonely = {k for k, v in case.demand.items() if v > 0} - {k for _, k in pairs}
    assert got[0].attrs["report"].unmatched_sinks == len(lonely)
