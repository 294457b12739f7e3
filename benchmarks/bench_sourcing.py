"""Sourcing end to end (DataFrames with string keys in → indexed Series out) against references.

References, each the same rule on the same pandas tables, measured in the same run:

* ``pandas``: merges, then ``groupby(...).transform("sum")`` for the per-sink and per-source
  totals, then ``set_index`` and ``sort_index`` for the same (source, sink)-indexed result.
* ``polars lazy`` (direct sourcing only): the rule written natively in polars — one lazy query
  of joins and window sums (``.over``) from the same tables (read with ``pl.from_pandas``, as
  fairalloc reads them), collected to a polars DataFrame of both volumes per match. It does less
  than fairalloc: its rows come in whatever order polars leaves them (no sort) and no pandas
  object is built.
* ``polars lazy + pandas index``: the same query sorted by (source, sink), turned into the two
  pandas Series on a (source, sink) MultiIndex that fairalloc returns.

Above :data:`PANDAS_UP_TO` matches (the 10^7 row) only ``polars lazy`` runs, against
``direct_sourcing``.

Every reference must give fairalloc's numbers (``allclose``, 1e-9 relative) on the same matches
before anything is timed. Direct sourcing runs with a relative tolerance of 0.1, so all three
steps of the rule (proportional split, scale-down, tolerance) are exercised.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl

from benchmarks.harness import fmt_seconds, markdown, measure_together
from fairalloc.transforms.sourcing import direct_sourcing, proportional_sourcing

SIZES = (100_000, 1_000_000, 10_000_000)
REPEATS = {100_000: 5, 1_000_000: 9, 10_000_000: 3}
TOL = 0.1
#: Beyond this many matches only the polars lazy reference runs (the pandas ones and the
#: pandas index take minutes and gigabytes there, and the target is against polars lazy).
PANDAS_UP_TO = 1_000_000


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


def pandas_direct_reference(matches, capacity, demand) -> tuple[pd.Series, pd.Series]:
    m = pandas_proportional(matches, capacity, demand)
    requested = m.groupby("source")["flow"].transform("sum")
    over = requested > m["capacity"]
    m["source_volume"] = np.where(over, m["flow"] * (m["capacity"] / requested.where(over, 1)),
                                  m["flow"])
    exhausted = ((1 - TOL) * requested >= m["capacity"]) & (m["source_volume"] > 0)
    m["sink_volume"] = np.where(exhausted, m["source_volume"] / (1 - TOL), m["source_volume"])
    m = m.set_index(["source", "sink"]).sort_index()
    return m["source_volume"], m["sink_volume"]


def pandas_proportional_reference(matches, capacity, demand) -> pd.Series:
    m = pandas_proportional(matches, capacity, demand)
    return m.set_index(["source", "sink"])["flow"].sort_index()


def polars_direct_query(matches, capacity, demand) -> pl.LazyFrame:
    """Direct sourcing (SPEC §1 steps 1–3) as one polars lazy query of joins and window sums."""
    flow, cap, req = pl.col("flow"), pl.col("capacity"), pl.col("requested")
    volume = pl.col("source_volume")
    return (
        pl.from_pandas(matches).lazy().unique()  # duplicate matches collapse to one
        .join(pl.from_pandas(capacity).lazy(), on="source")
        .join(pl.from_pandas(demand).lazy(), on="sink")
        # 1. each sink's demand in proportion to its sources' capacities (none: 0)
        .with_columns(total=cap.sum().over("sink"))
        .with_columns(flow=pl.when(pl.col("total") > 0)
                      .then(pl.col("demand") * cap / pl.col("total")).otherwise(0.0))
        # 2. sources asked for more than their capacity scale their flows down
        .with_columns(requested=flow.sum().over("source"))
        .with_columns(source_volume=pl.when(req > cap).then(flow * (cap / req)).otherwise(flow))
        # 3. still exhausted at demand × (1 − tol): the sink counts volume / (1 − tol)
        .with_columns(sink_volume=pl.when(((1 - TOL) * req >= cap) & (volume > 0))
                      .then(volume / (1 - TOL)).otherwise(volume))
        .select("source", "sink", "source_volume", "sink_volume")
    )


def polars_direct_reference(matches, capacity, demand) -> pl.DataFrame:
    return polars_direct_query(matches, capacity, demand).collect()


def polars_pandas_direct_reference(matches, capacity, demand) -> tuple[pd.Series, pd.Series]:
    out = polars_direct_query(matches, capacity, demand).sort("source", "sink").collect()
    index = pd.MultiIndex.from_arrays([out["source"].to_pandas(), out["sink"].to_pandas()])
    return (pd.Series(out["source_volume"].to_numpy(), index=index, name="source_volume"),
            pd.Series(out["sink_volume"].to_numpy(), index=index, name="sink_volume"))


def _same(ours: tuple[pd.Series, ...], ref: tuple[pd.Series, ...], name: str) -> None:
    for a, b in zip(ours, ref, strict=True):
        np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), rtol=1e-9, err_msg=name)
        assert a.index.equals(b.index), f"{name}: fairalloc and the reference disagree"


def _check_references(matches, cap, dem, with_pandas: bool = True) -> None:
    """Every reference gives fairalloc's answer on these inputs (else the timing means nothing)."""
    ours = direct_sourcing(matches, cap, dem, relative_tolerance=TOL)
    plain = polars_direct_reference(matches, cap, dem).sort("source", "sink")  # order aside
    _same(ours, tuple(pd.Series(plain[c].to_numpy(), index=ours[0].index)
                      for c in ("source_volume", "sink_volume")), "polars lazy")
    del plain
    if not with_pandas:
        return
    _same(ours, pandas_direct_reference(matches, cap, dem), "pandas direct")
    _same(ours, polars_pandas_direct_reference(matches, cap, dem), "polars + pandas index")
    prop = proportional_sourcing(matches, dem, cap, on_zero_capacity="zero")
    _same((prop,), (pandas_proportional_reference(matches, cap, dem),), "pandas proportional")


