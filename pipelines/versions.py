"""Code versions of the assets and data versions (content fingerprints) of the input tables.

Code version: derived, not kept by hand. Each capability's assets carry the hash of the source
files that decide its results — ``transforms/<capability>.py``, ``solvers/<capability>.py``,
``schemas/<capability>.py`` (those that exist) and ``pipelines/assets/<capability>.py``, so a
change there marks the capability's tables stale in Dagster, and a forgotten manual bump can
never make an old table look current. The price: an edit of a docstring there also asks for a
re-run. Shared helpers (``transforms/_tables.py`` …) are not part of it.

Data version: a fingerprint of a table's content that ignores row order, column order and file
layout (one Parquet file or a Hive folder give the same fingerprint): the wrapping sum of a
64-bit hash of every row (columns in name order), the row count and the schema. Computed per
group with one ``group_by`` (no loop over groups).

>>> a = pl.DataFrame({"g": ["x", "y"], "v": [1.0, 2.0]})
>>> content_version(a) == content_version(a.reverse().select("v", "g"))
True
>>> versions_by_group(a, ["g"])["y"] == content_version(a.filter(pl.col("g") == "y"))
True
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import cache
from importlib.util import find_spec
from pathlib import Path

import polars as pl

from fairalloc.pipelines.partitions import partition_key

_HASH = "__row_hash"
_LAYERS = ("fairalloc.transforms", "fairalloc.solvers", "fairalloc.schemas")


@cache
def code_version(capability: str, *files: str) -> str:
    """The code version of ``capability``'s assets: 12 hex digits of the SHA-256 of its
    transform, solver and schema modules and of ``files`` (the asset module passes its own
    ``__file__``); see the module docstring.

    >>> len(code_version("portions")), code_version("portions") == code_version("sourcing")
    (12, False)
    """
    digest = hashlib.sha256(capability.encode())
    paths = [origin for layer in _LAYERS if (origin := _origin(f"{layer}.{capability}"))]
    for path in [*paths, *files]:
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()[:12]


def _origin(module: str) -> str | None:
    """The source file of ``module`` (None when there is no such module), without importing
    it (only its package)."""
    try:
        spec = find_spec(module)
    except ModuleNotFoundError:
        return None
    return spec.origin if spec is not None else None


def _schema_text(schema: pl.Schema, skip: Sequence[str] = ()) -> str:
    return ";".join(f"{c}:{t}" for c, t in sorted(schema.items()) if c not in skip)


def _hashed(frame: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    lazy = frame.lazy()
    columns = sorted(lazy.collect_schema().names())
    return lazy.with_columns(pl.struct(columns).hash(seed=0).alias(_HASH))


def content_version(frame: pl.DataFrame | pl.LazyFrame) -> str:
    """The data version of a whole table (see the module docstring)."""
    schema = frame.lazy().collect_schema()
    total = _hashed(frame).select(pl.col(_HASH).sum(), pl.len()).collect().row(0)
    return _finish(_schema_text(schema), total[0] or 0, total[1])


def versions_by_group(frame: pl.DataFrame | pl.LazyFrame, by: Sequence[str]) -> dict[str, str]:
    """The data version of every group's rows, by partition key (one ``group_by``)."""
    schema = frame.lazy().collect_schema()
    text = _schema_text(schema)
    sums = (_hashed(frame).group_by(list(by))
            .agg(pl.col(_HASH).sum().alias("sum"), pl.len().alias("rows")).collect())
    return {partition_key(row[:-2]): _finish(text, row[-2], row[-1])
            for row in sums.select([*by, "sum", "rows"]).iter_rows()}


def _finish(schema_text: str, row_hash_sum: int, rows: int) -> str:
    text = f"{schema_text}|{row_hash_sum}|{rows}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]
