"""``python -m benchmarks [--quick]``: run every benchmark and print its Markdown table.

Tables also land in benchmarks/results/ (git-ignored). ``--quick`` runs the smallest size only.
"""

from __future__ import annotations

import argparse
import os
import platform
from pathlib import Path

from benchmarks import (
    bench_assignment,
    bench_charts,
    bench_coverage,
    bench_periods,
    bench_pipeline,
    bench_portions,
    bench_service,
    bench_sourcing,
    bench_storage,
)

BENCHES = {"sourcing": bench_sourcing, "periods": bench_periods,
           "assignment": bench_assignment, "coverage": bench_coverage,
           "portions": bench_portions, "service": bench_service,
           "charts": bench_charts, "storage": bench_storage, "pipeline": bench_pipeline}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", default=list(BENCHES), help="benchmarks to run")
    parser.add_argument("--quick", action="store_true", help="smallest size only")
    args = parser.parse_args()
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}")
    for name in args.names:
        bench = BENCHES[name]
        print(f"## {name}", flush=True)
        table = bench.run(sizes=bench.SIZES[:1], repeats=3) if args.quick else bench.run()
        print(table, flush=True)
        (out / f"{name}.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
