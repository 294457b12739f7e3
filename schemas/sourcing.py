"""pandera contracts for sourcing tables (SPEC §1).

Inputs are checked with pandera's polars back-end (the pipeline loads Parquet with polars);
outputs, pandas tables with a MultiIndex, with its pandas back-end. The pipeline validates with
these models; the transforms enforce the same rules (finite, ≥ 0, unique keys) with vectorised
checks that name the offending keys.

>>> import polars as pl
>>> SourceCapacity.validate(pl.DataFrame({"source": ["a"], "capacity": [1.0]})).height
1
"""

from __future__ import annotations

import pandera.pandas as pdx
import pandera.polars as pa
import polars as pl

from fairalloc.schemas._checks import AMOUNT, finite

#: The group columns of the pipeline's sample data (``by=`` of the transforms).
BY = ("commodity", "year")


class Matches(pa.DataFrameModel):
    """Pairs source → sink (duplicates allowed: they collapse to one)."""

    source: str
    sink: str

    class Config:
        strict = False


class SourceCapacity(pa.DataFrameModel):
    """Capacity per source: finite, ≥ 0, one value per source."""

    source: str
    capacity: float = pa.Field(ge=0)

    class Config:
        strict = False
        unique = ["source"]

    @pa.check("capacity", name="finite", error="must be finite")
    def _capacity_finite(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return finite(data)


class SinkDemand(pa.DataFrameModel):
    """Demand per sink: finite, ≥ 0, one value per sink."""

    sink: str
    demand: float = pa.Field(ge=0)

    class Config:
        strict = False
        unique = ["sink"]

    @pa.check("demand", name="finite", error="must be finite")
    def _demand_finite(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return finite(data)


class GroupedMatches(Matches):
    """Matches inside (commodity, year) groups."""

    commodity: str
    year: int


class GroupedSourceCapacity(SourceCapacity):
    """Capacity per (commodity, year, source)."""

    commodity: str
    year: int

    class Config:
        strict = False
        unique = [*BY, "source"]


class GroupedSinkDemand(SinkDemand):
    """Demand per (commodity, year, sink)."""

    commodity: str
    year: int

    class Config:
        strict = False
        unique = [*BY, "sink"]


_LEVEL_TYPES = {"year": int}


def _output(columns: list[str], by: tuple[str, ...]) -> pdx.DataFrameSchema:
    names = [*by, "source", "sink"]
    index = pdx.MultiIndex([pdx.Index(_LEVEL_TYPES.get(c, str), name=c) for c in names])
    cols = {c: pdx.Column(float, AMOUNT) for c in columns}
    return pdx.DataFrameSchema(cols, index=index, strict=True)


#: ``proportional_sourcing`` as the pipeline writes it: indexed by (commodity, year, source, sink).
ProportionalOutput = _output(["volume"], BY)
#: ``direct_sourcing`` as the pipeline writes it, in source and in sink units.
DirectOutput = _output(["source_volume", "sink_volume"], BY)
