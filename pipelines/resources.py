"""Resources of the code location: where inputs are read and where outputs are stored."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
from pydantic import Field

#: The repository root (the project is installed in editable mode from it).
ROOT = Path(__file__).resolve().parents[1]


def default_data_dir() -> str:
    """``$FAIRALLOC_DATA_DIR`` or the repository's ``data/``."""
    return os.environ.get("FAIRALLOC_DATA_DIR", str(ROOT / "data"))


def default_storage_dir() -> str:
    """``$DAGSTER_HOME/storage`` or the repository's ``dagster_home/storage``."""
    home = os.environ.get("DAGSTER_HOME", str(ROOT / "dagster_home"))
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
