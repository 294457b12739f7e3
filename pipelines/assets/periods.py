"""Multi-period allocation assets (group ``periods``): per scenario, with a seat lottery."""

import dagster as dg
import pandas as pd
import polars as pl

from fairalloc.pipelines.assets.inputs import parquet_input
from fairalloc.pipelines.config import bounded, choices, option
from fairalloc.pipelines.metadata import (
    chart_metadata,
    lottery_summary,
    ownership,
    periods_summary,
    report_metadata,
    share_metadata,
    shown,
    table_metadata,
    validate,
    violations_check,
)
from fairalloc.schemas import periods as schemas
from fairalloc.transforms import periods as tf
from fairalloc.transforms.charts import lottery_chart, periods_chart
from fairalloc.transforms.options import PERIODS

GROUP = "periods"
BY = list(schemas.BY)

accounts = parquet_input("accounts", GROUP, schemas.Accounts,
                         "Currency (entitlement weight) per account and scenario.",
                         total="currency")
period_requests = parquet_input("period_requests", GROUP, schemas.PeriodRequests,
                                "Requests per account, period and scenario.", total="request",
                                file="requests")
period_capacities = parquet_input("period_capacities", GROUP, schemas.PeriodCapacities,
                                  "Capacity per period and scenario.", total="capacity",
                                  file="capacities")


class PeriodAllocationConfig(dg.Config):
    """Run config of the period allocation (SPEC §2 defaults)."""

    auto_weights: bool = option(PERIODS, "auto_weights")
    two_step: bool = option(PERIODS, "two_step")
    convergence_threshold: bounded(PERIODS, "convergence_threshold") = option(  # type: ignore
        PERIODS, "convergence_threshold")
    demand_gap_threshold: bounded(PERIODS, "demand_gap_threshold") = option(  # type: ignore
        PERIODS, "demand_gap_threshold")
    max_iterations: bounded(PERIODS, "max_iterations") = option(  # type: ignore
        PERIODS, "max_iterations")
    step2_strategy: choices(PERIODS, "step2_strategy") = option(PERIODS, "step2_strategy")


class LotteryConfig(dg.Config):
    """Run config of the seat lottery."""

    seed: bounded(PERIODS, "seed") = option(PERIODS, "seed")  # type: ignore


@dg.multi_asset(
    group_name=GROUP,
    outs={
        "period_allocation": dg.AssetOut(kinds={"pandas", "parquet"},
                                         description="Allocation per account and period.",
                                         **ownership(GROUP)),
        "period_accounts": dg.AssetOut(kinds={"pandas", "parquet"},
                                       description="λ, caps and binding reason per account.",
                                       **ownership(GROUP)),
        "period_summary": dg.AssetOut(kinds={"pandas", "parquet"},
                                      description="Use, utilisation and price per period.",
                                      **ownership(GROUP)),
    },
)
def period_tables(
    context: dg.AssetExecutionContext,
    config: PeriodAllocationConfig,
    accounts: pl.DataFrame,
    period_requests: pl.DataFrame,
    period_capacities: pl.DataFrame,
):
    """Two-step entitlement allocation, each scenario on its own."""
    res = tf.allocate_period_groups(period_requests, accounts, period_capacities, by=BY,
                                    **config.model_dump())
    for schema, table in ((schemas.AllocationOutput, res.allocation),
                          (schemas.AccountsOutput, res.accounts),
                          (schemas.PeriodsOutput, res.periods)):
        validate(table, schema, schema.name)
    utilisation = share_metadata("utilization", res.periods["utilization"])
    shared = {**chart_metadata(periods_chart(res)),
              **periods_summary(res.periods, res.allocation, BY)}
    yield dg.Output(res.allocation, "period_allocation",
                    metadata={**table_metadata(res.allocation, schemas.AllocationOutput),
                              **report_metadata(res.report), **shared})
    yield dg.Output(res.accounts, "period_accounts",
                    metadata={**table_metadata(res.accounts, schemas.AccountsOutput), **shared})
    yield dg.Output(res.periods, "period_summary",
                    metadata={**table_metadata(res.periods, schemas.PeriodsOutput), **utilisation,
                              **shared})


@dg.asset(group_name=GROUP, kinds={"pandas", "parquet"}, **ownership(GROUP))
def seat_lottery(
    context: dg.AssetExecutionContext,
    config: LotteryConfig,
    period_allocation: pd.DataFrame,
    period_capacities: pl.DataFrame,
) -> pd.DataFrame:
    """Whole seats by dependent rounding of the fractional allocation (seed from run config)."""
    draw = tf.lottery_groups(period_allocation, period_capacities, by=BY, seed=config.seed)
    validate(draw, schemas.LotteryOutput, "seat_lottery")
    winners = draw.groupby(level=[*BY, "period"])["won"].sum()
    context.add_output_metadata({**table_metadata(draw, schemas.LotteryOutput), "seed": config.seed,
                                 "winners": int(draw["won"].sum()),
                                 "expected winners": shown(float(draw["probability"].sum())),
                                 "largest period": int(winners.max()),
                                 **chart_metadata(lottery_chart(draw)),
                                 **lottery_summary(draw, BY)})
    return draw


@dg.asset_check(asset="period_allocation", blocking=True,
                additional_ins={"period_requests": dg.AssetIn("period_requests"),
                                "period_capacities": dg.AssetIn("period_capacities")})
def period_allocation_conserves(period_allocation: pd.DataFrame, period_requests: pl.DataFrame,
                                period_capacities: pl.DataFrame) -> dg.AssetCheckResult:
    """Against the inputs: capacity respected in every period, no account above its request,
    nothing negative."""
    return violations_check(
        tf.period_violations(period_allocation, period_requests, period_capacities, by=BY))


@dg.asset_check(asset="seat_lottery", blocking=True,
                additional_ins={"period_capacities": dg.AssetIn("period_capacities")})
def lottery_within_capacity(seat_lottery: pd.DataFrame,
                            period_capacities: pl.DataFrame) -> dg.AssetCheckResult:
    """Winners per period never exceed the integer capacity."""
    return violations_check(tf.lottery_violations(seat_lottery, period_capacities, by=BY))

