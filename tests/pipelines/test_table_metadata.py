"""The table definitions of fairalloc.schemas reach Dagster: column descriptions and rules in
``dagster/column_schema``; a table failing its contract fails the asset with a
``dagster.Failure`` showing the failing rows (never a raw pandera error)."""

from __future__ import annotations

import math

import dagster as dg
import pandas as pd
import polars as pl
import pytest

from fairalloc.pipelines.assets import of
from fairalloc.pipelines.assets import portions as portion_assets
from fairalloc.pipelines.io_manager import ParquetIOManager
from fairalloc.pipelines.metadata import validate
from fairalloc.pipelines.resources import DataDir
from fairalloc.schemas import portions as portion_schemas
from fairalloc.schemas import sourcing as sourcing_schemas
from fairalloc.transforms import portions as portion_transforms
from tests import ROOT

DATA = ROOT / "data"


def _run(tmp_path):
    return dg.materialize(
        of(portion_assets),
        resources={"io_manager": ParquetIOManager(base_dir=str(tmp_path)),
                   "data_dir": DataDir(path=str(DATA))},
        run_config={"ops": {"portions": {"config": {"total": 10}}}},
        raise_on_error=False,
    )


@pytest.mark.parametrize(("node", "table"), [("portion_ratios", portion_schemas.RATIOS),
                                             ("portions", portion_schemas.PORTIONS)])
def test_column_descriptions_reach_the_materialisation(tmp_path, node, table):
    result = _run(tmp_path)
    assert result.success
    meta = result.asset_materializations_for_node(node)[0].metadata
    columns = {c.name: c for c in meta["dagster/column_schema"].schema.columns}
    assert list(columns) == [c.name for c in table.columns]
    for spec in table.columns:
        shown = columns[spec.name]
        assert shown.description == spec.description
        assert shown.constraints.other == spec.constraints()
        assert shown.constraints.nullable == spec.nullable
    assert columns["key"].constraints.other == ["str or int"]
    assert columns["portions" if node == "portions" else "ratio"].constraints.other \
        == [("≥ 0" if node == "portions" else "finite, ≥ 0")]


def test_an_output_failing_its_contract_fails_the_asset_showing_the_rows(tmp_path,
                                                                         monkeypatch):
    def broken(ratios, total, method="priority"):
        out = pd.Series([4, -1, 7], index=pd.Index(["a", "b", "c"], name="key"),
                        name="portions")
        out.attrs["unallocated"] = 0
        return out

    monkeypatch.setattr(portion_transforms, "apportion", broken)
    result = _run(tmp_path)
    assert not result.success
    assert not (tmp_path / "portions.parquet").exists()
    failure = next(e for e in result.all_events
                   if e.event_type_value == "STEP_FAILURE" and e.step_key == "portions")
    user_failure = failure.step_failure_data.user_failure_data
    assert user_failure is not None, "a raw exception, not a dagster.Failure"
    assert "greater_than_or_equal_to(0)" in user_failure.description
    assert user_failure.metadata["failing_row_count"].value == 1
    rows = user_failure.metadata["failing_rows"].value
    assert "| b | -1 |" in rows and "| a |" not in rows


def test_failing_rows_of_a_multi_indexed_output_are_found_by_label():
    index = pd.MultiIndex.from_tuples([("c", 2024, "A", "X"), ("c", 2024, "B", "X")],
                                      names=["commodity", "year", "source", "sink"])
    table = pd.DataFrame({"volume": [1.0, math.inf]}, index=index)
    with pytest.raises(dg.Failure) as info:
        validate(table, sourcing_schemas.ProportionalOutput, "proportional_sourcing")
    meta = info.value.metadata
    assert meta["failing_row_count"].value == 1
    assert "| c | 2024 | B | X | inf |" in meta["failing_rows"].value
    assert "finite" in info.value.description


def test_an_input_key_given_two_values_fails_showing_both_rows():
    capacity = pl.DataFrame({"source": ["A", "A", "B"], "capacity": [1.0, 2.0, 1.0]})
    with pytest.raises(dg.Failure) as info:
        validate(capacity, sourcing_schemas.SourceCapacity, "source_capacity")
    meta = info.value.metadata
    assert meta["failing_row_count"].value == 2
    assert "one_value_per_key" in info.value.description
    assert "| B |" not in meta["failing_rows"].value
