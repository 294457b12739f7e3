"""The sample-data script: deterministic, the promised shape, what is committed is current."""

from __future__ import annotations

import importlib.util

import polars as pl

from tests import ROOT


def _generate():
    spec = importlib.util.spec_from_file_location("generate", ROOT / "data" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generation_is_deterministic_and_matches_the_committed_files(tmp_path):
    gen = _generate()
    first = {p.relative_to(tmp_path / "a"): p.read_bytes() for p in gen.write(tmp_path / "a")}
    second = {p.relative_to(tmp_path / "b"): p.read_bytes() for p in gen.write(tmp_path / "b")}
    assert first == second
    assert {str(p.parent) for p in first} == {"sourcing", "periods", "assignment", "coverage",
                                              "portions"}
    for rel in first:
        committed = ROOT / "data" / rel
        assert pl.read_parquet(committed).equals(pl.read_parquet(tmp_path / "a" / rel)), rel


def test_sample_has_the_promised_shape():
    base = ROOT / "data" / "sourcing"
    m = pl.read_parquet(base / "matches.parquet")
    cap = pl.read_parquet(base / "source_capacity.parquet")
    dem = pl.read_parquet(base / "sink_demand.parquet")
    assert 15_000 <= m.height <= 25_000
    assert cap["source"].n_unique() == 2_000 and dem["sink"].n_unique() == 300
    assert m.select("commodity", "year").unique().height == 6
    assert (cap["capacity"] == 0).sum() > 0
    keys = ["commodity", "year", "sink"]
    assert dem.join(m.select(keys).unique(), on=keys, how="anti").height > 0  # unmatched sinks
    assert sum(p.stat().st_size for p in base.glob("*.parquet")) < 5 * 2**20


def test_period_scenarios_have_the_promised_shape():
    base = ROOT / "data" / "periods"
    acc = pl.read_parquet(base / "accounts.parquet")
    req = pl.read_parquet(base / "requests.parquet")
    sizes = acc.group_by("scenario").len().sort("scenario")
    assert dict(sizes.iter_rows()) == {"desks": 20, "large": 5_000, "published": 4}
    periods = req.group_by("scenario").agg(pl.col("period").n_unique()).sort("scenario")
    assert dict(periods.iter_rows()) == {"desks": 3, "large": 12, "published": 4}
    desks = req.filter(pl.col("scenario") == "desks").group_by("period").agg(
        pl.col("request").sum()).sort("period")["request"].to_list()
    assert desks[1] == max(desks)  # most demand falls in term 2


def test_assignment_sample_has_the_promised_shape():
    base = ROOT / "data" / "assignment"
    prefs = pl.read_parquet(base / "preferences.parquet")
    caps = pl.read_parquet(base / "capacities.parquet")
    # three independent campaigns: (users, items) each
    users = dict(prefs.group_by("campaign").agg(pl.col("user").n_unique()).iter_rows())
    items = dict(caps.group_by("campaign").len().iter_rows())
    assert users == {"2026-spring": 1_000, "2025-autumn": 400, "2026-autumn": 600}
    assert items == {"2026-spring": 50, "2025-autumn": 20, "2026-autumn": 30}
    per_user = prefs.group_by("campaign", "user").len()["len"]
    assert per_user.min() >= 3 and per_user.max() <= 10
    for campaign, n_users in users.items():
        mine = caps.filter(pl.col("campaign") == campaign)["capacity"]
        assert mine.sum() < n_users  # tight
        assert mine.null_count() == 1 and (mine == 0).sum() == 2


def test_coverage_sample_has_the_promised_shape():
    base = ROOT / "data" / "coverage"
    groups = pl.read_parquet(base / "groups.parquet")
    elig = pl.read_parquet(base / "eligibility.parquet")
    supply = pl.read_parquet(base / "supply.parquet")
    assert groups.height == 1_270 and groups["group"].n_unique() == 1_270
    assert groups["group"].str.slice(0, 4).n_unique() == 254
    assert groups["prior"].min() >= 0 and groups["prior"].max() < 0.6
    priority = groups.with_columns(pl.col("group").str.slice(5).alias("p"))
    weights = priority.group_by("p").agg(pl.col("weight").unique()).sort("p")
    assert weights["weight"].to_list() == [[5.0], [4.0], [3.0], [2.0], [1.0]]
    served = elig.with_columns(pl.col("group").str.slice(5).alias("p")).group_by(
        "resource").agg(pl.col("p").unique().sort())
    assert dict(served.sort("resource").iter_rows()) == {
        "live": ["P4", "P5"], "mRNA": ["P1", "P2", "P3", "P4", "P5"],
        "protein": ["P1", "P2", "P3"], "vector": ["P2", "P3", "P4", "P5"]}
    uncovered = (groups["population"] * (1 - groups["prior"])).sum()
    assert 0.35 <= supply["supply"].sum() / uncovered <= 0.45


def test_portion_sample_has_the_promised_shape():
    ratios = pl.read_parquet(ROOT / "data" / "portions" / "ratios.parquet")
    assert ratios.columns == ["key", "ratio"] and ratios.height == 30
    assert ratios["key"].n_unique() == 30
    assert (ratios["ratio"] == 0).sum() == 2
    assert set(ratios.filter(pl.col("ratio") > 0)["ratio"].to_list()) <= {1.0, 2.0, 3.0, 4.0, 5.0}
