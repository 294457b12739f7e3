"""The pipeline end to end: ``make run`` wall time, and a partitioned sourcing backfill three
ways.

1. ``make run`` (``python -m fairalloc.pipelines.run`` in a fresh ``DAGSTER_HOME`` on the sample
   data: register partitions, then the four jobs of "allocate all" in process). Target: 20 s
   on 2 cores. Wall and CPU time of the child process (CPU time is what the run costs on an idle
   machine; wall time also counts waiting for the cores when the machine is shared).
2. Sourcing over G groups (commodity × year) with M matches in all, as Parquet inputs: one
   single-run backfill over all G partitions (one ``by=`` pass per asset, the IO manager
   splitting per partition) versus G runs of one partition each versus the unpartitioned
   ``by=`` calls alone (both allocations on the in-memory tables: the compute floor).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl

from benchmarks.harness import fmt_seconds, markdown, measure
from fairalloc.pipelines.assets import of
from fairalloc.pipelines.assets import sourcing as sourcing_assets
from fairalloc.pipelines.io_manager import ParquetIOManager
from fairalloc.pipelines.jobs import PARTITIONED_JOBS, range_tags
from fairalloc.pipelines.partitions import SOURCING, partition_key
from fairalloc.pipelines.resources import DataDir
from fairalloc.transforms.sourcing import direct_sourcing, proportional_sourcing

ROOT = Path(__file__).resolve().parent.parent
BY = ["commodity", "year"]
#: matches → groups; the first size is the quick one
SIZES = (100_000, 10_000_000)
GROUPS = {100_000: 10, 10_000_000: 50}
MAKE_RUN_REPEATS = 3
#: Run config keeping Dagster's console logger to errors (the event log is written as usual).
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


#: The instances ``make run`` is timed with: the repository's (its run history storages,
#: ``fairalloc/pipelines/history.py``) and, as the reference in the same run, Dagster's default
#: SQLite storages.
INSTANCES = {
    "make run (sample data, fresh DAGSTER_HOME)":
        (ROOT / "dagster_home" / "dagster.yaml").read_text(),
    "reference: the same with Dagster's default SQLite storages": "telemetry:\n  enabled: false\n",
}


def make_run(repeats: int = MAKE_RUN_REPEATS) -> list[tuple]:
    """Wall and CPU seconds of ``python -m fairalloc.pipelines.run`` in fresh homes, with each
    instance configuration of :data:`INSTANCES` in turn (interleaved)."""
    walls: dict[str, list[float]] = {name: [] for name in INSTANCES}
    cpus: dict[str, list[float]] = {name: [] for name in INSTANCES}
    for _ in range(repeats):
        for name, config in INSTANCES.items():
            with tempfile.TemporaryDirectory() as home:
                Path(home, "dagster.yaml").write_text(config)
                env = {**os.environ, "DAGSTER_HOME": home,
                       "FAIRALLOC_DATA_DIR": str(ROOT / "data")}
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                start = time.perf_counter()
                subprocess.run([sys.executable, "-m", "fairalloc.pipelines.run"], env=env,
                               check=True, capture_output=True)
                walls[name].append(time.perf_counter() - start)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpus[name].append(after.ru_utime - before.ru_utime
                                  + after.ru_stime - before.ru_stime)
            print(f"  {name}: {walls[name][-1]:.1f} s wall, {cpus[name][-1]:.1f} s CPU",
                  flush=True)
    return [(name, fmt_seconds(float(np.median(walls[name]))),
             fmt_seconds(float(np.median(cpus[name]))), "≤ 20 s" if i == 0 else "—", repeats)
            for i, name in enumerate(INSTANCES)]


def grouped_inputs(m: int, groups: int, seed: int = 0) -> dict[str, pl.DataFrame]:
    """M matches over ``groups`` (commodity, year) groups, each with M / groups / 10 sources
    and sinks (string keys), as the pipeline's three sourcing inputs."""
    rng = np.random.default_rng(seed)
    years = 5 if groups % 5 == 0 else 1
    commodity = np.array([f"c{i:02d}" for i in range(groups // years)])
    per = m // groups
    n = max(per // 10, 1)
    g = np.repeat(np.arange(groups), per)
    names = pl.Series([f"S{i:07d}" for i in range(n)])
    sinks = pl.Series([f"K{i:07d}" for i in range(n)])

    def keyed(rows_g):
        return {"commodity": commodity[rows_g // years],
                "year": pl.Series(2020 + rows_g % years, dtype=pl.Int64)}

    matches = pl.DataFrame({**keyed(g), "source": names.gather(rng.integers(0, n, len(g))),
                            "sink": sinks.gather(rng.integers(0, n, len(g)))})
    gk = np.repeat(np.arange(groups), n)
    capacity = rng.lognormal(3.0, 1.0, len(gk))
    capacity[rng.random(len(gk)) < 0.05] = 0.0
    cap = pl.DataFrame({**keyed(gk), "source": pl.concat([names] * groups),
                        "capacity": capacity})
    dem = pl.DataFrame({**keyed(gk), "sink": pl.concat([sinks] * groups),
                        "demand": rng.lognormal(4.0, 1.0, len(gk))})
    return {"matches": matches, "source_capacity": cap, "sink_demand": dem}


def bench_size(m: int, groups: int, repeats: int) -> list[tuple]:
    """Rows for M = ``m`` matches over ``groups`` groups."""
    tables = grouped_inputs(m, groups)
    keys = sorted(partition_key(r) for r in
                  tables["matches"].select(BY).unique().iter_rows())
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp, "data", "sourcing")
        data.mkdir(parents=True)
        for name, table in tables.items():  # row groups per group: the filter skips the others
            table.write_parquet(data / f"{name}.parquet", row_group_size=max(m // groups, 1))

        def unpartitioned():
            mt, cp, dm = tables["matches"], tables["source_capacity"], tables["sink_demand"]
            direct_sourcing(mt, cp, dm, by=BY)
            proportional_sourcing(mt, dm, cp, by=BY)

        def pipeline(per_partition: bool):
            storage = tempfile.mkdtemp(dir=tmp)
            defs = dg.Definitions(
                assets=of(sourcing_assets), jobs=[PARTITIONED_JOBS["sourcing"]],
                resources={"io_manager": ParquetIOManager(base_dir=storage),
                           "data_dir": DataDir(path=str(Path(tmp, "data")))})
            job = defs.resolve_job_def("allocate_sourcing")
            with dg.instance_for_test(temp_dir=tempfile.mkdtemp(dir=tmp)) as instance:
                instance.add_dynamic_partitions(SOURCING.name, keys)
                runs = ([{"partition_key": k} for k in keys] if per_partition
                        else [{"tags": range_tags(keys)}])
                for kwargs in runs:
                    assert job.execute_in_process(instance=instance, run_config=QUIET,
                                                  **kwargs).success

        floor = measure(unpartitioned, repeats)
        print(f"  by= call M={m:,}, {groups} groups: {fmt_seconds(floor.median)}", flush=True)
        backfill = measure(lambda: pipeline(False), repeats)
        print(f"  single-run backfill: {fmt_seconds(backfill.median)}", flush=True)
        each = measure(lambda: pipeline(True), 1)
        print(f"  {groups} per-partition runs: {fmt_seconds(each.median)}", flush=True)
    return [(f"{m:,}", groups, fmt_seconds(backfill.median), fmt_seconds(each.median),
             fmt_seconds(floor.median), f"{each.median / backfill.median:.1f}×",
             f"{backfill.median / floor.median:.1f}×", f"{repeats} / 1 / {repeats}")]


def run(sizes=SIZES, repeats: int | None = None) -> str:
    """Both Markdown tables (``make run``; the backfill per size)."""
    quick = tuple(sizes) == SIZES[:1]
    first = markdown(("what", "wall (median)", "CPU (median)", "target", "runs"),
                     make_run(1 if quick else MAKE_RUN_REPEATS))
    rows = [row for m in sizes for row in bench_size(m, GROUPS[m], repeats or (1 if m > 10**6
                                                                               else 3))]
    second = markdown(("matches", "groups", "single-run backfill", "one run per partition",
                       "unpartitioned by= calls", "per-partition / backfill",
                       "backfill / by=", "runs (backfill / per partition / by=)"), rows)
    return first + "\n\n" + second
