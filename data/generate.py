"""Write fairalloc's sample inputs under data/ (deterministic: fixed seed, sorted rows).

Sourcing (data/sourcing/): a supply-chain-shaped instance. Two commodities × three years are the
groups (``by=["commodity", "year"]``); about 2 000 production regions (sources) and 300 traders
(sinks); about 20 000 region → trader matches. Some regions are asked for far more than they
produce, some for far less, some produce nothing in a year, and a few traders have no match.

Run ``make data`` (or ``python data/generate.py [out_dir]``) to regenerate.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import polars as pl

SEED = 20_261_122
COMMODITIES = ("cocoa", "coffee")
YEARS = (2024, 2025, 2026)
N_REGIONS = 2_000
N_TRADERS = 300
MATCHES_PER_TRADER = 11  # mean; about 20 000 matches over the six groups
UNMATCHED_TRADERS = 4  # per group
ZERO_CAPACITY_SHARE = 0.05


def sourcing_tables(rng: np.random.Generator) -> dict[str, pl.DataFrame]:
    """The three sourcing inputs, sorted by their keys."""
    regions = np.array([f"R{i:04d}" for i in range(1, N_REGIONS + 1)])
    traders = np.array([f"T{i:03d}" for i in range(1, N_TRADERS + 1)])
    # Popular regions are matched far more often: that makes some over-subscribed.
    popularity = rng.pareto(1.5, N_REGIONS) + 0.05
    popularity /= popularity.sum()
    caps, dems, matches = [], [], []
    for commodity in COMMODITIES:
        for year in YEARS:
            capacity = rng.lognormal(mean=6.0, sigma=1.0, size=N_REGIONS).round(1)
            capacity[rng.random(N_REGIONS) < ZERO_CAPACITY_SHARE] = 0.0
            demand = rng.lognormal(mean=8.0, sigma=0.8, size=N_TRADERS).round(1)
            caps.append(_group(commodity, year, source=regions, capacity=capacity))
            dems.append(_group(commodity, year, sink=traders, demand=demand))
            degree = rng.poisson(MATCHES_PER_TRADER - 1, N_TRADERS) + 1
            degree[rng.choice(N_TRADERS, UNMATCHED_TRADERS, replace=False)] = 0
            sink = np.repeat(np.arange(N_TRADERS), degree)
            src = rng.choice(N_REGIONS, size=len(sink), p=popularity)
            matches.append(_group(commodity, year, source=regions[src], sink=traders[sink]))
    keys = ["commodity", "year"]
    return {
        "matches": pl.concat(matches).unique().sort([*keys, "source", "sink"]),
        "source_capacity": pl.concat(caps).sort([*keys, "source"]),
        "sink_demand": pl.concat(dems).sort([*keys, "sink"]),
    }


def _group(commodity: str, year: int, **columns: np.ndarray) -> pl.DataFrame:
    n = len(next(iter(columns.values())))
    return pl.DataFrame(
        {"commodity": [commodity] * n, "year": pl.Series([year] * n, dtype=pl.Int64), **columns}
    )


def write(out_dir: Path) -> list[Path]:
    """Write every sample table under ``out_dir``; returns the paths written."""
    rng = np.random.default_rng(SEED)
    written = []
    for name, table in sourcing_tables(rng).items():
        path = out_dir / "sourcing" / f"{name}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        table.write_parquet(path, statistics=False)
        written.append(path)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    for p in write(target):
        print(f"{p}  {pl.read_parquet(p).height} rows  {p.stat().st_size / 1024:.0f} KiB")
