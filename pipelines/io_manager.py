"""Our Parquet IO manager: atomic writes, pandas MultiIndex preserved, polars frames accepted.

Every unpartitioned asset is one file ``<base_dir>/<asset key path>.parquet``; a partitioned
one (metadata :data:`~fairalloc.pipelines.partitions.PARTITION_BY`) one file per partition,
``<base_dir>/<asset>/<col>=<value>/…/part-0.parquet``. pandas objects are written
with their index (a Series becomes a one-column table), so ``pandas.read_parquet(path)`` gives
the same table back; polars frames are written as they are. Writes go to a temporary file in the
same directory, then ``os.replace`` it over the target, so readers never see half a file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import Field

from fairalloc.pipelines.partitions import PARTITION_BY, partition_key, partition_values
from fairalloc.pipelines.resources import default_storage_dir
from fairalloc.transforms._files import write_atomic as atomic


def asset_path(base_dir: str | os.PathLike, key: dg.AssetKey | str) -> Path:
    """Where the asset ``key`` is stored below ``base_dir``."""
    parts = key.path if isinstance(key, dg.AssetKey) else [key]
    return Path(base_dir).joinpath(*parts[:-1], f"{parts[-1]}.parquet")


def write_atomic(
    obj: pd.DataFrame | pd.Series | pl.DataFrame | pl.LazyFrame, path: Path
) -> None:
    """Write ``obj`` to ``path`` as Parquet through a temporary file, fsync, and a rename
    (:func:`fairalloc.transforms._files.write_atomic`)."""
    if isinstance(obj, pl.LazyFrame):
        obj = obj.collect()
    if not isinstance(obj, pl.DataFrame | pd.Series | pd.DataFrame):
        raise TypeError(f"cannot store {type(obj).__name__} as Parquet")
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(obj, pl.DataFrame):
        atomic(path, obj.write_parquet)
    else:
        table = _arrow(obj)
        atomic(path, lambda tmp: pq.write_table(table, tmp))


def _arrow(obj: pd.DataFrame | pd.Series) -> pa.Table:
    """The pandas table as Arrow, index levels first (as polars readers expect keys)."""
    frame = obj.to_frame() if isinstance(obj, pd.Series) else obj.copy(deep=False)
    frame.attrs = {}  # reports are not JSON: the asset metadata carries them
    table = pa.Table.from_pandas(frame, preserve_index=None)
    n_data = len(frame.columns)
    names = table.column_names
    return table.select(names[n_data:] + names[:n_data])


class ParquetIOManager(dg.ConfigurableIOManager):
    """Stores each asset as Parquet under ``base_dir`` (default ``$DAGSTER_HOME/storage``).

    Inputs annotated as ``polars.DataFrame`` load with polars; anything else loads with pandas,
    with its MultiIndex.
    """

    base_dir: str = Field(default_factory=default_storage_dir)  # type: ignore[assignment]

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        by = _partition_by(context.definition_metadata)
        if by is not None and context.has_asset_partitions:
            paths = _write_partitions(self.base_dir, context, obj, by)
            context.add_output_metadata({"path": dg.MetadataValue.path(str(paths[0].parent)),
                                         "partition_files": len(paths)})
            return
        path = asset_path(self.base_dir, context.asset_key)
        write_atomic(obj, path)
        context.add_output_metadata({"path": dg.MetadataValue.path(str(path))})

    def load_input(self, context: dg.InputContext) -> Any:
        polars = context.dagster_type.typing_type is pl.DataFrame
        upstream = context.upstream_output
        by = _partition_by(upstream.definition_metadata if upstream else None)
        if by is not None and context.has_asset_partitions:
            paths = [partition_path(self.base_dir, context.asset_key, by, key)
                     for key in context.asset_partition_keys]
        else:
            paths = [asset_path(self.base_dir, context.asset_key)]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise FileNotFoundError(f"asset {context.asset_key.to_user_string()} not at "
                                    f"{', '.join(missing[:5])}")
        if polars:
            return pl.concat([pl.read_parquet(p) for p in paths], how="vertical_relaxed")
        frames = [pd.read_parquet(p) for p in paths]
        return frames[0] if len(frames) == 1 else pd.concat(frames)


# --- partitions (interim: a file per partition key, Hive-style folders) ------------------------
# Kept minimal until the storage is rebuilt on UPathIOManager (which splits a multi-partition
# frame the same way and writes provenance); only this section knows the layout.

def _partition_by(metadata: Any) -> list[str] | None:
    value = (metadata or {}).get(PARTITION_BY)
    value = getattr(value, "value", value)
    return list(value) if value else None


def partition_path(base_dir: str | os.PathLike, key: dg.AssetKey | str, by: list[str],
                   partition: str) -> Path:
    """The file of one partition: ``<base>/<asset>/<col>=<value>/…/part-0.parquet``."""
    parts = key.path if isinstance(key, dg.AssetKey) else [key]
    hive = [f"{c}={v}" for c, v in zip(by, partition_values(partition), strict=True)]
    return Path(base_dir).joinpath(*parts, *hive, "part-0.parquet")


def _write_partitions(base_dir: str, context: dg.OutputContext, obj: Any,
                      by: list[str]) -> list[Path]:
    """Split ``obj`` by its ``by`` columns (or index levels) into the run's partitions and write
    each atomically; a group outside the run's partitions is an error (nothing is written)."""
    if isinstance(obj, pl.LazyFrame):
        obj = obj.collect()
    if isinstance(obj, pl.DataFrame):
        parts = {partition_key(k): v for k, v in obj.partition_by(by, as_dict=True).items()}
        empty = obj.clear()
    else:
        frame = obj.to_frame() if isinstance(obj, pd.Series) else obj
        parts = {partition_key(k if isinstance(k, tuple) else (k,)): v
                 for k, v in frame.groupby(level=by, sort=False, observed=True)}
        empty = frame.iloc[:0]
    keys = list(context.asset_partition_keys)
    stray = sorted(set(parts) - set(keys))
    if stray:
        raise ValueError(f"{context.asset_key.to_user_string()}: groups {stray[:10]} are not "
                         f"among the run's partitions")
    paths = []
    for key in keys:
        path = partition_path(base_dir, context.asset_key, by, key)
        write_atomic(parts.get(key, empty), path)
        paths.append(path)
    return paths
