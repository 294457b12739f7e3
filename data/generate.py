"""Write fairalloc's sample inputs under data/ (deterministic: fixed seed, sorted rows).

Sourcing (data/sourcing/): a supply-chain-shaped instance. Two commodities × three years are the
groups (``by=["commodity", "year"]``); about 2 000 production regions (sources) and 300 traders
(sinks); about 20 000 region → trader matches. Some regions are asked for far more than they
produce, some for far less, some produce nothing in a year, and a few traders have no match.

Periods (data/periods/): three scenarios of the entitlement allocation, told apart by a
``scenario`` column: ``published`` (4 accounts × 4 periods, the spec's worked example),
``desks`` (20 teams × 3 terms asking for one desk each per term, most of them in term 2) and
``large`` (5 000 accounts × 12 periods, requests of 0–5 units).

Assignment (data/assignment/): three independent registration campaigns told apart by a
``campaign`` column (``by="campaign"``): ``2026-spring`` (1 000 users ranking 3–10 of 50
items), ``2025-autumn`` (400 users, 20 items) and ``2026-autumn`` (600 users, 30 items).
Popular items are ranked far more often; item capacities are in proportion to popularity,
totalling about 90 % of the users; the two least popular items of a campaign are closed
(capacity 0) and one is unlimited (capacity missing).

Coverage (data/coverage/): a vaccine-allocation-shaped instance. 254 regions of varied size
(lognormal) × 5 priority groups P1–P5 (of different population shares) = 1 270 groups keyed
``"R001/P1"``; prior coverage in [0, 0.6), weights 5, 4, 3, 2, 1 by priority group; four
vaccine types, each for some priority groups (``mRNA`` all, ``vector`` P2–P5, ``protein``
P1–P3, ``live`` P4–P5), with a total supply of about 40 % of the uncovered population.

Portions (data/portions/): 30 teams sharing whole on-call shifts by a priority weight of 1–5,
two of them opted out (weight 0); the run config sets the total and the method.

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


def period_tables(rng: np.random.Generator) -> dict[str, pl.DataFrame]:
    """accounts (scenario, account, currency), requests (scenario, account, period, request),
    capacities (scenario, period, capacity)."""
    acc, req, cap = [], [], []

    def add(name, accounts, currency, requests, capacity):
        n, t = requests.shape
        periods = np.arange(1, t + 1)
        acc.append(pl.DataFrame({"scenario": [name] * n, "account": accounts,
                                 "currency": currency.astype(float)}))
        req.append(pl.DataFrame({"scenario": [name] * (n * t),
                                 "account": np.repeat(accounts, t),
                                 "period": pl.Series(np.tile(periods, n), dtype=pl.Int64),
                                 "request": requests.ravel().astype(float)}))
        cap.append(pl.DataFrame({"scenario": [name] * t,
                                 "period": pl.Series(periods, dtype=pl.Int64),
                                 "capacity": capacity.astype(float)}))

    add("published", np.array(list("ABCD")), np.array([400, 300, 200, 100]),
        np.full((4, 4), 50), np.full(4, 120))
    teams = np.array([f"team{i:02d}" for i in range(1, 21)])
    wants = (rng.random((20, 3)) < np.array([0.35, 0.9, 0.4])).astype(int)
    add("desks", teams, rng.integers(1, 11, 20), wants, np.array([8, 10, 8]))
    n, t = 5_000, 12
    large = rng.integers(0, 6, (n, t)) * (rng.random((n, t)) < 0.6)
    large[:, 0] += 1  # every period has demand, so default weights are defined
    add("large", np.array([f"acct{i:05d}" for i in range(n)]), rng.integers(1, 50, n), large,
        np.floor(large.sum(axis=0) * 0.55))
    return {"accounts": pl.concat(acc), "requests": pl.concat(req),
            "capacities": pl.concat(cap)}


#: Independent registration campaigns: (name, users, items). The first is drawn from the shared
#: generator (as when there was one campaign, so the data after it stays the same); the others
#: from generators of their own.
CAMPAIGNS = (("2026-spring", 1_000, 50), ("2025-autumn", 400, 20), ("2026-autumn", 600, 30))


def assignment_tables(rng: np.random.Generator) -> dict[str, pl.DataFrame]:
    """preferences (campaign, user, item, rank) and capacities (campaign, item, capacity;
    null = unlimited), one independent problem per campaign."""
    prefs, caps = [], []
    for i, (name, n_users, n_items) in enumerate(CAMPAIGNS):
        p, c = _campaign(rng if i == 0 else np.random.default_rng([SEED, i]), n_users, n_items)
        prefs.append(p.select(pl.lit(name).alias("campaign"), pl.all()))
        caps.append(c.select(pl.lit(name).alias("campaign"), pl.all()))
    return {"preferences": pl.concat(prefs).sort("campaign", "user", "rank"),
            "capacities": pl.concat(caps).sort("campaign", "item")}


def _campaign(rng: np.random.Generator, n_users: int,
              n_items: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One campaign: users ranking 3–10 items (popular items ranked far more often),
    capacities in proportion to popularity totalling about 90 % of the users, the two least
    popular items closed (capacity 0) and the last one unlimited (capacity missing)."""
    items = np.array([f"item{i:02d}" for i in range(1, n_items + 1)])
    popularity = rng.pareto(1.2, n_items) + 0.1
    # weighted sampling without replacement for every user at once (exponential race keys)
    keys = rng.exponential(size=(n_users, n_items)) / popularity
    order = np.argsort(keys, axis=1)
    k = rng.integers(3, 11, n_users)
    rank = np.tile(np.arange(1, n_items + 1), (n_users, 1))
    keep = rank <= k[:, None]
    users = np.repeat(np.array([f"user{u:04d}" for u in range(1, n_users + 1)]), n_items)
    prefs = pl.DataFrame({"user": users[keep.ravel()],
                          "item": items[order][keep],
                          "rank": pl.Series(rank[keep], dtype=pl.Int64)})
    capacity = np.maximum(1, np.round(popularity / popularity.sum() * n_users * 0.9))
    capacity[np.argsort(popularity)[:2]] = 0  # close the two least popular items
    cap = pl.DataFrame({"item": items, "capacity": pl.Series(capacity, dtype=pl.Int64)})
    cap = cap.with_columns(pl.when(pl.col("item") == items[-1]).then(None)
                           .otherwise(pl.col("capacity")).alias("capacity"))
    return prefs, cap


