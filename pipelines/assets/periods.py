"""Multi-period allocation assets (group ``periods``): partitioned per scenario, with a seat
lottery; each output checked before it is stored."""

from collections.abc import Iterator

import dagster as dg
import pandas as pd
import polars as pl

from fairalloc.pipelines.assets.inputs import input_assets, partitioned
from fairalloc.pipelines.config import bounded, choices, option
from fairalloc.pipelines.metadata import (
    chart_metadata,
    checked,
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
from fairalloc.pipelines.partitions import PARTITION_BY, PERIODS
from fairalloc.pipelines.versions import code_version
from fairalloc.schemas import periods as schemas
from fairalloc.transforms import periods as tf
from fairalloc.transforms.charts import lottery_chart, periods_chart
from fairalloc.transforms.options import PERIODS as OPTIONS

GROUP = "periods"
BY = list(schemas.BY)
VERSION = code_version(GROUP, __file__)

accounts_file, accounts = input_assets(
    "accounts", GROUP, schemas.Accounts,
    "Currency (entitlement weight) per account and scenario.", total="currency",
    version=VERSION, groups=PERIODS)
period_requests_file, period_requests = input_assets(
    "period_requests", GROUP, schemas.PeriodRequests, "Requests per account, period and scenario.",
    total="request", file="requests", version=VERSION, groups=PERIODS)
period_capacities_file, period_capacities = input_assets(
    "period_capacities", GROUP, schemas.PeriodCapacities, "Capacity per period and scenario.",
    total="capacity", file="capacities", version=VERSION, groups=PERIODS)


def _out(description: str) -> dg.AssetOut:
    return dg.AssetOut(kinds={"pandas", "parquet"}, description=description,
                       code_version=VERSION, metadata={PARTITION_BY: BY},
                       automation_condition=dg.AutomationCondition.eager(), **ownership(GROUP))


class PeriodAllocationConfig(dg.Config):
    """Run config of the period allocation (SPEC §2 defaults)."""

    auto_weights: bool = option(OPTIONS, "auto_weights")
    two_step: bool = option(OPTIONS, "two_step")
    convergence_threshold: bounded(OPTIONS, "convergence_threshold") = option(  # type: ignore
        OPTIONS, "convergence_threshold")
    demand_gap_threshold: bounded(OPTIONS, "demand_gap_threshold") = option(  # type: ignore
        OPTIONS, "demand_gap_threshold")
    max_iterations: bounded(OPTIONS, "max_iterations") = option(  # type: ignore
        OPTIONS, "max_iterations")
    step2_strategy: choices(OPTIONS, "step2_strategy") = option(OPTIONS, "step2_strategy")


class LotteryConfig(dg.Config):
    """Run config of the seat lottery."""

    seed: bounded(OPTIONS, "seed") = option(OPTIONS, "seed")  # type: ignore


@dg.multi_asset(
    group_name=GROUP,
    outs={
        "period_allocation": _out("Allocation per account and period."),
        "period_accounts": _out("λ, caps and binding reason per account."),
        "period_summary": _out("Use, utilisation and price per period."),
    },
    check_specs=[dg.AssetCheckSpec(
        "period_allocation_conserves", asset="period_allocation", blocking=True,
        description="Against the inputs: capacity respected in every period, no account above "
                    "its request, nothing negative; run before the tables are stored.")],
    **partitioned(PERIODS),
)
def period_tables(
    context: dg.AssetExecutionContext,
    config: PeriodAllocationConfig,
    accounts: pl.DataFrame,
    period_requests: pl.DataFrame,
    period_capacities: pl.DataFrame,
) -> Iterator:
    """Two-step entitlement allocation, each scenario on its own."""
    res = tf.allocate_period_groups(period_requests, accounts, period_capacities, by=BY,
                                    **config.model_dump())
    for schema, table in ((schemas.AllocationOutput, res.allocation),
                          (schemas.AccountsOutput, res.accounts),
                          (schemas.PeriodsOutput, res.periods)):
        validate(table, schema, schema.name, log=context.log)
    check = violations_check(
        tf.period_violations(res.allocation, period_requests, period_capacities, by=BY),
        check_name="period_allocation_conserves", asset_key=dg.AssetKey("period_allocation"))
    utilisation = share_metadata("utilization", res.periods["utilization"])
    shared = {**chart_metadata(periods_chart(res)),
              **periods_summary(res.periods, res.allocation, BY)}
    yield from checked([check], [
        dg.Output(res.allocation, "period_allocation",
                  metadata={**table_metadata(res.allocation, schemas.AllocationOutput),
                            **report_metadata(res.report), **shared}),
        dg.Output(res.accounts, "period_accounts",
                  metadata={**table_metadata(res.accounts, schemas.AccountsOutput), **shared}),
        dg.Output(res.periods, "period_summary",
                  metadata={**table_metadata(res.periods, schemas.PeriodsOutput),
                            **utilisation, **shared}),
    ])


@dg.asset(group_name=GROUP, kinds={"pandas", "parquet"}, code_version=VERSION,
          metadata={PARTITION_BY: BY}, automation_condition=dg.AutomationCondition.eager(),
          check_specs=[dg.AssetCheckSpec(
              "lottery_within_capacity", asset="seat_lottery", blocking=True,
              description="Winners per period never exceed the integer capacity; run before "
                          "the draw is stored.")],
          **partitioned(PERIODS), **ownership(GROUP))
def seat_lottery(
    context: dg.AssetExecutionContext,
    config: LotteryConfig,
    period_allocation: pd.DataFrame,
    period_capacities: pl.DataFrame,
) -> Iterator:
    """Whole seats by dependent rounding of the fractional allocation (seed from run config)."""
    draw = tf.lottery_groups(period_allocation, period_capacities, by=BY, seed=config.seed)
    validate(draw, schemas.LotteryOutput, "seat_lottery", log=context.log)
    winners = draw.groupby(level=[*BY, "period"])["won"].sum()
    check = violations_check(tf.lottery_violations(draw, period_capacities, by=BY),
                             check_name="lottery_within_capacity", asset_key=context.asset_key)
    yield from checked([check], [dg.Output(draw, metadata={
        **table_metadata(draw, schemas.LotteryOutput), "seed": config.seed,
        "winners": int(draw["won"].sum()),
        "expected winners": shown(float(draw["probability"].sum())),
        "largest period": int(winners.max()),
        **chart_metadata(lottery_chart(draw)), **lottery_summary(draw, BY)})])
