"""pandera contracts for ranked-preference assignment tables (SPEC §3).

>>> import polars as pl
>>> Preferences.validate(pl.DataFrame({"user": ["u"], "item": ["i"], "rank": [1]})).height
1
"""

from __future__ import annotations

import pandera.pandas as pdx
import pandera.polars as pa


class Preferences(pa.DataFrameModel):
    """One row per (user, item): rank 1 = best; a user gives each rank at most once."""

    user: str
    item: str
    rank: int = pa.Field(ge=1)

    class Config:
        strict = False
        unique = ["user", "item"]


class ItemCapacities(pa.DataFrameModel):
    """Whole-number capacity ≥ 0 per item; missing (null) = unlimited."""

    item: str = pa.Field(unique=True)
    capacity: int = pa.Field(ge=0, nullable=True)

    class Config:
        strict = False


#: ``assignments``: indexed by user.
AssignmentsOutput = pdx.DataFrameSchema(
    {"item": pdx.Column(str, nullable=True),
     "rank": pdx.Column("Int64", pdx.Check.ge(1), nullable=True)},
    index=pdx.Index(str, name="user", unique=True), strict=True,
)
