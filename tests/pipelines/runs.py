"""Running the code location's jobs as a deployment does, for the executor tests.

The run is reconstructed from the module ``fairalloc.pipelines`` (as ``dagster job execute -m``
does), so step processes and Celery workers can load it; the instance is a persistent one in a
temporary ``DAGSTER_HOME``; storage and data folders are passed in run config, so the result does
not depend on the environment a worker or fork server was started with.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
from dagster._core.definitions.reconstruct import ReconstructableRepository

from fairalloc.pipelines import load_output
from tests import ROOT

DATA = ROOT / "data"


def run_config(storage: Path, ops: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Run config storing under ``storage`` and reading the sample data, plus ``ops`` config."""
    return {
        "resources": {"io_manager": {"config": {"base_dir": str(storage)}},
                      "data_dir": {"config": {"path": str(DATA)}}},
        "ops": dict(ops or {}),
    }


def execute(job_name: str, home: Path, selection: dg.AssetSelection, config: Mapping[str, Any],
            tags: Mapping[str, str] | None = None,
            partitions: Mapping[str, Sequence[str]] | None = None,
            ) -> tuple[dg.ExecutionResult, set[str]]:
    """Run ``selection`` with the job ``job_name`` of ``fairalloc.pipelines`` in the instance at
    ``home``; the result and the names of the assets it materialised.

    ``partitions`` registers dynamic partition keys (definition name → keys) in the instance
    first; ``tags`` carry a partition or a partition range
    (``dagster/asset_partition_range_start`` / ``_end``) for a single-run backfill.
    """
    repository = ReconstructableRepository.for_module("fairalloc.pipelines", "defs", os.getcwd())
    job = repository.get_reconstructable_job(job_name)
    asset_graph = repository.get_definition().asset_graph
    keys = selection.resolve(asset_graph)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for name, partition_keys in (partitions or {}).items():
            instance.add_dynamic_partitions(name, list(partition_keys))
        result = dg.execute_job(job, instance, run_config=dict(config),
                                asset_selection=sorted(keys), tags=dict(tags or {}))
        stored = {e.asset_key.to_user_string()
                  for e in result.get_asset_materialization_events()}
        return result, stored


def assert_same_tables(names: set[str], storage: Path, reference: Path) -> None:
    """Every table in ``names`` is stored identically under ``storage`` and ``reference``."""
    assert names
    for name in sorted(names):
        pd.testing.assert_frame_equal(load_output(name, storage=storage),
                                      load_output(name, storage=reference),
                                      obj=name)
