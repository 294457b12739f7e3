"""Our Parquet IO manager on Dagster's ``UPathIOManager``: any fsspec URL, Hive-style partitions,
provenance in every file.

Layout below the base path (a local folder, ``s3://…``, ``gs://…``, ``memory://…``):

- an unpartitioned asset is one file, ``<asset key path>.parquet``;
- a partitioned asset is a folder of Hive-style partitions, one file each:
  ``<asset key path>/commodity=cocoa/year=2024/part-0.parquet``. The columns are the asset's
  ``metadata={PARTITION_BY: [...]}`` (:mod:`fairalloc.pipelines.partitions`), the values those
  of the partition key ``cocoa|2024`` (percent-encoded where a path needs it). The key columns
  stay *inside* the files too, with their own dtypes: read a folder with
  ``pandas.read_parquet(folder, partitioning=None)`` or
  ``polars.scan_parquet("<folder>/**/*.parquet", hive_partitioning=True)``.

pandas objects are written with their index, levels first (a Series becomes a one-column
table), so pandas reads back the same MultiIndex table and polars sees the keys first; polars
frames are written as they are. Inputs annotated ``polars.DataFrame`` (or ``LazyFrame``) load
with polars (flat), ``dict[...]`` as one table per partition key, anything else with pandas;
the partitions of an input come one after another in the order of their sorted keys.

An output that covers several partition keys (a single-run backfill) is split by its partition
columns in one vectorised pass and written one file per key; a key without rows gets an empty
table of the same schema, and rows of a group that is not among the run's keys are refused
(:class:`~fairalloc.transforms.errors.UnknownKeyError`) before anything is written.

On the local file system each file is written to a temporary file beside its target and
renamed over it (readers never see half a file); elsewhere the whole file is sent in one
request (an object store shows a put whole or not at all). Every file carries its provenance
as Parquet key-value metadata under :data:`PROVENANCE_KEY`, beside pandas' own entry: run id,
partition key, asset key, code version, the step's run config and the data version of every
input read (see :func:`provenance`).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

import dagster as dg
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from dagster._core.storage.upath_io_manager import UPathIOManager, is_dict_type
from pydantic import Field

from fairalloc.pipelines.partitions import PARTITION_BY, partition_key, partition_values
from fairalloc.pipelines.resources import default_storage_dir, default_storage_options
from fairalloc.transforms._files import write_atomic as _atomic
from fairalloc.transforms.errors import InputTypeError, UnknownKeyError

if TYPE_CHECKING:
    from upath import UPath

#: Parquet key-value metadata entry holding a file's provenance (one JSON object).
PROVENANCE_KEY = "fairalloc.provenance"
#: File name of one partition inside its Hive folder.
PART_FILE = "part-0.parquet"
#: Partition column of a partitioned asset that declares no ``PARTITION_BY`` (one dimension).
DEFAULT_PARTITION_COLUMN = "partition"
#: Metadata entries of an upstream materialisation copied into the provenance of its readers.
INPUT_METADATA = ("source_file", "path")
#: Event tag holding an asset event's data version (Dagster's ``dagster/data_version``).
DATA_VERSION_TAG = "dagster/data_version"

Table = pd.DataFrame | pd.Series | pl.DataFrame | pl.LazyFrame


# ----------------------------------------------------------------------------- paths


def storage_root(base: str | os.PathLike | UPath,
                 storage_options: Mapping[str, Any] | None = None) -> UPath:
    """The storage base as a ``UPath``: a local folder or any fsspec URL with its options."""
    from upath import UPath

    if isinstance(base, UPath) and not storage_options:
        return base
    return UPath(str(base), **dict(storage_options or {}))


def is_local(path: UPath | Path) -> bool:
    """Whether ``path`` is on the local file system (where writes go through a rename)."""
    return isinstance(path, Path) or getattr(path, "protocol", "") in ("", "file", "local")


def _local(path: UPath | Path) -> Path:
    return path if isinstance(path, Path) else Path(path.path)


def key_parts(key: dg.AssetKey | str | Sequence[str]) -> list[str]:
    """The path components of an asset key (``"a/b"`` and ``AssetKey(["a", "b"])`` alike)."""
    if isinstance(key, dg.AssetKey):
        return list(key.path)
    if isinstance(key, str):
        return key.split("/")
    return list(key)


def asset_path(base: str | os.PathLike | UPath, key: dg.AssetKey | str) -> UPath:
    """The file of the unpartitioned asset ``key`` below ``base``: ``<key path>.parquet``."""
    parts = key_parts(key)
    return storage_root(base).joinpath(*parts[:-1], f"{parts[-1]}.parquet")


def asset_folder(base: str | os.PathLike | UPath, key: dg.AssetKey | str) -> UPath:
    """The folder of the partitioned asset ``key`` below ``base``: ``<key path>/``."""
    return storage_root(base).joinpath(*key_parts(key))


def hive_segments(columns: Sequence[str], key: str) -> list[str]:
    """The Hive folders of partition ``key`` of a table partitioned by ``columns``.

    >>> hive_segments(["commodity", "year"], "cocoa|2024")
    ['commodity=cocoa', 'year=2024']
    >>> hive_segments(["site"], "a/b c")
    ['site=a%2Fb%20c']
    """
    values = partition_values(key)
    if len(values) != len(columns):
        raise InputTypeError(
            f"partition key {key!r} has {len(values)} values but the asset is partitioned by "
            f"{len(columns)} columns", list(columns))
    return [f"{c}={quote(v, safe='')}" for c, v in zip(columns, values, strict=True)]


def partition_path(base: str | os.PathLike | UPath, key: dg.AssetKey | str,
                   columns: Sequence[str], partition: str) -> UPath:
    """The file of one partition: ``<key path>/<col>=<val>/.../part-0.parquet``."""
    return asset_folder(base, key).joinpath(*hive_segments(columns, partition), PART_FILE)


def key_of_segments(segments: Sequence[str]) -> tuple[list[str], str]:
    """Columns and partition key of the Hive folders ``segments`` (inverse of
    :func:`hive_segments`).

    >>> key_of_segments(["commodity=cocoa", "year=2024"])
    (['commodity', 'year'], 'cocoa|2024')
    """
    pairs = [s.split("=", 1) for s in segments]
    return [c for c, _ in pairs], "|".join(unquote(v) for _, v in pairs)


# ----------------------------------------------------------------------------- tables


def to_arrow(obj: Table) -> pa.Table:
    """The table as Arrow: pandas with its index levels first (as polars readers expect keys),
    polars as it is. Anything else is refused with a ``TypeError``."""
    if isinstance(obj, pl.LazyFrame):
        obj = obj.collect()
    if isinstance(obj, pl.DataFrame):
        return obj.to_arrow()
    if not isinstance(obj, pd.Series | pd.DataFrame):
        raise TypeError(f"cannot store {type(obj).__name__} as Parquet")
    frame = obj.to_frame() if isinstance(obj, pd.Series) else obj.copy(deep=False)
    frame.attrs = {}  # reports are not JSON: the asset metadata carries them
    table = pa.Table.from_pandas(frame, preserve_index=None)
    n_data = len(frame.columns)
    names = table.column_names
    return table.select(names[n_data:] + names[:n_data])


def with_provenance(table: pa.Table, provenance: Mapping[str, Any] | None) -> pa.Table:
    """``table`` with ``provenance`` as JSON under :data:`PROVENANCE_KEY` (other entries kept)."""
    meta = dict(table.schema.metadata or {})
    meta.pop(PROVENANCE_KEY.encode(), None)
    if provenance is not None:
        meta[PROVENANCE_KEY.encode()] = json.dumps(provenance, default=str, sort_keys=True).encode()
    return table.replace_schema_metadata(meta)


def read_provenance(schema: pa.Schema) -> dict[str, Any] | None:
    """The provenance stored in a file's schema metadata, or None."""
    raw = (schema.metadata or {}).get(PROVENANCE_KEY.encode())
    return None if raw is None else json.loads(raw)


