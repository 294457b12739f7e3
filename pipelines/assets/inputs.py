"""Input assets: each input file observed as an external asset, and an asset that reads it.

``<name>_file`` is the file (or Hive folder) itself, an observable source asset whose data
version is a content fingerprint (per group when partitioned: a change in one group's rows
changes only that partition's version). ``<name>`` reads it — only its partitions' groups, by a
filter pushed down to the Parquet scan — validates it and stores it; it carries the same
fingerprint as data version (a run of several partitions records each group's fingerprint in
``fingerprints`` and leaves the data versions to Dagster: one value would be stamped on all of
them) and the file's path as ``source_file``. Downstream of a changed
file, ``AutomationCondition.eager()`` re-materialises only the affected partitions.
"""


import warnings
from typing import Any

import dagster as dg
import polars as pl

from fairalloc.pipelines.metadata import ownership, shown, table_metadata, validate
from fairalloc.pipelines.partitions import PARTITION_BY, GroupSet, group_filter, group_keys
from fairalloc.pipelines.resources import DataDir
from fairalloc.pipelines.versions import content_version, versions_by_group


def partitioned(groups: GroupSet | None) -> dict[str, Any]:
    """Decorator arguments of an asset (or multi-asset) partitioned by ``groups``: the dynamic
    partitions, a single-run backfill (many groups = one vectorised ``by=`` pass) and the group
    columns the IO manager splits by. Nothing for an unpartitioned asset."""
    if groups is None:
        return {}
    return {"partitions_def": groups.definition,
            "backfill_policy": dg.BackfillPolicy.single_run()}


def file_key(name: str) -> dg.AssetKey:
    """The key of the observed input file of input asset ``name``."""
    return dg.AssetKey(f"{name}_file")


def input_assets(
    name: str, capability: str, model: Any, description: str, *, version: str,
    total: str | None = None, file: str | None = None, groups: GroupSet | None = None,
) -> tuple[dg.SourceAsset, dg.AssetsDefinition]:
    """The observed file ``<name>_file`` and the input asset ``name`` of ``capability``.

    It reads ``<data dir>/<capability>/<file or name>.parquet`` (or the Hive folder of that
    name). A table that fails ``model`` stops the run with the failing rows and the rule each
    broke in the log, so no downstream asset runs on bad input. ``total`` names a column whose
    sum is shown as metadata; ``groups`` partitions the asset (one partition per group).
    """
    stem = file or name
    by = list(groups.by) if groups else []
    metadata = {} if groups is None else {PARTITION_BY: by}

    @dg.observable_source_asset(
        name=f"{name}_file", group_name=capability,
        partitions_def=groups.definition if groups else None,
        tags=ownership(capability)["tags"],
        description=f"The input file {capability}/{stem}.parquet (or Hive folder): observed, "
                    "its data version is a fingerprint of the content"
                    + (" of each group." if groups else "."),
    )
    def _observe(context, data_dir: DataDir):
        lazy, _ = data_dir.scan(capability, stem)
        if groups is None:
            return dg.DataVersion(content_version(lazy))
        known = set(groups.definition.get_partition_keys(dynamic_partitions_store=context.instance))
        return dg.DataVersionsByPartition(
            {k: v for k, v in versions_by_group(lazy, by).items() if k in known})

    @dg.asset(name=name, group_name=capability, description=description, kinds={"parquet"},
              deps=[file_key(name)], code_version=version, metadata=metadata,
              automation_condition=dg.AutomationCondition.eager(), **partitioned(groups),
              **ownership(capability))
    def _load(context: dg.AssetExecutionContext, data_dir: DataDir) -> dg.Output[pl.DataFrame]:
        lazy, path = data_dir.scan(capability, stem)
        if groups is not None:
            keys = context.partition_keys
            schema = lazy.collect_schema()
            absent = [c for c in by if c not in schema]
            if absent:
                raise dg.Failure(f"{name}: {path} lacks the group columns {absent}")
            lazy = lazy.filter(group_filter(keys, by, schema))
            lazy = lazy.select([*by, *(c for c in schema.names() if c not in by)])
        frame = validate(lazy.collect(), model, name, log=context.log)
        meta = {**table_metadata(frame, model), "source_file": str(path)}
        if groups is not None:
            missing = sorted(set(keys) - set(group_keys(frame, by)))
            if missing:
                message = f"{name}: no rows of the groups {missing[:10]} in {path}"
                context.log.error(message)
                raise dg.Failure(message)
            meta["fingerprints"] = dg.MetadataValue.json(versions_by_group(frame, by))
        if total:
            meta[f"total_{total}"] = shown(float(frame[total].sum()))
        version = content_version(frame)
        meta["fingerprint"] = version
        context.log.info("%s: %d rows from %s (fingerprint %s)", name, frame.height, path,
                         version)
        if groups is not None and len(keys) > 1:
            # one data version would be stamped on every partition of the run: leave it to
            # Dagster (code version + the file's per-group version); ``fingerprints`` has each
            return dg.Output(frame, metadata=meta)
        with warnings.catch_warnings():  # data versions on outputs: "beta" in dagster 1.13
            warnings.simplefilter("ignore", dg.BetaWarning)
            return dg.Output(frame, metadata=meta, data_version=dg.DataVersion(version))

    return _observe, _load
