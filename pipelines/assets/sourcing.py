"""Sourcing assets (group ``sourcing``): inputs, both allocations per (commodity, year), checks."""


import dagster as dg
import pandas as pd
import polars as pl

from fairalloc.pipelines.assets.inputs import parquet_input
from fairalloc.pipelines.config import bounded, option
from fairalloc.pipelines.metadata import (
    chart_metadata,
    ownership,
    report_metadata,
    sourcing_summary,
    table_metadata,
    validate,
    violations_check,
)
from fairalloc.schemas import sourcing as schemas
from fairalloc.transforms import sourcing as tf
from fairalloc.transforms.charts import sourcing_chart
from fairalloc.transforms.options import SOURCING

GROUP = "sourcing"
BY = list(schemas.BY)

matches = parquet_input(
    "matches", GROUP, schemas.GroupedMatches, "Pairs source → sink per (commodity, year)."
)
source_capacity = parquet_input(
    "source_capacity", GROUP, schemas.GroupedSourceCapacity, "Capacity per source and group.",
    total="capacity",
)
sink_demand = parquet_input(
    "sink_demand", GROUP, schemas.GroupedSinkDemand, "Demand per sink and group.",
    total="demand",
)


class DirectSourcingConfig(dg.Config):
    """Run config of ``direct_sourcing``."""

    relative_tolerance: bounded(SOURCING, "relative_tolerance") = option(  # type: ignore
        SOURCING, "relative_tolerance")
    redistribute: bool = option(SOURCING, "redistribute")


def _publish(context: dg.AssetExecutionContext, table: pd.DataFrame, schema, report,
             sink_demand: pl.DataFrame, source_capacity: pl.DataFrame) -> None:
    validate(table, schema, context.asset_key.to_user_string())
    context.add_output_metadata({
        **table_metadata(table, schema), **report_metadata(report),
        **chart_metadata(sourcing_chart(table, sink_demand, source_capacity)),
        **sourcing_summary(table, sink_demand, BY)})


@dg.asset(name="proportional_sourcing", group_name=GROUP, kinds={"pandas", "parquet"},
          **ownership(GROUP))
def proportional_sourcing_table(
    context: dg.AssetExecutionContext,
    matches: pl.DataFrame,
    source_capacity: pl.DataFrame,
    sink_demand: pl.DataFrame,
) -> pd.DataFrame:
    """Each sink's demand split over its sources in proportion to capacity (may exceed it)."""
    volume = tf.proportional_sourcing(matches, sink_demand, source_capacity, by=BY)
    table = volume.to_frame()
    _publish(context, table, schemas.ProportionalOutput, volume.attrs["report"], sink_demand,
             source_capacity)
    return table


@dg.asset(name="direct_sourcing", group_name=GROUP, kinds={"pandas", "parquet"},
          **ownership(GROUP))
def direct_sourcing_table(
    context: dg.AssetExecutionContext,
    config: DirectSourcingConfig,
    matches: pl.DataFrame,
    source_capacity: pl.DataFrame,
    sink_demand: pl.DataFrame,
) -> pd.DataFrame:
    """Allocation within capacity, in source and sink units (tolerance from run config)."""
    source_volume, sink_volume = tf.direct_sourcing(
        matches, source_capacity, sink_demand,
        relative_tolerance=config.relative_tolerance,
        redistribute=config.redistribute,
        by=BY,
    )
    table = pd.concat([source_volume, sink_volume], axis=1)
    _publish(context, table, schemas.DirectOutput, source_volume.attrs["report"], sink_demand,
             source_capacity)
    return table


_CHECK_INS = {"source_capacity": dg.AssetIn("source_capacity"),
              "sink_demand": dg.AssetIn("sink_demand")}


@dg.asset_check(asset="direct_sourcing", blocking=True, additional_ins=_CHECK_INS)
def direct_sourcing_conserves(
    direct_sourcing: pd.DataFrame, source_capacity: pl.DataFrame, sink_demand: pl.DataFrame
) -> dg.AssetCheckResult:
    """No source over capacity, no sink over demand (sink units), nothing negative."""
    return violations_check(
        tf.conservation_violations(direct_sourcing, source_capacity, sink_demand, BY))


@dg.asset_check(asset="proportional_sourcing", blocking=True, additional_ins=_CHECK_INS)
def proportional_sourcing_conserves(
    proportional_sourcing: pd.DataFrame, source_capacity: pl.DataFrame, sink_demand: pl.DataFrame
) -> dg.AssetCheckResult:
    """No sink over demand, nothing negative (sources may be asked for beyond capacity)."""
    return violations_check(tf.conservation_violations(
        proportional_sourcing, source_capacity, sink_demand, BY, check_capacity=False))

