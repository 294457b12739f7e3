"""Charts of large results: building the figure and rendering it to PNG (Agg, 100 dpi).

The results are synthetic but shaped like the transforms' (same types, index levels and
columns; ``large_results`` is also what tests/transforms/test_charts.py draws at 10^6 rows), so
only the chart is timed. The goal: under 1 s for any size, because every chart aggregates
(top N + other, fixed histogram bins, a fixed-size sample) before it draws.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import pandas as pd
import polars as pl

from benchmarks.harness import fmt_seconds, markdown, measure
from fairalloc.transforms import charts
from fairalloc.transforms.coverage import CoverageAllocation
from fairalloc.transforms.periods import PeriodAllocation

SIZES = (10_000, 1_000_000)
REPEATS = {10_000: 5, 1_000_000: 3}


def _keys(prefix: str, n: int) -> np.ndarray:
    return np.array([f"{prefix}{i:07d}" for i in range(n)], dtype=object)


def large_results(n: int, seed: int = 0) -> dict[str, tuple]:
    """Per capability, ``(result, *inputs)`` with about ``n`` rows in the largest table."""
    rng = np.random.default_rng(seed)
    out: dict[str, tuple] = {}

    # sourcing: n matches in 6 (commodity, year) groups, n/5 sources, n/20 sinks per group
    groups = [("cocoa", 2024), ("cocoa", 2025), ("cocoa", 2026), ("coffee", 2024),
              ("coffee", 2025), ("coffee", 2026)]
    n_src, n_snk = max(n // 5 // 6, 2), max(n // 20 // 6, 2)
    g = np.sort(rng.integers(0, 6, n))
    src, snk = rng.integers(0, n_src, n), rng.integers(0, n_snk, n)
    index = pd.MultiIndex(
        levels=[["cocoa", "coffee"], [2024, 2025, 2026], _keys("S", n_src), _keys("T", n_snk)],
        codes=[g // 3, g % 3, src, snk], names=["commodity", "year", "source", "sink"])
    volume = pd.Series(rng.exponential(10.0, n), index=index, name="source_volume")
    ki = pd.MultiIndex.from_product([range(6), range(n_src)])
    capacity = pl.DataFrame({
        "commodity": [groups[i][0] for i in range(6) for _ in range(n_src)],
        "year": [groups[i][1] for i in range(6) for _ in range(n_src)],
        "source": np.tile(_keys("S", n_src), 6), "capacity": rng.exponential(60.0, len(ki))})
    demand = pl.DataFrame({
        "commodity": [groups[i][0] for i in range(6) for _ in range(n_snk)],
        "year": [groups[i][1] for i in range(6) for _ in range(n_snk)],
        "sink": np.tile(_keys("T", n_snk), 6), "demand": rng.exponential(400.0, 6 * n_snk)})
    out["sourcing"] = ((volume, volume.rename("sink_volume")), demand, capacity)

    # periods: n/4 accounts × 4 periods in one scenario
    acc = _keys("A", max(n // 4, 1))
    alloc_index = pd.MultiIndex.from_product([acc, [1, 2, 3, 4]], names=["account", "period"])
    step1 = rng.exponential(1.0, len(alloc_index))
    allocation = pd.DataFrame({"request": step1 * 2, "step1": step1,
                               "step2": step1 * 0.1, "allocation": step1 * 1.1},
                              index=alloc_index)
    cap = rng.random(len(acc))
    accounts = pd.DataFrame({"currency": 1.0, "entitlement_share": cap, "lambda": cap * 0.9,
                             "u_cap": cap, "weighted_request": 1.0, "weighted_allocated": 1.0,
                             "binding": rng.choice(["full", "entitlement", "capacity"],
                                                   len(acc))}, index=pd.Index(acc, name="account"))
    used = allocation["allocation"].groupby(level="period").sum().to_numpy()
    periods = pd.DataFrame({"capacity": used * 1.05, "weight": 1.0, "used": used,
                            "utilization": 1 / 1.05, "price": 0.5},
                           index=pd.Index([1, 2, 3, 4], name="period"))
    out["periods"] = (PeriodAllocation(allocation, accounts, periods, 1.0, 0.1, 2,
                                       report=None),)

    # assignment: n users, 1 000 items, ranks 1..12, 3 % unplaced
    items = _keys("I", 1000)
    rank = np.minimum(rng.geometric(0.5, n), 12).astype(float)
    got = rng.integers(0, 1000, n)
    none = rng.random(n) < 0.03
    assignment = pd.DataFrame({"item": pd.array(np.where(none, None, items[got]), dtype="str"),
                               "rank": pd.array(np.where(none, np.nan, rank), dtype="Int64")},
                              index=pd.Index(_keys("U", n), name="user"))
    capacities = pl.DataFrame({"item": items, "capacity": rng.integers(n // 1500 + 1,
                                                                       n // 500 + 2, 1000)})
    out["assignment"] = (assignment, capacities)

    # coverage: n groups, 1 000 resources
    groups_table = pd.DataFrame({
        "population": rng.integers(100, 10_000, n).astype(float),
        "prior": rng.random(n) * 0.5, "weight": rng.integers(1, 6, n).astype(float)},
        index=pd.Index(_keys("G", n), name="group"))
    groups_table["coverage"] = np.minimum(groups_table["prior"] + rng.random(n) * 0.5, 1.0)
    for col in ("shortfall", "allocated", "marginal_value"):
        groups_table[col] = 1.0
    supply = rng.exponential(1e5, 1000)
    resources = pd.DataFrame({"supply": supply, "used": supply * rng.random(1000),
                              "scarce": rng.random(1000) < 0.3,
                              "marginal_value": rng.random(1000)},
                             index=pd.Index(_keys("R", 1000), name="resource"))
    out["coverage"] = (CoverageAllocation(pd.Series(dtype=float), groups_table, resources, 0.0,
                                          report=None),)

    # portions: n keys
    ratios = pd.Series(rng.exponential(1.0, n), index=pd.Index(_keys("K", n), name="key"))
    quota = ratios / ratios.sum() * (10 * n)
    portions = pd.Series(np.floor(quota).astype(np.int64), index=ratios.index, name="portions")
    out["portions"] = (portions, ratios)
    return out


def render(result: tuple) -> bytes:
    """The chart of one result, as PNG bytes."""
    return charts.png_bytes(charts.plot(*result))


def _cpu_seconds(fn, repeats: int) -> float:
    """Median CPU time of this process per call: on a shared machine the wall time also
    counts the waits for a core, CPU time only the work."""
    times = []
    for _ in range(repeats):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return statistics.median(times)


def run(sizes=SIZES, repeats: int | None = None) -> str:
    rows = []
    for n in sizes:
        for name, result in large_results(n).items():
            render(result)  # fonts and caches warm
            k = repeats or REPEATS[n]
            m = measure(lambda r=result: render(r), k)
            cpu = _cpu_seconds(lambda r=result: render(r), k)
            print(f"  {name} {n:,} rows: {fmt_seconds(m.median)} wall, {fmt_seconds(cpu)} CPU",
                  flush=True)
            rows.append((name, f"{n:,}", fmt_seconds(m.median), fmt_seconds(cpu),
                         "yes" if cpu < 1 else "no", k))
    return markdown(("chart", "rows", "figure + PNG, wall (median)", "CPU (median)",
                     "under 1 s of CPU", "runs"), rows)
