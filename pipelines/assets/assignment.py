"""Ranked-preference assignment assets (group ``assignment``): partitioned per campaign; the
assignment is checked before it is stored."""

from collections.abc import Iterator

import dagster as dg
import pandas as pd
import polars as pl

from fairalloc.pipelines.assets.inputs import input_assets, partitioned
from fairalloc.pipelines.config import bounded, choices, option
from fairalloc.pipelines.metadata import (
    assignment_ranks,
    chart_metadata,
    checked,
    ownership,
    report_metadata,
    table_metadata,
    validate,
    violations_check,
)
from fairalloc.pipelines.partitions import ASSIGNMENT, PARTITION_BY
from fairalloc.pipelines.versions import code_version
from fairalloc.schemas import assignment as schemas
from fairalloc.transforms import assignment as tf
from fairalloc.transforms.charts import assignment_chart
from fairalloc.transforms.options import ASSIGNMENT as OPTIONS

GROUP = "assignment"
BY = list(schemas.BY)
VERSION = code_version(GROUP, __file__)

preferences_file, preferences = input_assets(
    "preferences", GROUP, schemas.GroupedPreferences,
    "Ranked choices: one row per (campaign, user, item).", version=VERSION, groups=ASSIGNMENT)
item_capacities_file, item_capacities = input_assets(
    "item_capacities", GROUP, schemas.GroupedItemCapacities,
    "Capacity per campaign and item (missing = unlimited).", file="capacities",
    version=VERSION, groups=ASSIGNMENT)

#: Arguments shared by the output assets: partitions, code version, automation.
OUTPUT = dict(group_name=GROUP, kinds={"pandas", "parquet"}, code_version=VERSION,
              metadata={PARTITION_BY: BY}, automation_condition=dg.AutomationCondition.eager(),
              **partitioned(ASSIGNMENT), **ownership(GROUP))


class AssignmentConfig(dg.Config):
    """Run config of the assignment (SPEC §3 defaults)."""

    strategy: choices(OPTIONS, "strategy") = option(OPTIONS, "strategy")
    fill_unlisted: bool = option(OPTIONS, "fill_unlisted")
    allow_unassigned: bool = option(OPTIONS, "allow_unassigned")
    unassigned_cost: bounded(OPTIONS, "unassigned_cost") = option(  # type: ignore
        OPTIONS, "unassigned_cost")
    seed: bounded(OPTIONS, "seed") = option(OPTIONS, "seed")  # type: ignore


@dg.asset(**OUTPUT, check_specs=[dg.AssetCheckSpec(
    "assignments_respect_capacity", asset="assignments", blocking=True,
    description="No item over capacity, each user at most once, only known items; run before "
                "the assignment is stored.")])
def assignments(context: dg.AssetExecutionContext, config: AssignmentConfig,
                preferences: pl.DataFrame, item_capacities: pl.DataFrame) -> Iterator:
    """The item (and rank obtained) per campaign and user, each campaign on its own."""
    res = tf.assign_preferences(preferences, item_capacities, by=BY, **config.model_dump())
    validate(res.allocation, schemas.GroupedAssignmentsOutput, "assignments", log=context.log)
    check = violations_check(tf.assignment_violations(res.allocation, item_capacities, by=BY),
                             check_name="assignments_respect_capacity",
                             asset_key=context.asset_key)
    yield from checked([check], [dg.Output(res.allocation, metadata={
        **table_metadata(res.allocation, schemas.GroupedAssignmentsOutput),
        **report_metadata(res.report),
        **chart_metadata(assignment_chart(res, item_capacities)),
        **assignment_ranks(res.allocation)})])


@dg.asset(**OUTPUT)
def assignment_summary(context: dg.AssetExecutionContext, assignments: pd.DataFrame,
                       item_capacities: pl.DataFrame, preferences: pl.DataFrame) -> pd.DataFrame:
    """Per campaign and item: capacity, assigned and how many got it as their k-th choice
    (rank_1 … the worst rank listed, whatever was obtained)."""
    summary = tf.assignment_summary(assignments, item_capacities, by=BY,
                                    max_rank=int(preferences["rank"].max()))
    validate(summary, schemas.GroupedSummaryOutput, "assignment_summary", log=context.log)
    context.add_output_metadata({**table_metadata(summary, schemas.GroupedSummaryOutput),
                                 **chart_metadata(assignment_chart(assignments, item_capacities)),
                                 **assignment_ranks(assignments)})
    return summary
