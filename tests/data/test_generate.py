"""The sample-data script: deterministic, the promised shape, what is committed is current."""

from __future__ import annotations

import importlib.util

import polars as pl

from pipelines.resources import ROOT


def _generate():
    spec = importlib.util.spec_from_file_location("generate", ROOT / "data" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generation_is_deterministic_and_matches_the_committed_files(tmp_path):
    gen = _generate()
    first = {p.name: p.read_bytes() for p in gen.write(tmp_path / "a")}
    second = {p.name: p.read_bytes() for p in gen.write(tmp_path / "b")}
    assert first == second
    for name in first:
        committed = ROOT / "data" / "sourcing" / name
        assert pl.read_parquet(committed).equals(pl.read_parquet(tmp_path / "a" / "sourcing" /
                                                                 name)), name


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
