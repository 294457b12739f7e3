"""pandera contracts for multi-period allocation tables (SPEC §2), per ``scenario``.

>>> import polars as pl
>>> PeriodCapacities.validate(pl.DataFrame({"scenario": ["s"], "period": [1],
...                                         "capacity": [3.0]})).height
1
"""

from __future__ import annotations

import pandera.pandas as pdx
import pandera.polars as pa
import polars as pl

from fairalloc.schemas._checks import AMOUNT, finite

#: The group column of the pipeline's sample data.
BY = ("scenario",)


class Accounts(pa.DataFrameModel):
    """Currency (entitlement weight) per account: finite, ≥ 0, one per (scenario, account)."""

    scenario: str
    account: str
    currency: float = pa.Field(ge=0)

    class Config:
        strict = False
        unique = ["scenario", "account"]

    @pa.check("currency", name="finite", error="must be finite")
    def _currency_finite(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return finite(data)


class PeriodRequests(pa.DataFrameModel):
    """Request per (scenario, account, period): finite, ≥ 0."""

    scenario: str
    account: str
    period: int
    request: float = pa.Field(ge=0)

    class Config:
        strict = False
        unique = ["scenario", "account", "period"]

    @pa.check("request", name="finite", error="must be finite")
    def _request_finite(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return finite(data)


class PeriodCapacities(pa.DataFrameModel):
    """Capacity per (scenario, period): finite, ≥ 0."""

    scenario: str
    period: int
    capacity: float = pa.Field(ge=0)

    class Config:
        strict = False
        unique = ["scenario", "period"]

    @pa.check("capacity", name="finite", error="must be finite")
    def _capacity_finite(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return finite(data)


def _index(*names: str) -> pdx.MultiIndex:
    return pdx.MultiIndex([pdx.Index(int if n == "period" else str, name=n) for n in names])



#: ``period_allocation``: indexed by (scenario, account, period).
AllocationOutput = pdx.DataFrameSchema(
    {c: pdx.Column(float, AMOUNT) for c in ("request", "step1", "step2", "allocation")},
    index=_index(*BY, "account", "period"), strict=True,
)
#: ``period_summary``: indexed by (scenario, period).
PeriodsOutput = pdx.DataFrameSchema(
    {c: pdx.Column(float, AMOUNT) for c in ("capacity", "weight", "used", "utilization",
                                             "price")},
    index=_index(*BY, "period"), strict=True,
)
#: ``period_accounts``: indexed by (scenario, account).
AccountsOutput = pdx.DataFrameSchema(
    {**{c: pdx.Column(float, AMOUNT) for c in ("currency", "entitlement_share", "lambda",
                                                "u_cap", "weighted_request",
                                                "weighted_allocated")},
     "binding": pdx.Column(str, pdx.Check.isin(["entitlement", "capacity", "full"]))},
    index=_index(*BY, "account"), strict=True,
)
#: ``seat_lottery``: indexed by (scenario, account, period).
LotteryOutput = pdx.DataFrameSchema(
    {"probability": pdx.Column(float, [pdx.Check.in_range(0, 1)]),
     "won": pdx.Column(int, pdx.Check.isin([0, 1]))},
    index=_index(*BY, "account", "period"), strict=True,
)
