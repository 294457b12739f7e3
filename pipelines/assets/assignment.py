"""Ranked-preference assignment assets (group ``assignment``)."""

import dagster as dg
import pandas as pd
import polars as pl

from fairalloc.pipelines.assets.inputs import parquet_input
from fairalloc.pipelines.config import bounded, choices, option
from fairalloc.pipelines.metadata import (
    assignment_ranks,
    chart_metadata,
    ownership,
    report_metadata,
    table_metadata,
    validate,
    violations_check,
)
from fairalloc.schemas import assignment as schemas
from fairalloc.transforms import assignment as tf
from fairalloc.transforms.charts import assignment_chart
from fairalloc.transforms.options import ASSIGNMENT

GROUP = "assignment"

preferences = parquet_input("preferences", GROUP, schemas.Preferences,
                            "Ranked choices: one row per (user, item).")
item_capacities = parquet_input("item_capacities", GROUP, schemas.ItemCapacities,
                                "Capacity per item (missing = unlimited).", file="capacities")


class AssignmentConfig(dg.Config):
    """Run config of the assignment (SPEC §3 defaults)."""

    strategy: choices(ASSIGNMENT, "strategy") = option(ASSIGNMENT, "strategy")
    fill_unlisted: bool = option(ASSIGNMENT, "fill_unlisted")
    allow_unassigned: bool = option(ASSIGNMENT, "allow_unassigned")
    unassigned_cost: bounded(ASSIGNMENT, "unassigned_cost") = option(  # type: ignore
        ASSIGNMENT, "unassigned_cost")
    seed: bounded(ASSIGNMENT, "seed") = option(ASSIGNMENT, "seed")  # type: ignore


@dg.asset(group_name=GROUP, kinds={"pandas", "parquet"}, **ownership(GROUP))
def assignments(context: dg.AssetExecutionContext, config: AssignmentConfig,
                preferences: pl.DataFrame, item_capacities: pl.DataFrame) -> pd.DataFrame:
    """The item (and rank obtained) per user."""
    res = tf.assign_preferences(preferences, item_capacities, **config.model_dump())
    validate(res.allocation, schemas.AssignmentsOutput, "assignments")
    context.add_output_metadata({**table_metadata(res.allocation, schemas.AssignmentsOutput),
                                 **report_metadata(res.report),
                                 **chart_metadata(assignment_chart(res, item_capacities)),
                                 **assignment_ranks(res.allocation)})
    return res.allocation


@dg.asset(group_name=GROUP, kinds={"pandas", "parquet"}, **ownership(GROUP))
def assignment_summary(context: dg.AssetExecutionContext, assignments: pd.DataFrame,
                       item_capacities: pl.DataFrame, preferences: pl.DataFrame) -> pd.DataFrame:
    """Per item: capacity, assigned and how many got it as their k-th choice (rank_1 … the
    worst rank listed, whatever was obtained)."""
    summary = tf.assignment_summary(assignments, item_capacities,
                                    max_rank=int(preferences["rank"].max()))
    validate(summary, schemas.SummaryOutput, "assignment_summary")
    context.add_output_metadata({**table_metadata(summary, schemas.SummaryOutput),
                                 **chart_metadata(assignment_chart(assignments, item_capacities)),
                                 **assignment_ranks(assignments)})
    return summary


@dg.asset_check(asset="assignments", blocking=True,
                additional_ins={"item_capacities": dg.AssetIn("item_capacities")})
def assignments_respect_capacity(assignments: pd.DataFrame,
                                 item_capacities: pl.DataFrame) -> dg.AssetCheckResult:
    """No item over capacity, each user at most once, only known items."""
    return violations_check(tf.assignment_violations(assignments, item_capacities))

