"""The coverage assets materialised into a temporary directory."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pandas as pd
import polars as pl
import pytest

from fairalloc.pipelines.assets import coverage as coverage_assets
from fairalloc.pipelines.assets import of
from fairalloc.pipelines.io_manager import ParquetIOManager
from fairalloc.pipelines.metadata import violations_check
from fairalloc.pipelines.resources import DataDir
from fairalloc.transforms import coverage as tf_coverage
from fairalloc.transforms.coverage import allocate_coverage, audit_fairness
from tests import ROOT

DATA = ROOT / "data"
OUTPUTS = ("coverage_allocation", "group_coverage", "resource_usage", "fairness_audit")


def _materialize(data_dir: Path, storage: Path, run_config: dict | None = None, **kwargs):
    return dg.materialize(
        of(coverage_assets),
        resources={"io_manager": ParquetIOManager(base_dir=str(storage)),
                   "data_dir": DataDir(path=str(data_dir))},
        run_config=run_config,
        **kwargs,
    )


def _inputs(data_dir: Path = DATA):
    return [pl.read_parquet(data_dir / "coverage" / f"{n}.parquet")
            for n in ("groups", "eligibility", "supply")]


def _step_failure(result, step: str):
    return next(e for e in result.all_events
                if e.event_type_value == "STEP_FAILURE" and e.step_key == step)


def _copy_data(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    shutil.copytree(DATA / "coverage", data / "coverage")
    return data


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    storage = tmp_path_factory.mktemp("storage")
    return _materialize(DATA, storage), storage


def test_materialises_with_passing_checks(run):
    result, storage = run
    assert result.success
    keys = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert keys == {"population_groups", "eligibility", "resource_supply", *OUTPUTS}
    evaluations = result.get_asset_check_evaluations()
    assert {e.check_name for e in evaluations} == {"coverage_within_supply",
                                                   "allocation_is_fair"}
    assert all(e.passed for e in evaluations)
    for name in OUTPUTS:
        assert (storage / f"{name}.parquet").is_file()
    assert not list(storage.glob("**/*.tmp"))


def test_outputs_read_back_equal_to_the_transform(run):
    _, storage = run
    groups, elig, supply = _inputs()
    direct = allocate_coverage(groups, elig, supply)
    alloc = pd.read_parquet(storage / "coverage_allocation.parquet")
    assert alloc.index.names == ["group", "resource"] and list(alloc.columns) == ["amount"]
    pd.testing.assert_frame_equal(alloc, direct.allocation.to_frame(), check_exact=True)
    table = pd.read_parquet(storage / "group_coverage.parquet")
    assert table.index.name == "group" and len(table) == 1_270
    pd.testing.assert_frame_equal(table, direct.groups, check_exact=True)
    usage = pd.read_parquet(storage / "resource_usage.parquet")
    pd.testing.assert_frame_equal(usage, direct.resources, check_exact=True)
    assert (usage["used"] <= usage["supply"] * (1 + 1e-9)).all()
    assert usage["scarce"].any()  # supply is well below need
    flat = pl.read_parquet(storage / "coverage_allocation.parquet")
    assert flat.columns == ["group", "resource", "amount"]


def test_audit_is_empty(run):
    result, storage = run
    audit = pd.read_parquet(storage / "fairness_audit.parquet")
    assert audit.empty
    assert "complainant" in audit.columns and "definition" in audit.columns
    schema = pl.read_parquet(storage / "fairness_audit.parquet").schema  # typed, not null
    assert schema["complainant"] == pl.String and schema["amount"] == pl.Float64
    meta = {e.asset_key.to_user_string(): e.materialization.metadata
            for e in result.get_asset_materialization_events()}
    assert meta["fairness_audit"]["chart"].value.startswith("![chart](data:image/png;base64,")
    described = {c.name: c.description for c in
                 meta["fairness_audit"]["dagster/column_schema"].value.columns}
    assert described["definition"].startswith("Why the complaint is justified")
    summary = meta["group_coverage"]["summary"].value
    assert [r.data["group"] for r in summary.records][0] == "weight 5.0"
    assert all(0 <= r.data["after"] <= 1 for r in summary.records)


def test_metadata_shows_the_report_and_utilisation(run):
    result, _ = run
    meta = {e.asset_key.to_user_string(): e.materialization.metadata
            for e in result.get_asset_materialization_events()}
    alloc = meta["coverage_allocation"]
    assert alloc["dagster/row_count"].value == 3_556
    assert alloc["loss"].value == "quadratic"
    assert alloc["groups"].value == 1_270 and alloc["resources"].value == 4
    assert "| group | resource | amount |" in alloc["preview"].value
    assert meta["resource_usage"]["utilization mRNA"].value == pytest.approx(1.0)
    assert meta["group_coverage"]["total_shortfall"].value > 0
    assert meta["fairness_audit"]["complaints"].value == 0
    assert meta["population_groups"]["total_population"].value > 0


def test_loss_from_run_config(tmp_path):
    config = {"ops": {"coverage_tables": {"config": {"loss": "power", "loss_parameter": 3}}}}
    result = _materialize(DATA, tmp_path, config)
    assert result.success
    direct = allocate_coverage(*_inputs(), loss=("power", 3.0))
    stored = pd.read_parquet(tmp_path / "group_coverage.parquet")
    pd.testing.assert_series_equal(stored["coverage"], direct.groups["coverage"])


def test_loss_without_its_parameter_fails(tmp_path):
    config = {"ops": {"coverage_tables": {"config": {"loss": "log"}}}}
    result = _materialize(DATA, tmp_path, config, raise_on_error=False)
    assert not result.success
    error = _step_failure(result, "coverage_tables").step_failure_data.error.to_string()
    assert "eps > 0" in error


def test_invalid_prior_stops_downstream_and_names_the_group(tmp_path):
    data = _copy_data(tmp_path)
    path = data / "coverage" / "groups.parquet"
    groups = pl.read_parquet(path)
    bad = groups["group"][3]
    groups.with_columns(pl.when(pl.col("group") == bad).then(1.2).otherwise(pl.col("prior"))
                        .alias("prior")).write_parquet(path)
    result = _materialize(data, tmp_path / "storage", raise_on_error=False)
    assert not result.success
    done = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "population_groups" not in done and not set(OUTPUTS) & done
    meta = _step_failure(result, "population_groups").step_failure_data.user_failure_data.metadata
    assert meta["failing_row_count"].value == 1
    assert bad in meta["failing_rows"].value and "1.2" in meta["failing_rows"].value


def test_eligibility_naming_an_unknown_group_fails_naming_it(tmp_path):
    data = _copy_data(tmp_path)
    path = data / "coverage" / "eligibility.parquet"
    elig = pl.read_parquet(path)
    pl.concat([elig, pl.DataFrame({"group": ["R999/P9"], "resource": ["mRNA"]})]).write_parquet(
        path)
    result = _materialize(data, tmp_path / "storage", raise_on_error=False)
    assert not result.success
    done = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "eligibility" in done and not set(OUTPUTS) & done
    error = _step_failure(result, "coverage_tables").step_failure_data.error.to_string()
    assert "UnknownKeyError" in error and "'R999/P9'" in error


def test_checks_report_breaches():
    groups = pl.DataFrame({"group": ["a", "b"], "population": [10.0, 10.0],
                           "prior": [0.0, 0.0], "weight": [2.0, 1.0]})
    elig = pl.DataFrame({"group": ["a", "b"], "resource": ["R", "R"]})
    alloc = pd.DataFrame({"amount": [1.0, 5.0]}, index=pd.MultiIndex.from_tuples(
        [("a", "R"), ("b", "R")], names=["group", "resource"]))
    unfair = violations_check(coverage_assets.audit_violations(
        audit_fairness(groups, alloc, elig)))
    assert not unfair.passed and unfair.metadata["higher_weight count"].value == 1
    assert "('a', 'b', 'R')" in unfair.metadata["first violations"].value
    over = tf_coverage.coverage_violations(
        alloc, groups, pl.DataFrame({"resource": ["R"], "supply": [5.0]}))
    assert over.values.tolist() == [["over_supply", "R", 6.0, 5.0]]
    fine = tf_coverage.coverage_violations(
        alloc, groups, pl.DataFrame({"resource": ["R"], "supply": [6.0 * (1 + 1e-10)]}))
    assert violations_check(fine).passed
