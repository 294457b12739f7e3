"""Find materialised tables by asset name: ``load_output("direct_sourcing")`` in a notebook.

``fairalloc outputs`` (the command line) lists every stored table with its path and row count.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fairalloc.pipelines.io_manager import asset_path
from fairalloc.pipelines.resources import default_storage_dir


def output_path(name: str, storage_dir: str | Path | None = None) -> Path:
    """Where asset ``name`` is stored (``$DAGSTER_HOME/storage/<name>.parquet`` by default; a
    partitioned asset: the folder ``<name>/`` of its partitions).

    Parameters
    ----------
    name : str
        The asset's name.
    storage_dir : str or pathlib.Path, optional
        The storage folder; default ``$DAGSTER_HOME/storage``.

    Returns
    -------
    pathlib.Path
        The Parquet file (or folder of partitions) of the asset (it may not exist yet).
    """
    base = storage_dir or default_storage_dir()
    folder = Path(base) / name
    return folder if folder.is_dir() else asset_path(base, name)


def load_output(name: str, storage_dir: str | Path | None = None) -> pd.DataFrame:
    """The materialised table of asset ``name`` as pandas, with its MultiIndex.

    Raises ``FileNotFoundError`` naming the stored assets when ``name`` is not among them.

    Parameters
    ----------
    name : str
        The asset's name.
    storage_dir : str or pathlib.Path, optional
        The storage folder; default ``$DAGSTER_HOME/storage``.

    Returns
    -------
    pandas.DataFrame
        The stored table (a partitioned asset: all its partitions as one table).

    Raises
    ------
    FileNotFoundError
        ``name`` is not stored; the message lists the stored assets.
    """
    path = output_path(name, storage_dir)
    if path.is_dir():  # partitions, Hive-style: the key columns are inside the files too
        return pd.read_parquet(path, partitioning=None)
    if not path.is_file():
        known = ", ".join(list_outputs(storage_dir)) or "none yet: run `make run`"
        raise FileNotFoundError(f"no materialised asset {name!r} at {path} (stored: {known})")
    return pd.read_parquet(path)


def list_outputs(storage_dir: str | Path | None = None) -> list[str]:
    """Names of the stored assets, sorted.

    Parameters
    ----------
    storage_dir : str or pathlib.Path, optional
        The storage folder; default ``$DAGSTER_HOME/storage``.

    Returns
    -------
    list of str
        Asset names (empty when the folder does not exist).
    """
    base = Path(storage_dir or default_storage_dir())
    if not base.is_dir():
        return []
    files = [p.stem for p in base.glob("*.parquet")]
    folders = [p.name for p in base.iterdir() if p.is_dir() and next(p.rglob("*.parquet"), None)]
    return sorted(files + folders)
