"""Checks shared by the pandera models of every capability."""

from __future__ import annotations

import numpy as np
import pandera.pandas as pdx
import pandera.polars as pa
import polars as pl


def finite(data: pa.PolarsData) -> pl.LazyFrame:
    """polars back-end: the column is finite (no NaN, no ±inf)."""
    return data.lazyframe.select(pl.col(data.key).is_finite())


#: pandas back-end: amounts ≥ 0 and finite.
AMOUNT = [pdx.Check.ge(0), pdx.Check(np.isfinite, name="finite", error="must be finite")]
