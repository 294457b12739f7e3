"""``fairalloc outputs``: the tables the pipeline stored, read back through ``load_output``."""

from __future__ import annotations

import pandas as pd

from fairalloc.pipelines.io_manager import write_atomic
from tests.cli.test_cli import fairalloc


def test_outputs_lists_stored_tables_with_rows(tmp_path):
    table = pd.DataFrame({"amount": [1.0, 2.0, 3.0]},
                         index=pd.MultiIndex.from_tuples([("a", 1), ("a", 2), ("b", 1)],
                                                         names=["account", "period"]))
    write_atomic(table, tmp_path / "period_allocation.parquet")
    write_atomic(table.head(1), tmp_path / "accounts.parquet")
    proc = fairalloc("outputs", "--storage", tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"Outputs under {tmp_path}:"
    assert lines[1].split()[:3] == ["accounts", "1", "rows"]
    assert lines[2].split()[:3] == ["period_allocation", "3", "rows"]
    assert lines[2].endswith(str(tmp_path / "period_allocation.parquet"))


def test_outputs_of_an_empty_storage_is_one_error_line(tmp_path):
    proc = fairalloc("outputs", "--storage", tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"fairalloc: error: no outputs under {tmp_path}: materialise the assets first (make run)"]
