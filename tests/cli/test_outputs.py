"""``fairalloc outputs``: the tables the pipeline stored, with partitions, rows and paths."""

from __future__ import annotations

import pandas as pd

from fairalloc.pipelines.io_manager import asset_path, partition_path, write_atomic
from tests.cli.test_cli import fairalloc


def _table() -> pd.DataFrame:
    return pd.DataFrame({"amount": [1.0, 2.0, 3.0]},
                        index=pd.MultiIndex.from_tuples([("a", 1), ("a", 2), ("b", 1)],
                                                        names=["account", "period"]))


def test_outputs_lists_stored_tables_with_partitions_and_rows(tmp_path):
    table = _table()
    write_atomic(table, asset_path(tmp_path, "period_allocation"))
    write_atomic(table.head(1), asset_path(tmp_path, "accounts"))
    for scenario, rows in (("large", table), ("small", table.tail(1)), ("none", table.head(0))):
        write_atomic(rows, partition_path(tmp_path, "period_summary", ["scenario"], scenario))
    (tmp_path / ".fairalloc-tmp-accounts.parquet.1.abc").write_bytes(b"half")  # left by a kill
    proc = fairalloc("outputs", "--storage", tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"Outputs under {tmp_path}:"
    assert lines[1].split()[:5] == ["accounts", "-", "partitions", "1", "rows"]
    assert lines[2].split()[:5] == ["period_allocation", "-", "partitions", "3", "rows"]
    assert lines[2].endswith(str(tmp_path / "period_allocation.parquet"))
    assert lines[3].split()[:5] == ["period_summary", "3", "partitions", "4", "rows"]
    assert lines[3].endswith(str(tmp_path / "period_summary"))
    assert len(lines) == 5 and "load_output" in lines[4]


def test_outputs_of_an_empty_storage_is_one_error_line(tmp_path):
    proc = fairalloc("outputs", "--storage", tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"fairalloc: error: no outputs under {tmp_path}: materialise the assets first (make run)"]
