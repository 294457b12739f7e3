"""The Parquet IO manager: round trips, atomic writes, polars and pandas loading."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import polars as pl
import pytest

from fairalloc.pipelines.io_manager import ParquetIOManager, asset_path, write_atomic


def _indexed() -> pd.DataFrame:
    index = pd.MultiIndex.from_tuples([("c", 2024, "A", "X"), ("c", 2025, "B", "Y")],
                                      names=["commodity", "year", "source", "sink"])
    return pd.DataFrame({"source_volume": [1.5, 2.0], "sink_volume": [1.5, 2.5]}, index=index)


def test_multiindex_round_trip_and_keys_first_for_polars(tmp_path):
    path = tmp_path / "t.parquet"
    write_atomic(_indexed(), path)
    pd.testing.assert_frame_equal(pd.read_parquet(path), _indexed())
    assert pl.read_parquet(path).columns[:4] == ["commodity", "year", "source", "sink"]


def test_series_and_plain_frames_round_trip(tmp_path):
    s = _indexed()["sink_volume"]
    write_atomic(s, tmp_path / "s.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "s.parquet"), s.to_frame())
    plain = pd.DataFrame({"a": [1, 2]})
    write_atomic(plain, tmp_path / "p.parquet")
    assert pl.read_parquet(tmp_path / "p.parquet").columns == ["a"]
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "p.parquet"), plain)


def test_outputs_get_the_usual_permissions(tmp_path):
    import os

    umask = os.umask(0o022)
    os.umask(umask)
    write_atomic(_indexed(), tmp_path / "t.parquet")
    assert (tmp_path / "t.parquet").stat().st_mode & 0o777 == 0o666 & ~umask


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "t.parquet"
    write_atomic(_indexed(), path)
    before = path.read_bytes()
    with pytest.raises(TypeError):
        write_atomic({"not": "a table"}, path)  # type: ignore[arg-type]
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.parquet"]


def test_polars_outputs_and_typed_loading(tmp_path):
    manager = ParquetIOManager(base_dir=str(tmp_path))

    @dg.asset
    def upstream() -> pl.DataFrame:
        return pl.DataFrame({"k": ["a", "b"], "v": [1.0, 2.0]})

    @dg.asset
    def as_polars(upstream: pl.DataFrame) -> pl.DataFrame:
        assert isinstance(upstream, pl.DataFrame)
        return upstream

    @dg.asset
    def as_pandas(upstream: pd.DataFrame) -> pd.DataFrame:
        assert isinstance(upstream, pd.DataFrame)
        return upstream.set_index("k")

    result = dg.materialize([upstream, as_polars, as_pandas], resources={"io_manager": manager})
    assert result.success
    assert asset_path(tmp_path, dg.AssetKey(["upstream"])).is_file()
    assert pd.read_parquet(tmp_path / "as_pandas.parquet").index.name == "k"
