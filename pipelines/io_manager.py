"""Our Parquet IO manager: atomic writes, pandas MultiIndex preserved, polars frames accepted.

Every asset is one file ``<base_dir>/<asset key path>.parquet``. pandas objects are written
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
        path = asset_path(self.base_dir, context.asset_key)
        write_atomic(obj, path)
        context.add_output_metadata({"path": dg.MetadataValue.path(str(path))})

    def load_input(self, context: dg.InputContext) -> Any:
        path = asset_path(self.base_dir, context.asset_key)
        if not path.is_file():
            raise FileNotFoundError(f"asset {context.asset_key.to_user_string()} not at {path}")
        if context.dagster_type.typing_type is pl.DataFrame:
            return pl.read_parquet(path)
        return pd.read_parquet(path)
