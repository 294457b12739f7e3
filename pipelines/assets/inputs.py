"""Factory for input assets: load `<data dir>/<capability>/<name>.parquet`, validate it."""


from typing import Any

import dagster as dg
import polars as pl

from fairalloc.pipelines.metadata import ownership, shown, table_metadata, validate
from fairalloc.pipelines.resources import DataDir


def parquet_input(
    name: str, capability: str, model: Any, description: str, total: str | None = None,
    file: str | None = None,
) -> dg.AssetsDefinition:
    """An asset ``name`` in group ``capability`` reading and validating one input table.

    It reads ``<data dir>/<capability>/<file or name>.parquet``. A table that fails ``model``
    stops the run with the failing rows shown, so no downstream asset runs on bad input.
    ``total`` names a column whose sum is shown as metadata.
    """

    @dg.asset(name=name, group_name=capability, description=description, kinds={"parquet"},
              **ownership(capability))
    def _load(context: dg.AssetExecutionContext, data_dir: DataDir) -> pl.DataFrame:
        path = data_dir.file(capability, file or name)
        frame = validate(pl.read_parquet(path), model, name)
        meta = {**table_metadata(frame, model), "source_file": str(path)}
        if total:
            meta[f"total_{total}"] = shown(float(frame[total].sum()))
        context.add_output_metadata(meta)
        return frame

    return _load
