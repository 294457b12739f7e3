"""pandera checks of our own, registered once on :class:`pandera.Check` (pandera's
``register_check_method`` extension API) and usable with both back-ends.

A registered check function receives what the back-end hands it: pandera's polars back-end a
``PolarsData`` (a LazyFrame and the column key), the pandas back-end a Series (a column or an
index level). Each function below answers for both, so a table definition names the check once
(``Check.finite()``) whatever back-end validates the table.

>>> import pandas as pd
>>> import pandera.pandas as pdx
>>> pdx.SeriesSchema(float, pdx.Check.finite()).validate(pd.Series([1.0, 2.0])).size
2
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import polars as pl
from pandera.api.checks import Check
from pandera.api.extensions import register_check_method
from pandera.api.polars.types import PolarsData

_STRING_TYPES = (pl.String, pl.Categorical, pl.Enum)


def finite(data: PolarsData | pd.Series) -> pl.LazyFrame | pd.Series:
    """Every value is finite: no NaN, no ±inf (missing values are the nullable rule's)."""
    if isinstance(data, PolarsData):
        return data.lazyframe.select(pl.col(data.key).is_finite())
    return pd.Series(np.isfinite(data.to_numpy(dtype=float, na_value=np.nan)), index=data.index) \
        | data.isna()


def str_or_int(data: PolarsData | pd.Series) -> pl.LazyFrame | pd.Series | bool:
    """The column holds keys: strings or integers (what the transforms accept as keys)."""
    if isinstance(data, PolarsData):
        dtype = data.lazyframe.collect_schema()[data.key]
        ok = isinstance(dtype, _STRING_TYPES) or dtype.is_integer()
        # one boolean per row, not a scalar: pandera's polars back-end cannot report a scalar
        # result among other failure cases
        return data.lazyframe.select(pl.col(data.key).is_null() | pl.lit(ok))
    return bool(pd.api.types.is_integer_dtype(data) or pd.api.types.is_string_dtype(data))


def one_value_per_key(data: PolarsData, *, keys: Sequence[str],
                      values: Sequence[str]) -> pl.LazyFrame:
    """A key may repeat only with the same values (an exact repeat collapses to one row, as the
    transforms do); the rows of a key given two different values fail."""
    same = [pl.col(v).n_unique().over(list(keys)) == 1 for v in values]
    return data.lazyframe.select(pl.all_horizontal(same).alias("one_value_per_key"))


for _fn, _stats in ((finite, None), (str_or_int, None),
                    (one_value_per_key, ["keys", "values"])):
    if not hasattr(Check, _fn.__name__):  # registered once per process
        register_check_method(_fn, statistics=_stats)
