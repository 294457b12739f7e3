"""Fair-coverage assets (group ``coverage``): scarce resources to weighted populations.

Unpartitioned: the sample data is one connected problem. Checks run before storage."""

from collections.abc import Iterator

import dagster as dg
import pandas as pd
import polars as pl

from fairalloc.pipelines.assets.inputs import input_assets
from fairalloc.pipelines.config import choices, option
from fairalloc.pipelines.metadata import (
    audit_summary,
    chart_metadata,
    checked,
    coverage_summary,
    ownership,
    report_metadata,
    resources_summary,
    share_metadata,
    shown,
    table_metadata,
    validate,
    violations_check,
)
from fairalloc.pipelines.versions import code_version
from fairalloc.schemas import coverage as schemas
from fairalloc.transforms import coverage as tf
from fairalloc.transforms import options
from fairalloc.transforms.charts import audit_chart, coverage_chart
from fairalloc.transforms.options import COVERAGE

GROUP = "coverage"
VERSION = code_version(GROUP, __file__)
#: Arguments shared by the outputs: code version and automation (unpartitioned: one problem).
OUTPUT = dict(kinds={"pandas", "parquet"}, code_version=VERSION,
              automation_condition=dg.AutomationCondition.eager(), **ownership(GROUP))

population_groups_file, population_groups = input_assets(
    "population_groups", GROUP, schemas.PopulationGroups,
    "Population, prior coverage and weight per group.", total="population", file="groups",
    version=VERSION)
eligibility_file, eligibility = input_assets(
    "eligibility", GROUP, schemas.Eligibility, "Pairs (group, resource): who may receive what.",
    version=VERSION)
resource_supply_file, resource_supply = input_assets(
    "resource_supply", GROUP, schemas.ResourceSupply, "Supply per resource.", total="supply",
    file="supply", version=VERSION)


class CoverageConfig(dg.Config):
    """Run config of the coverage allocation (SPEC §4 defaults).

    ``loss`` is ``"quadratic"``, ``"power"`` (``loss_parameter`` = m > 1), ``"log"``
    (``loss_parameter`` = eps > 0) or ``"exp"``.
    """

    loss: choices(COVERAGE, "loss") = option(COVERAGE, "loss")
    loss_parameter: float | None = None


def loss_spec(config: CoverageConfig) -> str | tuple[str, float | None]:
    """The ``loss`` argument of :func:`fairalloc.transforms.coverage.allocate_coverage` for
    ``config``.

    >>> loss_spec(CoverageConfig(loss="power", loss_parameter=3))
    ('power', 3.0)
    >>> loss_spec(CoverageConfig())
    'quadratic'
    """
    return options.loss_spec(config.loss, config.loss_parameter)


@dg.multi_asset(
    group_name=GROUP,
    outs={
        "coverage_allocation": dg.AssetOut(**OUTPUT,
                                           description="Amount per (group, resource)."),
        "group_coverage": dg.AssetOut(**OUTPUT,
                                      description="Coverage, shortfall and allocated per "
                                                  "group."),
        "resource_usage": dg.AssetOut(**OUTPUT,
                                      description="Supply, use, scarcity and price per "
                                                  "resource."),
    },
    check_specs=[dg.AssetCheckSpec(
        "coverage_within_supply", asset="coverage_allocation", blocking=True,
        description="Against the inputs: no resource used beyond its supply, no group above "
                    "coverage 1, nothing negative, only known groups and resources; run before "
                    "the tables are stored.")],
)
def coverage_tables(
    context: dg.AssetExecutionContext,
    config: CoverageConfig,
    population_groups: pl.DataFrame,
    eligibility: pl.DataFrame,
    resource_supply: pl.DataFrame,
):
    """Fair coverage: minimise Σ weight × population × loss(coverage) within supply."""
    res = tf.allocate_coverage(population_groups, eligibility, resource_supply,
                               loss=loss_spec(config))
    allocation = res.allocation.to_frame()
    for schema, table in ((schemas.AllocationOutput, allocation),
                          (schemas.GroupsOutput, res.groups),
                          (schemas.ResourcesOutput, res.resources)):
        validate(table, schema, schema.name, log=context.log)
    groups = res.groups
    utilisation = share_metadata("utilization",
                                 res.resources["used"] / res.resources["supply"])
    chart = chart_metadata(coverage_chart(res))
    shared = {**chart, **coverage_summary(groups)}
    check = violations_check(
        tf.coverage_violations(allocation, population_groups, resource_supply),
        check_name="coverage_within_supply", asset_key=dg.AssetKey("coverage_allocation"))
    yield from checked([check], [
        dg.Output(allocation, "coverage_allocation",
                  metadata={**table_metadata(allocation, schemas.AllocationOutput),
                            **report_metadata(res.report), **shared}),
        dg.Output(groups, "group_coverage",
                  metadata={**table_metadata(groups, schemas.GroupsOutput),
                            "total_shortfall": shown(float(groups["shortfall"].sum())),
                            "total_allocated": shown(float(groups["allocated"].sum())),
                            "min_coverage": shown(float(groups["coverage"].min()), True),
                            **shared}),
        dg.Output(res.resources, "resource_usage",
                  metadata={**table_metadata(res.resources, schemas.ResourcesOutput),
                            **utilisation, **chart, **resources_summary(res.resources)}),
    ])


@dg.asset(group_name=GROUP, **OUTPUT, check_specs=[dg.AssetCheckSpec(
    "allocation_is_fair", asset="fairness_audit", blocking=True,
    description="No justified complaint: the audit is empty (checked before it is stored).")])
def fairness_audit(context: dg.AssetExecutionContext, coverage_allocation: pd.DataFrame,
                   population_groups: pl.DataFrame, eligibility: pl.DataFrame) -> Iterator:
    """Every justified complaint against the allocation (empty when it is fair)."""
    audit = tf.audit_fairness(population_groups, coverage_allocation, eligibility)
    validate(audit, schemas.AuditOutput, "fairness_audit", log=context.log)
    check = violations_check(audit_violations(audit), check_name="allocation_is_fair",
                             asset_key=context.asset_key)
    yield from checked([check], [dg.Output(audit, metadata={
        **table_metadata(audit, schemas.AuditOutput), "complaints": len(audit),
        **chart_metadata(audit_chart(audit)), **audit_summary(audit)})])


def audit_violations(audit: pd.DataFrame) -> pd.DataFrame:
    """The fairness audit as violations: rule = the complaint's definition, key =
    (complainant, other, resource), amount = what the other group received, limit 0."""
    return pd.DataFrame({
        "rule": audit["definition"].to_numpy(),
        "key": list(zip(audit["complainant"], audit["other"], audit["resource"], strict=True)),
        "amount": audit["amount"].to_numpy(dtype=float),
        "limit": 0.0,
    }, columns=tf.VIOLATION_COLUMNS)
