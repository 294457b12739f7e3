"""``python -m fairalloc.pipelines.run``: what ``make run`` does — every asset on the data.

1. Register the data's groups as partitions and record the input files' fingerprints
   (:func:`fairalloc.pipelines.sensors.sync`, what the sensor ``input_groups`` does over its
   ticks).
2. Launch each job of :data:`fairalloc.pipelines.jobs.ALLOCATE_ALL` once, in this process (the
   in-process executor: no process start-up and code-location import per step), a partitioned
   job as one run over all its partitions (a single-run backfill: one ``by=`` pass).

Runs are recorded in ``$DAGSTER_HOME`` under their job names and tagged with the code location
``fairalloc.pipelines``, so ``dagster dev -m fairalloc.pipelines`` shows them on each job's
page. Ends with the listing of ``fairalloc outputs`` (in this process: the code location is
imported already). Exits with status 1 when a run fails.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

import dagster as dg

log = logging.getLogger("fairalloc.pipelines.run")

#: The code location name ``dagster dev -m fairalloc.pipelines`` gives; runs carry it so the
#: UI lists them under their jobs.
LOCATION = "fairalloc.pipelines"
REPOSITORY_TAG = ".dagster/repository"


def run_all(instance: dg.DagsterInstance, jobs: list[str] | None = None,
            run_config: dict | None = None,
            definitions: dg.Definitions | None = None) -> list[dg.ExecuteInProcessResult]:
    """Sync the partitions, then run every job of "allocate all"
    (:data:`~fairalloc.pipelines.jobs.ALLOCATE_ALL`, or ``jobs``) once over all its partitions;
    returns the results (runs that failed included). ``run_config`` maps job names to run
    config; ``definitions`` replaces the code location's (e.g. other resources).
    """
    from fairalloc.pipelines.definitions import defs
    from fairalloc.pipelines.jobs import ALLOCATE_ALL, PARTITIONED_JOBS, range_tags
    from fairalloc.pipelines.partitions import GROUP_SETS
    from fairalloc.pipelines.sensors import sync

    definitions = definitions or defs
    data_dir = definitions.resources["data_dir"]
    keys = sync(instance, data_dir)
    partitions = {PARTITIONED_JOBS[g.capability].name: keys[g.name] for g in GROUP_SETS}
    results = []
    for name in jobs or [j.name for j in ALLOCATE_ALL]:
        job = definitions.resolve_job_def(name)
        tags = {REPOSITORY_TAG: f"__repository__@{LOCATION}",
                **range_tags(partitions.get(name, []))}
        start = time.perf_counter()
        result = job.execute_in_process(instance=instance, tags=tags, raise_on_error=False,
                                        run_config=(run_config or {}).get(name))
        log.info("%s: %s in %.1f s (run %s)", name, "success" if result.success else "FAILED",
                 time.perf_counter() - start, result.run_id)
        results.append(result)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("jobs", nargs="*",
                        help='jobs to run (default: every job of "allocate all")')
    args = parser.parse_args(argv)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    with dg.DagsterInstance.get() as instance:
        results = run_all(instance, args.jobs or None)
    from fairalloc.pipelines.outputs import describe_outputs

    sys.stdout.write(describe_outputs() or "nothing stored\n")  # what fairalloc outputs prints
    return 0 if all(r.success for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
