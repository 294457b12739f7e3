"""The Parquet IO manager: round trips, atomic writes, polars and pandas loading."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import polars as pl
import pytest

from fairalloc.pipelines.io_manager import (
    ParquetIOManager,
    asset_path,
    partition_path,
    write_atomic,
)
from fairalloc.pipelines.outputs import list_outputs, load_output
from fairalloc.pipelines.partitions import PARTITION_BY


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


# --- partitions (a file per partition key, Hive-style folders) ---------------------------------

GROUPS = dg.DynamicPartitionsDefinition(name="test_groups")


def _partitioned(frame: pd.DataFrame):
    @dg.asset(partitions_def=GROUPS, backfill_policy=dg.BackfillPolicy.single_run(),
              metadata={PARTITION_BY: ["commodity", "year"]})
    def table() -> pd.DataFrame:
        return frame

    @dg.asset(partitions_def=GROUPS, backfill_policy=dg.BackfillPolicy.single_run())
    def reader(table: pd.DataFrame) -> None:
        assert table.index.names == ["commodity", "year", "source", "sink"]
        assert len(table) == 2

    return [table, reader]


def test_a_multi_partition_output_is_split_per_partition_and_read_back(tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("test_groups", ["c|2024", "c|2025"])
    result = dg.materialize(_partitioned(_indexed()), instance=instance,
                            resources={"io_manager": ParquetIOManager(base_dir=str(tmp_path))},
                            tags={"dagster/asset_partition_range_start": "c|2024",
                                  "dagster/asset_partition_range_end": "c|2025"})
    assert result.success
    first = partition_path(tmp_path, "table", ["commodity", "year"], "c|2024")
    assert first == tmp_path / "table" / "commodity=c" / "year=2024" / "part-0.parquet"
    pd.testing.assert_frame_equal(pd.read_parquet(first), _indexed().iloc[:1])
    assert list_outputs(tmp_path) == ["table"]
    pd.testing.assert_frame_equal(load_output("table", tmp_path), _indexed())


def test_a_group_outside_the_runs_partitions_is_refused_and_nothing_written(tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("test_groups", ["c|2024", "c|2025"])
    result = dg.materialize(_partitioned(_indexed()), instance=instance, partition_key="c|2024",
                            resources={"io_manager": ParquetIOManager(base_dir=str(tmp_path))},
                            raise_on_error=False, selection=["table"])
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "c|2025" in str(failure.step_failure_data.error)
    assert not list(tmp_path.rglob("*.parquet"))