def bench_size(m: int, repeats: int) -> list[tuple]:
    """Rows of the table for M = ``m`` matches (inputs freed when it returns)."""
    matches, cap, dem = make_inputs(m)
    with_pandas = m <= PANDAS_UP_TO
    _check_references(matches, cap, dem, with_pandas)
    direct = lambda: direct_sourcing(matches, cap, dem, relative_tolerance=TOL)  # noqa: E731
    # the pandas reference gives sinks whose sources all have capacity 0 nothing: so do we here
    proportional = lambda: proportional_sourcing(  # noqa: E731
        matches, dem, cap, on_zero_capacity="zero")
    refs = {name: (lambda f=fn: f(matches, cap, dem)) for name, fn in (
        ("polars lazy", polars_direct_reference),
        ("polars lazy + pandas index", polars_pandas_direct_reference),
        ("pandas", pandas_direct_reference),
        ("pandas proportional", pandas_proportional_reference),
    ) if with_pandas or name == "polars lazy"}
    ours_fns = {"direct": direct, "proportional": proportional} if with_pandas else \
        {"direct": direct}
    # timed calls interleaved: a busy spell of the shared machine slows all of them alike
    names = [*ours_fns, *refs]
    got = dict(zip(names, measure_together([*ours_fns.values(), *refs.values()], repeats,
                                           memory=True), strict=True))
    rows = []
    for name, ours, ref_name in (
        ("direct_sourcing", "direct", "polars lazy"),
        ("direct_sourcing", "direct", "polars lazy + pandas index"),
        ("direct_sourcing", "direct", "pandas"),
        ("proportional_sourcing", "proportional", "pandas proportional"),
    ):
        if ref_name not in got:
            continue
        a, b = got[ours], got[ref_name]
        rows.append((name, f"{m:,}", fmt_seconds(a.median), f"{a.peak_mb:,.0f} MB",
                     ref_name.removesuffix(" proportional"), fmt_seconds(b.median),
                     f"{b.peak_mb:,.0f} MB", f"{b.median / a.median:.1f}×", repeats))
        print(f"  {name} M={m:,}: ours {fmt_seconds(a.median)}, {ref_name} "
              f"{fmt_seconds(b.median)}", flush=True)
    return rows


def run(sizes=SIZES, repeats: int | None = None) -> str:
    """The Markdown table for ``sizes`` (repeats per size from REPEATS unless given)."""
    rows = [row for m in sizes for row in bench_size(m, repeats or REPEATS.get(m, 3))]
    headers = ("transform", "matches", "fairalloc (median)", "fairalloc peak", "reference",
               "reference (median)", "reference peak", "speed-up", "runs")
    return markdown(headers, rows)
