"""Resources of the code location: where inputs are read and where outputs are stored."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
from pydantic import Field

#: Where input tables are read from, unless the ``DataDir`` resource is configured otherwise.
DATA_DIR_VARIABLE = "FAIRALLOC_DATA_DIR"


def default_data_dir() -> str:
    """``$FAIRALLOC_DATA_DIR``, else ``data/`` in the working directory.

    The package never looks for its own source tree: an installed wheel has none. The
    repository's Makefile sets ``FAIRALLOC_DATA_DIR`` to its ``data/`` (the sample data), and
    ``DAGSTER_HOME`` to its ``dagster_home/``.
    """
    return os.environ.get(DATA_DIR_VARIABLE) or str(Path.cwd() / "data")


def default_storage_dir() -> str:
    """``$DAGSTER_HOME/storage``, else ``dagster_home/storage`` in the working directory."""
    home = os.environ.get("DAGSTER_HOME") or str(Path.cwd() / "dagster_home")
    return str(Path(home) / "storage")


class DataDir(dg.ConfigurableResource):
    """The directory holding each capability's input Parquet files (``<dir>/<capability>/``)."""

    path: str = Field(default_factory=default_data_dir)  # type: ignore[assignment]

    def file(self, capability: str, name: str) -> Path:
        """Path of input table ``name`` of ``capability``; a clear error if it is missing."""
        path = Path(self.path) / capability / f"{name}.parquet"
        if not path.is_file():
            raise FileNotFoundError(f"input table {name!r} not found at {path}")
        return path
