"""The table definitions themselves: every contract of every capability is derived from one,
every column is described, and the registered checks work on both pandera back-ends."""

from __future__ import annotations

import importlib
import math

import pandas as pd
import pandera.errors
import pandera.pandas as pdx
import pandera.polars as pa
import polars as pl
import pytest

from fairalloc.schemas.tables import Table, table_of

CAPABILITIES = ("sourcing", "periods", "assignment", "coverage", "portions")


def _schemas():
    for cap in CAPABILITIES:
        module = importlib.import_module(f"fairalloc.schemas.{cap}")
        for name, obj in vars(module).items():
            if isinstance(obj, pa.DataFrameSchema | pdx.DataFrameSchema):
                yield f"{cap}.{name}", obj


@pytest.mark.parametrize(("name", "schema"), list(_schemas()))
def test_every_contract_is_derived_from_a_described_table(name, schema):
    table = table_of(schema)
    assert isinstance(table, Table), f"{name} is written by hand"
    assert table.description
    assert all(c.description for c in table.columns)
    names = [*schema.columns]
    if isinstance(schema, pdx.DataFrameSchema) and schema.index is not None:  # a keyless
        names += [n for n in schema.index.names]  # output (the audit) keeps a row number
    assert sorted(names) == sorted(c.name for c in table.columns)


def test_every_capability_has_its_contracts():
    found = {name.split(".")[0] for name, _ in _schemas()}
    assert found == set(CAPABILITIES)


@pytest.mark.parametrize("value", [math.inf, -math.inf])
def test_the_registered_finite_check_serves_both_back_ends(value):
    check = pa.Check.finite()
    with pytest.raises(pandera.errors.SchemaError, match="finite"):
        pa.DataFrameSchema({"x": pa.Column(float, check)}).validate(
            pl.DataFrame({"x": [1.0, value]}))
    with pytest.raises(pandera.errors.SchemaError, match="finite"):
        pdx.DataFrameSchema({"x": pdx.Column(float, check)}).validate(
            pd.DataFrame({"x": [1.0, value]}))


def test_nan_is_refused_by_both_back_ends():
    """NaN is missing to pandas (the nullable rule's), not to polars (the finite rule's too)."""
    check = pa.Check.finite()
    with pytest.raises(pandera.errors.SchemaError):
        pa.DataFrameSchema({"x": pa.Column(float, check)}).validate(
            pl.DataFrame({"x": [1.0, math.nan]}))
    with pytest.raises(pandera.errors.SchemaError):
        pdx.DataFrameSchema({"x": pdx.Column(float, check)}).validate(
            pd.DataFrame({"x": [1.0, math.nan]}))
