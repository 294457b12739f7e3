"""pandera contracts for fair-coverage tables (SPEC §4).

Inputs are checked with pandera's polars back-end, outputs (pandas tables indexed by their
keys) with its pandas back-end. Which groups and resources eligibility may name is checked by
the transform, which names the unknown keys.

>>> import polars as pl
>>> PopulationGroups.validate(pl.DataFrame({"group": ["g"], "population": [10.0],
...                                         "prior": [0.5], "weight": [1.0]})).height
1
"""

from __future__ import annotations

import numpy as np
import pandera.pandas as pdx
import pandera.polars as pa
import polars as pl

from fairalloc.schemas._checks import AMOUNT, finite


class PopulationGroups(pa.DataFrameModel):
    """Per group: population > 0, prior coverage in [0, 1), weight > 0, all finite."""

    group: str = pa.Field(unique=True)
    population: float = pa.Field(gt=0)
    prior: float = pa.Field(ge=0, lt=1)
    weight: float = pa.Field(gt=0)

    class Config:
        strict = False

    @pa.check("population", "weight", name="finite", error="must be finite")
    def _finite(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return finite(data)


class Eligibility(pa.DataFrameModel):
    """Pairs group → resource it may receive (duplicates allowed: they collapse to one)."""

    group: str
    resource: str

    class Config:
        strict = False


class ResourceSupply(pa.DataFrameModel):
    """Supply per resource: finite, > 0, one value per resource."""

    resource: str = pa.Field(unique=True)
    supply: float = pa.Field(gt=0)

    class Config:
        strict = False

    @pa.check("supply", name="finite", error="must be finite")
    def _supply_finite(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return finite(data)


_FINITE = pdx.Check(np.isfinite, name="finite", error="must be finite")

#: ``coverage_allocation``: indexed by (group, resource), every eligible pair.
AllocationOutput = pdx.DataFrameSchema(
    {"amount": pdx.Column(float, AMOUNT)},
    index=pdx.MultiIndex([pdx.Index(str, name="group"), pdx.Index(str, name="resource")]),
    strict=True,
)
#: ``group_coverage``: indexed by group.
GroupsOutput = pdx.DataFrameSchema(
    {**{c: pdx.Column(float, AMOUNT) for c in ("population", "prior", "weight", "shortfall",
                                                "allocated", "marginal_value")},
     "coverage": pdx.Column(float, [pdx.Check.in_range(0, 1), _FINITE])},
    index=pdx.Index(str, name="group", unique=True), strict=True,
)
#: ``resource_usage``: indexed by resource.
ResourcesOutput = pdx.DataFrameSchema(
    {**{c: pdx.Column(float, AMOUNT) for c in ("supply", "used", "marginal_value")},
     "scarce": pdx.Column(bool)},
    index=pdx.Index(str, name="resource", unique=True), strict=True,
)
