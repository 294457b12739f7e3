"""Pipeline tests: helpers to materialise a capability's assets over its partitions."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl

from fairalloc.pipelines.assets import of
from fairalloc.pipelines.io_manager import ParquetIOManager
from fairalloc.pipelines.jobs import range_tags
from fairalloc.pipelines.partitions import GroupSet, group_keys
from fairalloc.pipelines.resources import DataDir
from tests import ROOT

DATA = ROOT / "data"


def register(instance: dg.DagsterInstance, groups: GroupSet, data_dir: Path = DATA) -> list[str]:
    """Register the groups of ``groups``' first input file (as the sensor would); the keys."""
    stem = next(iter(groups.files.values()))
    keys = group_keys(DataDir(path=str(data_dir)).scan(groups.capability, stem)[0], groups.by)
    instance.add_dynamic_partitions(groups.name, keys)
    return list(instance.get_dynamic_partitions(groups.name))


def materialise(module, storage: Path, *, data_dir: Path = DATA, groups: GroupSet | None = None,
                keys: list[str] | None = None, instance: dg.DagsterInstance | None = None,
                **kwargs) -> dg.ExecuteInProcessResult:
    """Materialise ``module``'s assets into ``storage``: a partitioned capability in one run
    over ``keys`` (default: every group of the data, registered first)."""
    instance = instance or dg.DagsterInstance.ephemeral()
    tags = {}
    if groups is not None:
        registered = register(instance, groups, data_dir) if keys is None else keys
        tags = range_tags(registered)
        if keys is not None and len(keys) == 1:
            tags = {}
            kwargs["partition_key"] = keys[0]
    return dg.materialize(
        of(module), instance=instance, tags=tags,
        resources={"io_manager": ParquetIOManager(base_dir=str(storage)),
                   "data_dir": DataDir(path=str(data_dir))},
        **kwargs)


def read(data_dir: Path, capability: str, name: str) -> pl.DataFrame:
    """An input table as stored (a file)."""
    return pl.read_parquet(data_dir / capability / f"{name}.parquet")
