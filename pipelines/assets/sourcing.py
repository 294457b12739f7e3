"""Sourcing assets (group ``sourcing``): inputs and both allocations, partitioned per
(commodity, year); each output checked for conservation before it is stored."""

from collections.abc import Iterator

import dagster as dg
import pandas as pd
import polars as pl

from fairalloc.pipelines.assets.inputs import input_assets, partitioned
from fairalloc.pipelines.config import bounded, option
from fairalloc.pipelines.metadata import (
    chart_metadata,
    checked,
    ownership,
    report_metadata,
    sourcing_summary,
    table_metadata,
    validate,
    violations_check,
)
from fairalloc.pipelines.partitions import PARTITION_BY, SOURCING
from fairalloc.pipelines.versions import code_version
from fairalloc.schemas import sourcing as schemas
from fairalloc.transforms import sourcing as tf
from fairalloc.transforms.charts import sourcing_chart
from fairalloc.transforms.options import SOURCING as OPTIONS

GROUP = "sourcing"
BY = list(schemas.BY)
VERSION = code_version(GROUP, __file__)

matches_file, matches = input_assets(
    "matches", GROUP, schemas.GroupedMatches, "Pairs source → sink per (commodity, year).",
    version=VERSION, groups=SOURCING)
source_capacity_file, source_capacity = input_assets(
    "source_capacity", GROUP, schemas.GroupedSourceCapacity, "Capacity per source and group.",
    total="capacity", version=VERSION, groups=SOURCING)
sink_demand_file, sink_demand = input_assets(
    "sink_demand", GROUP, schemas.GroupedSinkDemand, "Demand per sink and group.",
    total="demand", version=VERSION, groups=SOURCING)

#: Arguments shared by the output assets: partitions, code version, automation.
OUTPUT = dict(group_name=GROUP, kinds={"pandas", "parquet"}, code_version=VERSION,
              metadata={PARTITION_BY: BY}, automation_condition=dg.AutomationCondition.eager(),
              **partitioned(SOURCING), **ownership(GROUP))


class DirectSourcingConfig(dg.Config):
    """Run config of ``direct_sourcing``."""

    relative_tolerance: bounded(OPTIONS, "relative_tolerance") = option(  # type: ignore
        OPTIONS, "relative_tolerance")
    redistribute: bool = option(OPTIONS, "redistribute")


def _publish(context: dg.AssetExecutionContext, table: pd.DataFrame, schema, report,
             check: dg.AssetCheckResult, sink_demand: pl.DataFrame,
             source_capacity: pl.DataFrame) -> Iterator:
    validate(table, schema, context.asset_key.to_user_string(), log=context.log)
    metadata = {**table_metadata(table, schema), **report_metadata(report),
                **chart_metadata(sourcing_chart(table, sink_demand, source_capacity)),
                **sourcing_summary(table, sink_demand, BY)}
    yield from checked([check], [dg.Output(table, metadata=metadata)])


@dg.asset(name="proportional_sourcing", **OUTPUT, check_specs=[dg.AssetCheckSpec(
    "proportional_sourcing_conserves", asset="proportional_sourcing", blocking=True,
    description="No sink over demand, nothing negative (sources may be asked for beyond "
                "capacity); run before the table is stored.")])
def proportional_sourcing_table(
    context: dg.AssetExecutionContext,
    matches: pl.DataFrame,
    source_capacity: pl.DataFrame,
    sink_demand: pl.DataFrame,
) -> Iterator:
    """Each sink's demand split over its sources in proportion to capacity (may exceed it)."""
    volume = tf.proportional_sourcing(matches, sink_demand, source_capacity, by=BY)
    table = volume.to_frame()
    check = violations_check(tf.conservation_violations(
        table, source_capacity, sink_demand, BY, check_capacity=False),
        check_name="proportional_sourcing_conserves", asset_key=context.asset_key)
    yield from _publish(context, table, schemas.ProportionalOutput, volume.attrs["report"], check,
                        sink_demand, source_capacity)


@dg.asset(name="direct_sourcing", **OUTPUT, check_specs=[dg.AssetCheckSpec(
    "direct_sourcing_conserves", asset="direct_sourcing", blocking=True,
    description="No source over capacity, no sink over demand (sink units), nothing "
                "negative; run before the table is stored.")])
def direct_sourcing_table(
    context: dg.AssetExecutionContext,
    config: DirectSourcingConfig,
    matches: pl.DataFrame,
    source_capacity: pl.DataFrame,
    sink_demand: pl.DataFrame,
) -> Iterator:
    """Allocation within capacity, in source and sink units (tolerance from run config)."""
    source_volume, sink_volume = tf.direct_sourcing(
        matches, source_capacity, sink_demand,
        relative_tolerance=config.relative_tolerance,
        redistribute=config.redistribute,
        by=BY,
    )
    table = pd.concat([source_volume, sink_volume], axis=1)
    check = violations_check(
        tf.conservation_violations(table, source_capacity, sink_demand, BY),
        check_name="direct_sourcing_conserves", asset_key=context.asset_key)
    yield from _publish(context, table, schemas.DirectOutput, source_volume.attrs["report"],
                        check, sink_demand, source_capacity)
