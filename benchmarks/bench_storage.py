"""Storage: one partitioned sourcing-like table written and read back through the IO manager,
on the local disk against S3 (a ``moto_server`` on 127.0.0.1, started and stopped here).

The table has M rows in 50 groups (5 commodities × 10 years), indexed by (commodity, year,
source, sink) with two volume columns, as ``direct_sourcing`` stores it. *write* is one
``handle_output`` of the whole table over all 50 partition keys (a single-run backfill: split
per key, 50 files); *read* is one ``load_input`` of all 50 partitions as one pandas table.
Both go through the IO manager itself (contexts built by hand), so Dagster's run overhead, the
same on either storage, is left out. The table read back is checked equal to the one written
before anything is timed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid

import dagster as dg
import numpy as np
import pandas as pd

from benchmarks.harness import fmt_seconds, markdown, measure
from benchmarks.servers import start_moto, stop
from fairalloc.pipelines.io_manager import HiveParquetIOManager, storage_root
from fairalloc.pipelines.partitions import PARTITION_BY, partition_key

SIZES = (100_000, 1_000_000)
REPEATS = 3
COMMODITIES = ("cocoa", "coffee", "palm", "rubber", "soy")
YEARS = tuple(range(2016, 2026))
KEYS = [partition_key((c, y)) for c in COMMODITIES for y in YEARS]
GROUPS = dg.StaticPartitionsDefinition(KEYS)
METADATA = {PARTITION_BY: ["commodity", "year"]}


def make_table(m: int, seed: int = 0) -> pd.DataFrame:
    """M rows over the 50 groups, ≈ M/50 sources and sinks, sorted by group as a transform
    returns them."""
    rng = np.random.default_rng(seed)
    n = max(m // 50, 1)
    group = np.sort(rng.integers(0, len(KEYS), m))
    frame = pd.DataFrame({
        "commodity": pd.Categorical.from_codes(group // len(YEARS), COMMODITIES).astype(str),
        "year": np.asarray(YEARS, dtype=np.int64)[group % len(YEARS)],
        "source": pd.Series([f"S{i:07d}" for i in range(n)]).to_numpy()[rng.integers(0, n, m)],
        "sink": pd.Series([f"K{i:07d}" for i in range(n)]).to_numpy()[rng.integers(0, n, m)],
        "source_volume": rng.lognormal(3.0, 1.0, m),
        "sink_volume": rng.lognormal(3.0, 1.0, m),
    })
    return frame.set_index(["commodity", "year", "source", "sink"])


def _contexts(asset: str) -> tuple[dg.OutputContext, dg.InputContext]:
    """Output and input contexts over all 50 keys."""
    key_range = dg.PartitionKeyRange(KEYS[0], KEYS[-1])
    out = dg.build_output_context(asset_key=asset, definition_metadata=METADATA,
                                  asset_partitions_def=GROUPS,
                                  asset_partition_key_range=key_range)
    upstream = dg.build_output_context(asset_key=asset, definition_metadata=METADATA,
                                       asset_partitions_def=GROUPS)
    inp = dg.build_input_context(asset_key=asset, upstream_output=upstream,
                                 asset_partitions_def=GROUPS,
                                 asset_partition_key_range=key_range,
                                 dagster_type=dg.PythonObjectDagsterType(pd.DataFrame))
    return out, inp


def bench_size(m: int, repeats: int, endpoint: str) -> list[tuple]:
    table = make_table(m)
    expected = table.sort_index(level=["commodity", "year"], sort_remaining=False)
    folder = tempfile.mkdtemp(prefix="fairalloc-bench-storage-")
    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    try:
        s3 = storage_root(f"s3://{bucket}/runs", {"endpoint_url": endpoint})
        s3.fs.mkdir(bucket)
        stores = {"local disk": storage_root(folder), "S3 (moto)": s3}
        times = {}
        for name, root in stores.items():
            manager = HiveParquetIOManager(root)
            out, inp = _contexts("direct_sourcing")
            manager.handle_output(out, table)
            back = manager.load_input(inp)
            pd.testing.assert_frame_equal(back, expected, check_exact=True)
            del back
            # a context takes metadata once, and building one costs about a second (an
            # ephemeral Dagster instance): one per call, built before the timing
            outs, ins = map(list, zip(*(_contexts("direct_sourcing") for _ in range(repeats)),
                                      strict=True))
            write = measure(lambda manager=manager, outs=outs: manager.handle_output(
                outs.pop(), table), repeats)
            read = measure(lambda manager=manager, ins=ins: manager.load_input(ins.pop()),
                           repeats)
            times[name] = (write.median, read.median)
            print(f"  storage M={m:,} {name}: write {fmt_seconds(write.median)}, "
                  f"read {fmt_seconds(read.median)}", flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    (lw, lr), (sw, sr) = times["local disk"], times["S3 (moto)"]
    return [(f"{m:,}", len(KEYS), fmt_seconds(lw), fmt_seconds(sw), f"{sw / lw:.1f}×",
             fmt_seconds(lr), fmt_seconds(sr), f"{sr / lr:.1f}×", repeats)]


def run(sizes=SIZES, repeats: int | None = None) -> str:
    """The Markdown table for ``sizes`` (one moto_server for all of them)."""
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                      AWS_DEFAULT_REGION="us-east-1")  # any credentials: moto checks none
    proc, endpoint = start_moto()
    try:
        rows = [row for m in sizes for row in bench_size(m, repeats or REPEATS, endpoint)]
    finally:
        stop(proc)
    headers = ("rows", "partitions", "write local (median)", "write S3 (median)", "S3 / local",
               "read local (median)", "read S3 (median)", "S3 / local", "runs")
    return markdown(headers, rows)
