"""Sourcing end to end (DataFrames with string keys in → indexed Series out) against pandas.

The reference is the same rule written the straightforward pandas way: merges, then
``groupby(...).transform("sum")`` for the per-sink and per-source totals, then ``set_index`` and
``sort_index`` for the same (source, sink)-indexed result.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl

from benchmarks.harness import fmt_seconds, markdown, measure
from fairalloc.transforms.sourcing import direct_sourcing, proportional_sourcing

SIZES = (100_000, 1_000_000, 10_000_000)
REPEATS = {100_000: 5, 1_000_000: 3, 10_000_000: 3}


def make_inputs(m: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """M matches (≈ M/10 sources, ≈ M/10 sinks) with string keys, as pandas DataFrames."""
    rng = np.random.default_rng(seed)
    n = max(m // 10, 1)
    names = pl.Series([f"S{i:08d}" for i in range(n)])
    sinks = pl.Series([f"K{i:08d}" for i in range(n)])
    matches = pl.DataFrame({"source": names.gather(rng.integers(0, n, m)),
                            "sink": sinks.gather(rng.integers(0, n, m))})
    capacity = rng.lognormal(3.0, 1.0, n)
    capacity[rng.random(n) < 0.05] = 0.0
    cap = pl.DataFrame({"source": names, "capacity": capacity})
    dem = pl.DataFrame({"sink": sinks, "demand": rng.lognormal(4.0, 1.0, n)})
    return matches.to_pandas(), cap.to_pandas(), dem.to_pandas()


def pandas_proportional(matches, capacity, demand) -> pd.DataFrame:
    m = matches.drop_duplicates().merge(capacity, on="source").merge(demand, on="sink")
    total = m.groupby("sink")["capacity"].transform("sum")
    m["flow"] = np.where(total > 0, m["demand"] * m["capacity"] / total.where(total > 0, 1), 0.0)
    return m


def pandas_direct_reference(matches, capacity, demand) -> pd.Series:
    m = pandas_proportional(matches, capacity, demand)
    requested = m.groupby("source")["flow"].transform("sum")
    over = requested > m["capacity"]
    m["flow"] = np.where(over, m["flow"] * m["capacity"] / requested.where(over, 1), m["flow"])
    return m.set_index(["source", "sink"])["flow"].sort_index()


def pandas_proportional_reference(matches, capacity, demand) -> pd.Series:
    m = pandas_proportional(matches, capacity, demand)
    return m.set_index(["source", "sink"])["flow"].sort_index()


def bench_size(m: int, repeats: int) -> list[tuple]:
    """Rows of the table for M = ``m`` matches (inputs freed when it returns)."""
    matches, cap, dem = make_inputs(m)
    cases = (
        ("direct_sourcing", lambda: direct_sourcing(matches, cap, dem)[0],
         lambda: pandas_direct_reference(matches, cap, dem)),
        # the reference gives sinks whose sources all have capacity 0 nothing: so do we here
        ("proportional_sourcing",
         lambda: proportional_sourcing(matches, dem, cap, on_zero_capacity="zero"),
         lambda: pandas_proportional_reference(matches, cap, dem)),
    )
    for name, ours, ref in cases:  # both compute the same table before either is timed
        a, b = ours(), ref()
        np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), rtol=1e-9, err_msg=name)
        assert a.index.equals(b.index), f"{name}: fairalloc and the reference disagree"
        del a, b
    rows = []
    for name, ours, ref in cases:
        a, b = measure(ours, repeats, memory=True), measure(ref, repeats, memory=True)
        rows.append((name, f"{m:,}", fmt_seconds(a.median), f"{a.peak_mb:,.0f} MB",
                     fmt_seconds(b.median), f"{b.peak_mb:,.0f} MB",
                     f"{b.median / a.median:.1f}×", repeats))
        print(f"  {name} M={m:,}: ours {fmt_seconds(a.median)}, pandas {fmt_seconds(b.median)}",
              flush=True)
    return rows


def run(sizes=SIZES, repeats: int | None = None) -> str:
    """The Markdown table for ``sizes`` (repeats per size from REPEATS unless given)."""
    rows = [row for m in sizes for row in bench_size(m, repeats or REPEATS.get(m, 3))]
    headers = ("transform", "matches", "fairalloc (median)", "fairalloc peak",
               "pandas reference (median)", "reference peak", "speed-up", "runs")
    return markdown(headers, rows)