def write_tables(files: Mapping[UPath | Path, pa.Table]) -> None:
    """Write each table to its path as Parquet: atomically (temporary file + rename) on the
    local file system, else one whole-file put per path (all of them in one batch call, which
    fsspec's object stores run concurrently)."""
    remote: dict[str, bytes] = {}
    fs = None
    for path, table in files.items():
        if is_local(path):
            target = _local(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            _atomic(target, lambda tmp, t=table: pq.write_table(t, tmp))
        else:
            sink = pa.BufferOutputStream()
            pq.write_table(table, sink)
            remote[path.path] = sink.getvalue().to_pybytes()
            fs = path.fs
    if remote:
        fs.pipe(remote)


def write_atomic(obj: Table, path: UPath | Path,
                 provenance: Mapping[str, Any] | None = None) -> None:
    """Write one table to ``path`` as Parquet (see :func:`write_tables`), with ``provenance``.

    A failed write leaves ``path`` as it was and no temporary file behind.
    """
    write_tables({path: with_provenance(to_arrow(obj), provenance)})


def read_tables(paths: Sequence[UPath]) -> list[pa.Table]:
    """Read Parquet files (one batch fetch: concurrent on object stores), in order.

    Raises ``FileNotFoundError`` naming the missing paths.
    """
    if not paths:
        return []
    if is_local(paths[0]):
        missing = [str(p) for p in paths if not _local(p).is_file()]
        if missing:
            raise FileNotFoundError(f"no stored file at {', '.join(missing)}")
        return [pq.read_table(_local(p), partitioning=None) for p in paths]
    fs = paths[0].fs
    names = [p.path for p in paths]
    try:
        blobs = fs.cat(names, on_error="return")
    except FileNotFoundError:
        blobs = {}
    missing = [str(p) for p, n in zip(paths, names, strict=True)
               if not isinstance(blobs.get(n), bytes | bytearray)]
    if missing:
        raise FileNotFoundError(f"no stored file at {', '.join(missing)}")
    return [pq.read_table(pa.BufferReader(blobs[n])) for n in names]


def concat(tables: Sequence[pa.Table]) -> pa.Table:
    """The tables one after another, with the first one's pandas metadata (so pandas rebuilds
    the index) and no provenance."""
    first = with_provenance(tables[0], None)
    if len(tables) == 1:
        return first
    rest = [t.replace_schema_metadata(first.schema.metadata).cast(first.schema)
            if t.schema != first.schema else t.replace_schema_metadata(first.schema.metadata)
            for t in tables[1:]]
    return pa.concat_tables([first, *rest])


def from_arrow(table: pa.Table, kind: str = "pandas") -> Any:
    """The Arrow table as ``"pandas"`` (index rebuilt from pandas metadata), ``"polars"``
    (flat) or ``"lazy"`` (a polars LazyFrame)."""
    if kind == "pandas":
        return table.to_pandas()
    frame = pl.from_arrow(with_provenance(table, None).replace_schema_metadata(None))
    return frame.lazy() if kind == "lazy" else frame


def split_by_partition(table: pa.Table, columns: Sequence[str],
                       keys: Sequence[str]) -> dict[str, pa.Table]:
    """One table per partition key: the rows whose ``columns`` hold that key's group.

    The group codes are computed once for all rows (hash of each column, mixed-radix code,
    one stable sort); a key without rows gets an empty table of the same schema.

    Raises
    ------
    InputTypeError
        ``columns`` are missing from the table.
    UnknownKeyError
        Rows belong to groups that are not among ``keys`` (those groups are named).

    Examples
    --------
    >>> t = pa.table({"year": [2024, 2025, 2024], "v": [1.0, 2.0, 3.0]})
    >>> parts = split_by_partition(t, ["year"], ["2024", "2025", "2026"])
    >>> {k: v.column("v").to_pylist() for k, v in parts.items()}
    {'2024': [1.0, 3.0], '2025': [2.0], '2026': []}
    """
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise InputTypeError(
            f"the table has no partition columns (index levels or columns; it has "
            f"{table.column_names})", missing)
    n = table.num_rows
    code = np.zeros(n, dtype=np.int64)
    uniques = []
    stride = 1
    strides = []
    for name in reversed(columns):
        col = table.column(name)
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        uniq = pc.unique(col)
        idx = pc.index_in(col, value_set=uniq).to_numpy(zero_copy_only=False)
        code += idx.astype(np.int64) * stride
        uniques.append(uniq)
        strides.append(stride)
        stride *= max(len(uniq), 1)
    uniques.reverse()
    strides.reverse()
    counts = np.bincount(code, minlength=stride) if n else np.zeros(0, dtype=np.int64)
    present = np.flatnonzero(counts)
    group_keys = [
        partition_key([uniques[j][int(g // strides[j]) % len(uniques[j])].as_py()
                       for j in range(len(columns))])
        for g in present
    ]
    wanted = set(keys)
    foreign = [k for k in group_keys if k not in wanted]
    if foreign:
        raise UnknownKeyError(
            f"rows of groups that are not among the run's partition keys ({len(keys)} keys; "
            f"partitioned by {list(columns)})", foreign)
    if n and np.any(code[1:] < code[:-1]):
        small = code.astype(np.uint16) if stride <= 1 << 16 else code
        table = table.take(np.argsort(small, kind="stable"))
    starts = np.concatenate([[0], np.cumsum(counts)])
    out = {k: table.slice(int(starts[g]), int(counts[g]))
           for k, g in zip(group_keys, present, strict=True)}
    empty = table.slice(0, 0)
    return {k: out.get(k, empty) for k in keys}


# ----------------------------------------------------------------------------- provenance


def _json_scalar(value: Any) -> Any:
    """A metadata value as a JSON scalar, or ``None`` when it is not a small scalar."""
    if isinstance(value, dg.MetadataValue):
        value = value.value
    if isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return None


def _scalars(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    out = {}
    for k, v in (metadata or {}).items():
        s = _json_scalar(v)
        if s is not None and not k.startswith("dagster/"):
            out[k] = s
    return out


def _record_summary(record: Any) -> dict[str, Any]:
    entry = record.event_log_entry
    event = entry.asset_materialization or entry.asset_observation
    summary: dict[str, Any] = {
        "data_version": (entry.tags or {}).get(DATA_VERSION_TAG),
        "run_id": entry.run_id,
        "storage_id": record.storage_id,
    }
    if event is not None:
        for name in INPUT_METADATA:
            if name in event.metadata:
                summary[name] = _json_scalar(event.metadata[name])
    return summary


def _latest_records(instance: Any, key: dg.AssetKey, partitions: Sequence[str] | None
                    ) -> dict[str | None, dict[str, Any]]:
    """The latest materialisation (else observation) of ``key``: one per partition, or the
    asset's when ``partitions`` is None."""
    out: dict[str | None, dict[str, Any]] = {}
    if partitions is None:
        record = instance.get_latest_data_version_record(key)
        if record is not None:
            out[None] = _record_summary(record)
        return out
    todo = set(partitions)
    for event_type, fetch in ((dg.DagsterEventType.ASSET_MATERIALIZATION,
                               instance.fetch_materializations),
                              (dg.DagsterEventType.ASSET_OBSERVATION,
                               instance.fetch_observations)):
        if not todo:
            break
        ids = instance.get_latest_storage_id_by_partition(key, event_type, todo)
        if not ids:
            continue
        records = fetch(dg.AssetRecordsFilter(asset_key=key, storage_ids=list(ids.values())),
                        limit=len(ids)).records
        for record in records:
            p = record.partition_key
            out[p] = {**_record_summary(record), "partition": p}
            todo.discard(p)
    return out


def input_versions(context: dg.OutputContext, partitions: Sequence[str | None]
                   ) -> dict[str | None, dict[str, dict[str, Any]]]:
    """Per partition of the output, the latest data version (and run, source file) of each
    upstream asset of the step, as Dagster's event log has them.

    An upstream asset partitioned like the output contributes its partition of the same key;
    an unpartitioned one its latest version; one partitioned otherwise the version Dagster
    derives for the partitions the step read (a hash of their sorted data versions).
    """
    step = context.step_context
    layer = step.job_def.asset_layer
    key = context.asset_key
    node = layer.get(key)
    own = node.partitions_def
    result: dict[str | None, dict[str, dict[str, Any]]] = {p: {} for p in partitions}
    for parent in sorted(node.parent_keys, key=lambda k: k.to_user_string()):
        name = parent.to_user_string()
        parent_def = layer.get(parent).partitions_def if layer.has(parent) else None
        same = parent_def is not None and parent_def == own
        found = {}
        # a parent known here without partitions may be a stub of one partitioned elsewhere
        # (a source asset outside this job): its events tell
        if None not in partitions and (same or parent_def is None):
            found = _latest_records(step.instance, parent, list(partitions))
        if same or found:
            for p in partitions:
                result[p][name] = found.get(p) or {"data_version": None, "partition": p}
        elif parent_def is None:
            latest = _latest_records(step.instance, parent, None).get(None)
            for p in partitions:
                result[p][name] = latest or {"data_version": None}
        else:
            info = step.maybe_fetch_and_get_input_asset_version_info(parent)
            summary = {"data_version": None} if info is None else {
                "data_version": info.data_version.value if info.data_version else None,
                "run_id": info.run_id, "storage_id": info.storage_id,
                "partitions": "combined"}
            for p in partitions:
                result[p][name] = summary
    return result


def _step(context: dg.OutputContext) -> Any:
    """The step's execution context, or None for a context built by hand (tests, benchmarks)."""
    try:
        return context.step_context
    except dg.DagsterInvariantViolationError:
        return None


def provenance(context: dg.OutputContext, partitions: Sequence[str | None]
               ) -> dict[str | None, dict[str, Any]]:
    """The provenance of each file an output writes (one per partition key; ``None`` for an
    unpartitioned asset).

    Entries: ``asset`` (key as ``a/b``), ``partition``, ``run_id``, ``code_version``,
    ``run_config`` (the step's op config as resolved, defaults included), ``inputs`` (per
    upstream asset: ``data_version``, ``run_id``, ``storage_id``, and ``source_file`` / ``path``
    when the upstream event recorded them; a partitioned upstream also its ``partition``),
    ``data_version`` (the output's own when the step set it), ``metadata`` (the small scalar
    entries the step attached to the output, for the asset and for the partition) and
    ``written_at`` (UTC). Outside a run (a bare ``build_output_context``) only what the
    context knows is filled in.
    """
    key = context.asset_key
    base: dict[str, Any] = {
        "asset": key.to_user_string(),
        "written_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    step = _step(context)
    inputs: dict[str | None, dict[str, Any]] = {p: {} for p in partitions}
    if step is None:
        try:
            run_id = context.run_id
        except dg.DagsterInvariantViolationError:  # a context built by hand, without a run
            run_id = None
        base.update(run_id=run_id, code_version=None, run_config=None, data_version=None)
        output_meta: dict[str, Any] = {}
    else:
        node = step.job_def.asset_layer.get(key)
        base.update(
            run_id=step.run_id,
            code_version=node.code_version,
            run_config=step.op_config,
            data_version=(step.get_data_version(key).value
                          if step.has_data_version(key) else None),
        )
        output_meta = {**_scalars(context.output_metadata),
                       **_scalars(step.get_asset_metadata(key))}
        inputs = input_versions(context, partitions)
    out = {}
    for p in partitions:
        meta = dict(output_meta)
        if step is not None and p is not None:
            meta.update(_scalars(step.get_asset_metadata(key, partition_key=p)))
        out[p] = {**base, "partition": p, "inputs": inputs.get(p, {}), "metadata": meta}
    return out


# ----------------------------------------------------------------------------- IO manager


def partition_columns(metadata: Mapping[str, Any] | None,
                      partitions_def: dg.PartitionsDefinition | None) -> list[str]:
    """The Hive columns of a partitioned asset: its ``PARTITION_BY`` metadata; else the
    dimension names of a multi-partition (sorted, as Dagster orders their keys); else
    ``["partition"]``."""
    declared = (metadata or {}).get(PARTITION_BY)
    if isinstance(declared, dg.MetadataValue):
        declared = declared.value
    if declared:
        return [str(c) for c in declared]
    if isinstance(partitions_def, dg.MultiPartitionsDefinition):
        return sorted(d.name for d in partitions_def.partitions_defs)
    return [DEFAULT_PARTITION_COLUMN]


def _kind(context: dg.InputContext) -> str:
    typing_type = context.dagster_type.typing_type
    if typing_type is pl.LazyFrame:
        return "lazy"
    return "polars" if typing_type is pl.DataFrame else "pandas"


class HiveParquetIOManager(UPathIOManager):
    """The IO manager proper (built by :class:`ParquetIOManager` from its config)."""

    extension = ".parquet"

    def dump_to_path(self, context: dg.OutputContext, obj: Any, path: UPath) -> None:
        prov = provenance(context, [None])[None] if context.has_asset_key else None
        write_atomic(obj, path, prov)

    def load_from_path(self, context: dg.InputContext, path: UPath) -> Any:
        return from_arrow(concat(read_tables([path])), _kind(context))

    # --- partitioned layout: <asset>/<col>=<val>/.../part-0.parquet

    def _columns(self, context: dg.InputContext | dg.OutputContext) -> list[str]:
        if isinstance(context, dg.InputContext):
            upstream = context.upstream_output
            metadata = upstream.definition_metadata if upstream is not None else None
        else:
            metadata = context.definition_metadata
        return partition_columns(metadata, context.asset_partitions_def)

    def _partition_paths(self, context: dg.InputContext | dg.OutputContext,
                         keys: Sequence[str]) -> dict[str, UPath]:
        folder = self._get_path_without_extension(context)
        columns = self._columns(context)
        return {k: folder.joinpath(*hive_segments(columns, str(k)), PART_FILE) for k in keys}

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if not context.has_asset_key or not context.has_asset_partitions:
            path = self._get_path(context)
            self._drop_partitions(context, self._get_path_without_extension(context))
            self.dump_to_path(context, obj, path)
            context.add_output_metadata({"path": _path_value(path)})
            return
        keys = [str(k) for k in context.asset_partition_keys]
        table = to_arrow(obj)
        columns = self._columns(context)
        declared = (context.definition_metadata or {}).get(PARTITION_BY) is not None
        if declared:
            parts = split_by_partition(table, columns, keys)
        elif len(keys) == 1:
            parts = {keys[0]: table}
        else:
            raise InputTypeError(
                f"asset {context.asset_key.to_user_string()} covers {len(keys)} partitions in "
                f"this run but declares no metadata {PARTITION_BY!r} to split its table by",
                keys)
        paths = self._partition_paths(context, keys)
        old = self._with_extension(self._get_path_without_extension(context))
        if old.exists() and old.is_file():
            context.log.warning(f"removing {old}: the asset is partitioned now "
                                f"(partitions go below {old.with_suffix('')})")
            old.unlink()
        provs = provenance(context, keys)
        write_tables({paths[k]: with_provenance(parts[k], provs[k]) for k in keys})
        folder = self._get_path_without_extension(context)
        context.add_output_metadata({"path": _path_value(folder), "partitions": len(keys)})
        step = _step(context)
        if len(keys) > 1 and step is not None:
            for k in keys:
                step.add_asset_metadata(
                    {"partition_path": _path_value(paths[k]),
                     "partition_rows": parts[k].num_rows},
                    asset_key=context.asset_key, partition_key=k)

    def _drop_partitions(self, context: dg.OutputContext, folder: UPath) -> None:
        """An asset that was partitioned and is not any more: remove its Hive folders."""
        if not folder.exists() or not folder.is_dir():
            return
        for child in folder.iterdir():
            if child.is_dir() and "=" in child.name:
                context.log.warning(f"removing {child}: the asset is not partitioned any more")
                child.fs.rm(child.path, recursive=True)

    def load_input(self, context: dg.InputContext) -> Any:
        if not context.has_asset_key or not context.has_asset_partitions:
            path = self._get_path(context)
            if not self.path_exists(path):
                raise FileNotFoundError(
                    f"asset {context.asset_key.to_user_string() if context.has_asset_key else ''}"
                    f" not at {path}: materialise it first")
            return self.load_from_path(context, path)
        # sorted, as load_output reads them (Dagster may hand a key range over in any order)
        keys = sorted(str(k) for k in context.asset_partition_keys)
        if not keys:
            return None
        paths = self._partition_paths(context, keys)
        allow_missing = bool((context.definition_metadata or {}).get(
            "allow_missing_partitions", False))
        if allow_missing:
            present = [k for k in keys if self.path_exists(paths[k])]
            for k in sorted(set(keys) - set(present)):
                context.log.warning(self.get_missing_partition_log_message(k))
            keys = present
        tables = read_tables([paths[k] for k in keys]) if keys else []
        kind = _kind(context)
        if is_dict_type(context.dagster_type.typing_type):
            return {k: from_arrow(with_provenance(t, None), "pandas")
                    for k, t in zip(keys, tables, strict=True)}
        if not tables:
            return None
        return from_arrow(concat(tables), kind)


def _path_value(path: UPath) -> dg.MetadataValue:
    return dg.MetadataValue.path(str(_local(path))) if is_local(path) else dg.MetadataValue.url(
        str(path))


class ParquetIOManager(dg.ConfigurableIOManagerFactory):
    """Stores each asset as Parquet below ``base_dir``: a local folder or any fsspec URL
    (``s3://bucket/prefix``, ``gs://…``, ``memory://…``), opened with ``storage_options``.

    Defaults: ``$FAIRALLOC_STORAGE`` else ``$DAGSTER_HOME/storage``, and the JSON object in
    ``$FAIRALLOC_STORAGE_OPTIONS`` (see :mod:`fairalloc.pipelines.resources`). Layout, splitting
    and provenance: :class:`HiveParquetIOManager` and this module's docstring.
    """

    base_dir: str = Field(
        default_factory=default_storage_dir,
        description="Local folder or fsspec URL of the storage (s3://…, gs://…, memory://…).")
    storage_options: dict[str, Any] = Field(
        default_factory=default_storage_options,
        description="fsspec options of the storage (e.g. {'endpoint_url': …} for s3).")

    def create_io_manager(self, context: dg.InitResourceContext) -> HiveParquetIOManager:
        return HiveParquetIOManager(storage_root(self.base_dir, self.storage_options))


__all__ = [
    "PART_FILE",
    "PROVENANCE_KEY",
    "HiveParquetIOManager",
    "ParquetIOManager",
    "asset_folder",
    "asset_path",
    "partition_path",
    "provenance",
    "read_provenance",
    "split_by_partition",
    "storage_root",
    "to_arrow",
    "write_atomic",
]
