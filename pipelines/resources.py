"""Resources of the code location: where inputs are read and where outputs are stored."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
from pydantic import Field

#: Where input tables are read from, unless the ``DataDir`` resource is configured otherwise.
DATA_DIR_VARIABLE = "FAIRALLOC_DATA_DIR"
#: Where outputs are stored: a local folder or any fsspec URL (``s3://bucket/prefix``, ``gs://…``,
#: ``memory://…``), unless the ``io_manager`` resource is configured otherwise.
STORAGE_VARIABLE = "FAIRALLOC_STORAGE"
#: fsspec options of that storage, as one JSON object (``{"endpoint_url": "http://…"}``).
STORAGE_OPTIONS_VARIABLE = "FAIRALLOC_STORAGE_OPTIONS"


def default_data_dir() -> str:
    """``$FAIRALLOC_DATA_DIR``, else ``data/`` in the working directory.

    The package never looks for its own source tree: an installed wheel has none. The
    repository's Makefile sets ``FAIRALLOC_DATA_DIR`` to its ``data/`` (the sample data), and
    ``DAGSTER_HOME`` to its ``dagster_home/``.
    """
    return os.environ.get(DATA_DIR_VARIABLE) or str(Path.cwd() / "data")


def default_storage_dir() -> str:
    """``$FAIRALLOC_STORAGE`` (a folder or fsspec URL), else ``$DAGSTER_HOME/storage``, else
    ``dagster_home/storage`` in the working directory."""
    if os.environ.get(STORAGE_VARIABLE):
        return os.environ[STORAGE_VARIABLE]
    home = os.environ.get("DAGSTER_HOME") or str(Path.cwd() / "dagster_home")
    return str(Path(home) / "storage")


def default_storage_options() -> dict[str, Any]:
    """The JSON object in ``$FAIRALLOC_STORAGE_OPTIONS``, else no options.

    Credentials belong where the file system's library looks for them (for s3: the
    ``AWS_*`` variables or ``~/.aws``), not in this variable.
    """
    raw = os.environ.get(STORAGE_OPTIONS_VARIABLE, "").strip()
    if not raw:
        return {}
    try:
        options = json.loads(raw)
    except json.JSONDecodeError as err:
        raise ValueError(f"${STORAGE_OPTIONS_VARIABLE} is not JSON: {err}") from None
    if not isinstance(options, dict):
        raise ValueError(f"${STORAGE_OPTIONS_VARIABLE} must be a JSON object, not {raw!r}")
    return options


class DataDir(dg.ConfigurableResource):
    """The directory holding each capability's input tables (``<dir>/<capability>/``): each
    one Parquet file ``<name>.parquet`` or a Hive-partitioned folder ``<name>/`` (e.g.
    ``matches/commodity=cocoa/year=2024/part-0.parquet``)."""

    path: str = Field(default_factory=default_data_dir)  # type: ignore[assignment]

    def file(self, capability: str, name: str) -> Path:
        """Path of input table ``name`` of ``capability``; a clear error if it is missing."""
        path = Path(self.path) / capability / f"{name}.parquet"
        if not path.is_file():
            raise FileNotFoundError(f"input table {name!r} not found at {path}")
        return path

    def source(self, capability: str, name: str) -> Path:
        """Where input table ``name`` of ``capability`` is: the file ``<name>.parquet``, else
        the Hive folder ``<name>/``; a clear error naming both when neither exists."""
        folder = Path(self.path) / capability / name
        file = folder.with_name(f"{name}.parquet")
        if file.is_file():
            return file
        if folder.is_dir():
            return folder
        raise FileNotFoundError(f"input table {name!r} not found at {file} (nor a Hive folder "
                                f"{folder}/)")

    def scan(self, capability: str, name: str) -> tuple[pl.LazyFrame, Path]:
        """A lazy scan of input table ``name`` (file or Hive folder) and its path: filters on
        it are pushed down to the Parquet reader (row groups, and a Hive folder's files)."""
        path = self.source(capability, name)
        if path.is_dir():
            return pl.scan_parquet(path, hive_partitioning=True), path
        return pl.scan_parquet(path), path
