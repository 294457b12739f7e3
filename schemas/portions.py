"""pandera contracts for apportionment tables (SPEC §5).

>>> import polars as pl
>>> PortionRatios.validate(pl.DataFrame({"key": ["a", "b"], "ratio": [3, 1]}))["ratio"].dtype
Float64
"""

from __future__ import annotations

import pandera.pandas as pdx
import pandera.polars as pa
import polars as pl

from fairalloc.schemas._checks import finite


class PortionRatios(pa.DataFrameModel):
    """One row per key: a finite ratio ≥ 0 (0 = no portions); whole-number ratios (votes,
    headcounts) are read as floats."""

    key: str = pa.Field(unique=True)
    ratio: float = pa.Field(ge=0, nullable=False, coerce=True)

    class Config:
        strict = False

    @pa.check("ratio", name="finite", error="must be finite")
    def _ratio_finite(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return finite(data)


#: ``portions``: whole portions ≥ 0, indexed by key.
PortionsOutput = pdx.DataFrameSchema(
    {"portions": pdx.Column("int64", pdx.Check.ge(0))},
    index=pdx.Index(str, name="key", unique=True), strict=True,
)
