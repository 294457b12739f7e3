"""The portions assets materialised into a temporary directory."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import polars as pl
import pytest

from fairalloc.pipelines.assets import of
from fairalloc.pipelines.assets import portions as portion_assets
from fairalloc.pipelines.io_manager import ParquetIOManager
from fairalloc.pipelines.resources import DataDir
from fairalloc.transforms.portions import apportion, portion_violations
from tests import ROOT

DATA = ROOT / "data"


def _run(tmp_path, data_dir=DATA, **config):
    return dg.materialize(
        of(portion_assets),
        resources={"io_manager": ParquetIOManager(base_dir=str(tmp_path)),
                   "data_dir": DataDir(path=str(data_dir))},
        run_config={"ops": {"portions": {"config": config}}},
        raise_on_error=False,
    )


@pytest.mark.parametrize(("total", "method"), [(75, "priority"), (101, "webster"),
                                               (7, "huntington_hill")])
def test_portions_group_materialises_and_matches_the_transform(tmp_path, total, method):
    result = _run(tmp_path, total=total, method=method)
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert [c.check_name for c in checks] == ["portions_sum_to_total"]
    assert checks[0].passed
    stored = pd.read_parquet(tmp_path / "portions.parquet")
    ratios = pl.read_parquet(DATA / "portions" / "ratios.parquet")
    direct = apportion(ratios, total, method=method)
    pd.testing.assert_frame_equal(stored, direct.to_frame())
    assert stored["portions"].sum() == total
    meta = result.asset_materializations_for_node("portions")[0].metadata
    assert meta["method"].value == method and meta["unallocated"].value == 0


def test_bad_ratios_stop_the_run(tmp_path):
    bad = tmp_path / "data"
    (bad / "portions").mkdir(parents=True)
    pl.DataFrame({"key": ["a", "b", "c"], "ratio": [1.0, -2.0, float("inf")]}).write_parquet(
        bad / "portions" / "ratios.parquet")
    result = _run(tmp_path / "out", data_dir=bad, total=5)
    assert not result.success
    assert not (tmp_path / "out" / "portions.parquet").exists()


def test_unknown_method_is_refused_before_the_run_naming_it(tmp_path):
    with pytest.raises(dg.DagsterInvalidConfigError, match="dhondt"):
        _run(tmp_path, total=5, method="dhondt")
    assert not list(tmp_path.iterdir())  # nothing ran, nothing was stored


def test_violations_find_each_breach():
    ratios = {"a": 3, "b": 0, "c": 1}
    bad = pd.Series({"a": 5, "b": 1, "x": 2, "c": -1}, name="portions")
    found = portion_violations(bad, ratios, 8)
    assert sorted(found["rule"]) == ["negative", "sum", "unknown_key", "zero_ratio"]
    assert portion_violations(pd.Series({"a": 6}, name="portions"), ratios, 8)["rule"].tolist() \
        == ["sum", "missing_key", "missing_key"]
    assert portion_violations(apportion(ratios, 8), ratios, 8).empty
    zero = {"a": 0, "b": 0}
    assert portion_violations(apportion(zero, 8), zero, 8).empty
