"""Ranked-preference assignment assets (group ``assignment``): partitioned per campaign; the
assignment is checked before it is stored."""

from collections.abc import Iterator

import dagster as dg
import pandas as pd
import polars as pl

from fairalloc.pipelines.assets.inputs import input_assets, partitioned
from fairalloc.pipelines.config import choices, option
from fairalloc.pipelines.metadata import (
    checked,
    report_metadata,
    table_metadata,
    validate,
    violations_check,
)
from fairalloc.pipelines.partitions import ASSIGNMENT, PARTITION_BY
from fairalloc.pipelines.versions import code_version
from fairalloc.schemas import assignment as schemas
from fairalloc.transforms import assignment as tf
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
              **partitioned(ASSIGNMENT))


class AssignmentConfig(dg.Config):
    """Run config of the assignment (SPEC §3 defaults)."""

    strategy: choices(OPTIONS, "strategy") = option(OPTIONS, "strategy")
    fill_unlisted: bool = option(OPTIONS, "fill_unlisted")
    allow_unassigned: bool = option(OPTIONS, "allow_unassigned")
    unassigned_cost: int = option(OPTIONS, "unassigned_cost")
    seed: int = option(OPTIONS, "seed")


@dg.asset(**OUTPUT, check_specs=[dg.AssetCheckSpec(
    "assignments_respect_capacity", asset="assignments", blocking=True,
    description="No item over capacity, each user at most once, only known items; run before "
                "the assignment is stored.")])
def assignments(context: dg.AssetExecutionContext, config: AssignmentConfig,
                preferences: pl.DataFrame, item_capacities: pl.DataFrame) -> Iterator:
    """The item (and rank obtained) per campaign and user, each campaign on its own."""
    res = tf.assign_preferences(preferences, item_capacities, by=BY, **config.model_dump())
    validate(res.allocation, schemas.GroupedAssignmentsOutput, "assignments", log=context.log)
    meta = report_metadata(res.report)
    meta["rank_counts"] = dg.MetadataValue.json({str(k): v for k, v in
                                                 res.report.rank_counts.items()})
    check = violations_check(tf.assignment_violations(res.allocation, item_capacities, by=BY),
                             check_name="assignments_respect_capacity",
                             asset_key=context.asset_key)
    yield from checked([check], [dg.Output(res.allocation, metadata={
        **table_metadata(res.allocation, schemas.GroupedAssignmentsOutput), **meta})])


@dg.asset(**OUTPUT)
def assignment_summary(context: dg.AssetExecutionContext, assignments: pd.DataFrame,
                       item_capacities: pl.DataFrame) -> pd.DataFrame:
    """Per campaign and item: capacity, assigned and how many got it as their k-th choice."""
    summary = tf.assignment_summary(assignments, item_capacities, by=BY)
    context.add_output_metadata(table_metadata(summary, schemas.SUMMARY))
    return summary