N_COVERAGE_REGIONS = 254
PRIORITY_SHARES = (0.06, 0.14, 0.20, 0.25, 0.35)  # P1 … P5 of a region's population
PRIORITY_WEIGHTS = (5.0, 4.0, 3.0, 2.0, 1.0)
#: vaccine type → (eligible priority groups, share of the supply)
VACCINES = {"live": ((4, 5), 0.15), "mRNA": ((1, 2, 3, 4, 5), 0.40),
            "protein": ((1, 2, 3), 0.20), "vector": ((2, 3, 4, 5), 0.25)}
SUPPLY_SHARE = 0.40  # of the uncovered population

N_TEAMS = 30


def coverage_tables(rng: np.random.Generator) -> dict[str, pl.DataFrame]:
    """groups (group, population, prior, weight), eligibility (group, resource) and supply
    (resource, supply)."""
    n_p = len(PRIORITY_SHARES)
    size = rng.lognormal(mean=11.0, sigma=1.1, size=N_COVERAGE_REGIONS)
    shares = np.array(PRIORITY_SHARES) * rng.lognormal(0.0, 0.25, (N_COVERAGE_REGIONS, n_p))
    shares /= shares.sum(axis=1, keepdims=True)
    population = np.maximum(1.0, np.round(size[:, None] * shares)).ravel()
    prior = np.floor(rng.uniform(0.0, 0.6, population.size) * 1e4) / 1e4  # stays below 0.6
    names = np.array([f"R{r:03d}/P{p}" for r in range(1, N_COVERAGE_REGIONS + 1)
                      for p in range(1, n_p + 1)])
    priority = np.tile(np.arange(1, n_p + 1), N_COVERAGE_REGIONS)
    groups = pl.DataFrame({"group": names, "population": population, "prior": prior,
                           "weight": np.array(PRIORITY_WEIGHTS)[priority - 1]})
    elig = pl.concat([pl.DataFrame({"group": names[np.isin(priority, eligible)],
                                    "resource": resource})
                      for resource, (eligible, _) in VACCINES.items()])
    uncovered = float((population * (1.0 - prior)).sum())
    share = np.array([s for _, s in VACCINES.values()]) * rng.lognormal(0.0, 0.1, len(VACCINES))
    supply = np.round(share / share.sum() * uncovered * SUPPLY_SHARE)
    return {"groups": groups.sort("group"), "eligibility": elig.sort("group", "resource"),
            "supply": pl.DataFrame({"resource": list(VACCINES), "supply": supply})}


def portion_tables(rng: np.random.Generator) -> dict[str, pl.DataFrame]:
    """ratios (key, ratio): whole-number weights 1–5, two teams at 0."""
    weight = rng.integers(1, 6, N_TEAMS).astype(np.float64)
    weight[rng.choice(N_TEAMS, 2, replace=False)] = 0.0
    return {"ratios": pl.DataFrame({"key": [f"team-{i:02d}" for i in range(1, N_TEAMS + 1)],
                                    "ratio": weight})}


def _group(commodity: str, year: int, **columns: np.ndarray) -> pl.DataFrame:
    n = len(next(iter(columns.values())))
    return pl.DataFrame(
        {"commodity": [commodity] * n, "year": pl.Series([year] * n, dtype=pl.Int64), **columns}
    )


def write(out_dir: Path) -> list[Path]:
    """Write every sample table under ``out_dir``; returns the paths written."""
    rng = np.random.default_rng(SEED)
    written = []
    for capability, tables in (("sourcing", sourcing_tables(rng)),
                               ("periods", period_tables(rng)),
                               ("assignment", assignment_tables(rng)),
                               ("coverage", coverage_tables(rng)),
                               ("portions", portion_tables(rng))):  # new capabilities last
        for name, table in tables.items():
            path = out_dir / capability / f"{name}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            table.write_parquet(path, statistics=False)
            written.append(path)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    for p in write(target):
        print(f"{p}  {pl.read_parquet(p).height} rows  {p.stat().st_size / 1024:.0f} KiB")
