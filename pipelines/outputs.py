"""Find materialised tables by asset name: ``load_output("direct_sourcing")`` in a notebook.

The tables are where the pipeline's IO manager put them (:mod:`fairalloc.pipelines.io_manager`):
``$FAIRALLOC_STORAGE`` (a folder or any fsspec URL, options in ``$FAIRALLOC_STORAGE_OPTIONS``)
or else ``$DAGSTER_HOME/storage``; an unpartitioned asset is ``<asset>.parquet``, a partitioned
one a Hive folder ``<asset>/commodity=cocoa/year=2024/part-0.parquet``.
``fairalloc outputs`` (the command line) lists every stored table with its partition count, row
count and path.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl
    from upath import UPath


@dataclass(frozen=True)
class StoredOutput:
    """One stored asset: its name, where it is and, when partitioned, its partition files."""

    name: str
    path: UPath
    partitions: dict[str, UPath] = field(default_factory=dict)

    @property
    def partitioned(self) -> bool:  # numpydoc ignore=RT01
        """Whether the asset is stored as Hive partitions (a folder), not one file."""
        return bool(self.partitions)

    def files(self) -> list[UPath]:
        """Its Parquet files.

        Returns
        -------
        list of upath.UPath
            The partition files sorted by key, or the one file.
        """
        return [self.partitions[k] for k in sorted(self.partitions)] or [self.path]


def storage_location(storage: str | os.PathLike | None = None,
                     storage_options: Mapping[str, Any] | None = None) -> UPath:
    """The storage the pipeline's IO manager writes to, as a path object of its file system.

    Parameters
    ----------
    storage : str or path-like, optional
        Folder or fsspec URL; default ``$FAIRALLOC_STORAGE``, else ``$DAGSTER_HOME/storage``.
    storage_options : dict, optional
        fsspec options; default the JSON object in ``$FAIRALLOC_STORAGE_OPTIONS``.

    Returns
    -------
    upath.UPath
        The storage's base path (a ``pathlib.Path`` subclass when local).

    Examples
    --------
    >>> storage_location("memory://fairalloc-doc").protocol
    'memory'
    """
    from fairalloc.pipelines.io_manager import storage_root
    from fairalloc.pipelines.resources import default_storage_dir, default_storage_options

    options = default_storage_options() if storage_options is None else storage_options
    return storage_root(storage or default_storage_dir(), options)


def stored_outputs(storage: str | os.PathLike | None = None,
                   storage_options: Mapping[str, Any] | None = None) -> dict[str, StoredOutput]:
    """Every asset stored below ``storage``, by name (one listing of the storage).

    Parameters
    ----------
    storage : str or path-like, optional
        Folder or fsspec URL; default ``$FAIRALLOC_STORAGE``, else ``$DAGSTER_HOME/storage``.
    storage_options : dict, optional
        fsspec options; default the JSON object in ``$FAIRALLOC_STORAGE_OPTIONS``.

    Returns
    -------
    dict of str to StoredOutput
        Sorted by name; empty when nothing is stored (or the storage does not exist).

    Examples
    --------
    >>> stored_outputs("memory://fairalloc-doc-empty")
    {}
    """
    from fairalloc.pipelines.io_manager import PART_FILE, key_of_segments
    from fairalloc.transforms._files import TMP_PREFIX

    root = storage_location(storage, storage_options)
    prefix = root.path.rstrip("/") + "/"
    try:
        found = root.fs.find(root.path) if root.exists() else []
    except FileNotFoundError:
        found = []
    files: dict[str, UPath] = {}
    partitions: dict[str, dict[str, UPath]] = {}
    for raw in sorted(found):
        name = raw if isinstance(raw, str) else str(raw)
        if not name.startswith(prefix) or not name.endswith(".parquet"):
            continue
        parts = name[len(prefix):].split("/")
        if any(p.startswith(TMP_PREFIX) for p in parts):
            continue
        hive = [i for i, p in enumerate(parts[:-1]) if "=" in p]
        if parts[-1] == PART_FILE and hive and hive == list(range(hive[0], len(parts) - 1)):
            _, key = key_of_segments(parts[hive[0]:-1])
            partitions.setdefault("/".join(parts[:hive[0]]), {})[key] = root.joinpath(*parts)
        else:
            files["/".join(parts)[: -len(".parquet")]] = root.joinpath(*parts)
    out = {n: StoredOutput(n, p) for n, p in files.items()}
    for n, keys in partitions.items():  # a folder of partitions wins over a stray old file
        out[n] = StoredOutput(n, root.joinpath(*n.split("/")), keys)
    return dict(sorted(out.items()))


def list_outputs(storage: str | os.PathLike | None = None,
                 storage_options: Mapping[str, Any] | None = None) -> list[str]:
    """Names of the stored assets, sorted.

    Parameters
    ----------
    storage : str or path-like, optional
        Folder or fsspec URL; default ``$FAIRALLOC_STORAGE``, else ``$DAGSTER_HOME/storage``.
    storage_options : dict, optional
        fsspec options; default the JSON object in ``$FAIRALLOC_STORAGE_OPTIONS``.

    Returns
    -------
    list of str
        Asset names (empty when the storage does not exist).

    Examples
    --------
    >>> list_outputs("memory://fairalloc-doc-empty")
    []
    """
    return list(stored_outputs(storage, storage_options))


def output_path(name: str, storage: str | os.PathLike | None = None,
                storage_options: Mapping[str, Any] | None = None) -> UPath:
    """Where asset ``name`` is stored: its folder when partitioned, else its file.

    Parameters
    ----------
    name : str
        The asset's name (``a/b`` for a key with a prefix).
    storage : str or path-like, optional
        Folder or fsspec URL; default ``$FAIRALLOC_STORAGE``, else ``$DAGSTER_HOME/storage``.
    storage_options : dict, optional
        fsspec options; default the JSON object in ``$FAIRALLOC_STORAGE_OPTIONS``.

    Returns
    -------
    upath.UPath
        The folder or file (``<name>.parquet`` when nothing is stored yet).

    Examples
    --------
    >>> str(output_path("direct_sourcing", "memory://fairalloc-doc-empty"))
    'memory://fairalloc-doc-empty/direct_sourcing.parquet'
    """
    from fairalloc.pipelines.io_manager import asset_path

    stored = stored_outputs(storage, storage_options).get(name)
    return stored.path if stored else asset_path(
        storage_location(storage, storage_options), name)


def _find(name: str, storage: str | os.PathLike | None,
          storage_options: Mapping[str, Any] | None) -> StoredOutput:
    stored = stored_outputs(storage, storage_options)
    if name not in stored:
        known = ", ".join(stored) or "none yet: run `make run`"
        where = storage_location(storage, storage_options)
        raise FileNotFoundError(f"no materialised asset {name!r} under {where} (stored: {known})")
    return stored[name]


def _select(output: StoredOutput, partition: str | Sequence[str] | None) -> list[str | None]:
    """The partition keys to read (``[None]`` for an unpartitioned asset)."""
    from fairalloc.transforms.errors import ParameterError

    if isinstance(partition, os.PathLike):
        raise TypeError("load_output(name, partition, storage): pass the storage folder as "
                        "storage=…")
    if not output.partitioned:
        if partition is not None:
            raise ParameterError(f"asset {output.name!r} is not partitioned", [partition])
        return [None]
    if partition is None:
        return sorted(output.partitions)
    keys = [partition] if isinstance(partition, str) else list(partition)
    unknown = [k for k in keys if k not in output.partitions]
    if unknown:
        raise FileNotFoundError(
            f"asset {output.name!r} has no stored partition {', '.join(map(repr, unknown))} "
            f"(stored: {', '.join(sorted(output.partitions))})")
    return keys


def load_output(name: str, partition: str | Sequence[str] | None = None,
                storage: str | os.PathLike | None = None, *, as_polars: bool = False,
                storage_options: Mapping[str, Any] | None = None
                ) -> pd.DataFrame | pl.DataFrame:
    """The materialised table of asset ``name``: one partition, several, or all of them.

    pandas gets one table with its MultiIndex (all partitions one after another, sorted by
    partition key); ``as_polars=True`` gives a flat polars DataFrame (keys as columns). The
    partition columns come back with their stored dtypes (they are inside the files, not taken
    from the folder names).

    The pandas table's ``.attrs["provenance"]`` holds what the IO manager recorded: for an
    unpartitioned asset or a single partition key, that file's provenance (a dict: ``run_id``,
    ``partition``, ``code_version``, ``run_config``, ``inputs`` …); for several or all
    partitions, a dict of those per partition key. polars frames have no attrs: use
    :func:`load_provenance`.

    Parameters
    ----------
    name : str
        The asset's name.
    partition : str or sequence of str, optional
        A partition key (``"cocoa|2024"``) or several; default all partitions. Only for a
        partitioned asset.
    storage : str or path-like, optional
        Folder or fsspec URL; default ``$FAIRALLOC_STORAGE``, else ``$DAGSTER_HOME/storage``.
    as_polars : bool, default False
        Return a flat ``polars.DataFrame`` instead of pandas.
    storage_options : dict, optional
        fsspec options; default the JSON object in ``$FAIRALLOC_STORAGE_OPTIONS``.

    Returns
    -------
    pandas.DataFrame or polars.DataFrame
        The stored table.

    Raises
    ------
    FileNotFoundError
        ``name`` (or a requested partition) is not stored; the message lists what is.
    ParameterError
        A partition was asked of an unpartitioned asset.

    Examples
    --------
    >>> import pandas as pd
    >>> from fairalloc.pipelines.io_manager import partition_path, write_atomic
    >>> store = "memory://fairalloc-doc-load"
    >>> for year in (2024, 2025):
    ...     t = pd.DataFrame({"year": [year], "v": [1.0]}).set_index("year")
    ...     write_atomic(t, partition_path(store, "alloc", ["year"], str(year)),
    ...                  {"run_id": "r1", "partition": str(year)})
    >>> load_output("alloc", storage=store)  # doctest: +NORMALIZE_WHITESPACE
            v
    year
    2024  1.0
    2025  1.0
    >>> load_output("alloc", "2025", storage=store).attrs["provenance"]["run_id"]
    'r1'
    >>> load_output("alloc", storage=store, as_polars=True).columns
    ['year', 'v']
    """
    from fairalloc.pipelines.io_manager import (
        concat,
        from_arrow,
        read_provenance,
        read_tables,
    )

    output = _find(name, storage, storage_options)
    keys = _select(output, partition)
    paths = [output.path if k is None else output.partitions[k] for k in keys]
    tables = read_tables(paths)
    frame = from_arrow(concat(tables), "polars" if as_polars else "pandas")
    if not as_polars:
        provs = [read_provenance(t.schema) for t in tables]
        single = keys == [None] or (len(keys) == 1 and isinstance(partition, str))
        frame.attrs["provenance"] = provs[0] if single else dict(zip(keys, provs, strict=True))
    return frame


def load_provenance(name: str, partition: str | Sequence[str] | None = None,
                    storage: str | os.PathLike | None = None, *,
                    storage_options: Mapping[str, Any] | None = None
                    ) -> dict[str, Any] | dict[str, dict[str, Any]]:
    """The provenance of asset ``name`` as stored in its files (their footers only).

    Parameters
    ----------
    name : str
        The asset's name.
    partition : str or sequence of str, optional
        A partition key or several; default all partitions.
    storage : str or path-like, optional
        Folder or fsspec URL; default ``$FAIRALLOC_STORAGE``, else ``$DAGSTER_HOME/storage``.
    storage_options : dict, optional
        fsspec options; default the JSON object in ``$FAIRALLOC_STORAGE_OPTIONS``.

    Returns
    -------
    dict
        As ``load_output(...).attrs["provenance"]``: one file's provenance for an unpartitioned
        asset or a single key, else a dict of them per partition key.

    Examples
    --------
    >>> import pandas as pd
    >>> from fairalloc.pipelines.io_manager import asset_path, write_atomic
    >>> store = "memory://fairalloc-doc-prov"
    >>> write_atomic(pd.DataFrame({"v": [1.0]}), asset_path(store, "total"), {"run_id": "r9"})
    >>> load_provenance("total", storage=store)["run_id"]
    'r9'
    """
    import pyarrow.parquet as pq

    from fairalloc.pipelines.io_manager import read_provenance

    output = _find(name, storage, storage_options)
    keys = _select(output, partition)
    provs = []
    for k in keys:
        path = output.path if k is None else output.partitions[k]
        with path.open("rb") as fh:
            provs.append(read_provenance(pq.read_schema(fh)))
    if keys == [None] or (len(keys) == 1 and isinstance(partition, str)):
        return provs[0]
    return dict(zip(keys, provs, strict=True))


def output_rows(output: StoredOutput) -> int:
    """Rows stored for ``output`` (from the Parquet footers, without reading the data).

    Parameters
    ----------
    output : StoredOutput
        An entry of :func:`stored_outputs`.

    Returns
    -------
    int
        Rows in all its files.

    Examples
    --------
    >>> import pandas as pd
    >>> from fairalloc.pipelines.io_manager import asset_path, write_atomic
    >>> store = "memory://fairalloc-doc-rows"
    >>> write_atomic(pd.DataFrame({"v": [1.0, 2.0]}), asset_path(store, "t"))
    >>> output_rows(stored_outputs(store)["t"])
    2
    """
    import pyarrow.parquet as pq

    rows = 0
    for path in output.files():
        with path.open("rb") as fh:
            rows += pq.ParquetFile(fh).metadata.num_rows
    return rows


def describe_outputs(storage: str | os.PathLike | None = None) -> str | None:
    """What ``fairalloc outputs`` and ``make run`` print: every stored table with its partition
    count, rows and path, and how to read one back.

    Parameters
    ----------
    storage : str or os.PathLike, optional
        The storage folder or URL; default as :func:`storage_location`.

    Returns
    -------
    str or None
        The listing (lines ending in a newline); None when nothing is stored.
    """
    base = storage_location(storage)
    stored = stored_outputs(base)
    if not stored:
        return None
    lines = [f"Outputs under {base}:"]
    for name, output in stored.items():
        parts = len(output.partitions) if output.partitioned else "-"
        lines.append(f"  {name:<24} {parts!s:>5} partitions {output_rows(output):>10} rows  "
                     f"{output.path}")
    lines.append('Read one back in a notebook: from fairalloc import load_output; '
                 'load_output("direct_sourcing") (one partition: load_output(name, "cocoa|2024"))')
    return "\n".join(lines) + "\n"
