"""Fair-coverage assets (group ``coverage``): scarce resources to weighted populations."""

import dagster as dg
import pandas as pd
import polars as pl

from fairalloc.pipelines.assets.inputs import parquet_input
from fairalloc.pipelines.config import choices, option
from fairalloc.pipelines.metadata import (
    audit_summary,
    chart_metadata,
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
from fairalloc.schemas import coverage as schemas
from fairalloc.transforms import coverage as tf
from fairalloc.transforms import options
from fairalloc.transforms.charts import audit_chart, coverage_chart
from fairalloc.transforms.options import COVERAGE

GROUP = "coverage"

population_groups = parquet_input("population_groups", GROUP, schemas.PopulationGroups,
                                  "Population, prior coverage and weight per group.",
                                  total="population", file="groups")
eligibility = parquet_input("eligibility", GROUP, schemas.Eligibility,
                            "Pairs (group, resource): who may receive what.")
resource_supply = parquet_input("resource_supply", GROUP, schemas.ResourceSupply,
                                "Supply per resource.", total="supply", file="supply")


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
        "coverage_allocation": dg.AssetOut(kinds={"pandas", "parquet"},
                                           description="Amount per (group, resource).",
                                           **ownership(GROUP)),
        "group_coverage": dg.AssetOut(kinds={"pandas", "parquet"},
                                      description="Coverage, shortfall and allocated per "
                                                  "group.", **ownership(GROUP)),
        "resource_usage": dg.AssetOut(kinds={"pandas", "parquet"},
                                      description="Supply, use, scarcity and price per "
                                                  "resource.", **ownership(GROUP)),
    },
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
        validate(table, schema, schema.name)
    groups = res.groups
    utilisation = share_metadata("utilization",
                                 res.resources["used"] / res.resources["supply"])
    chart = chart_metadata(coverage_chart(res))
    shared = {**chart, **coverage_summary(groups)}
    yield dg.Output(allocation, "coverage_allocation",
                    metadata={**table_metadata(allocation, schemas.AllocationOutput),
                              **report_metadata(res.report), **shared})
    yield dg.Output(groups, "group_coverage",
                    metadata={**table_metadata(groups, schemas.GroupsOutput),
                              "total_shortfall": shown(float(groups["shortfall"].sum())),
                              "total_allocated": shown(float(groups["allocated"].sum())),
                              "min_coverage": shown(float(groups["coverage"].min()), True),
                              **shared})
    yield dg.Output(res.resources, "resource_usage",
                    metadata={**table_metadata(res.resources, schemas.ResourcesOutput),
                              **utilisation, **chart,
                              **resources_summary(res.resources)})


@dg.asset(group_name=GROUP, kinds={"pandas", "parquet"}, **ownership(GROUP))
def fairness_audit(context: dg.AssetExecutionContext, coverage_allocation: pd.DataFrame,
                   population_groups: pl.DataFrame, eligibility: pl.DataFrame) -> pd.DataFrame:
    """Every justified complaint against the allocation (empty when it is fair)."""
    audit = tf.audit_fairness(population_groups, coverage_allocation, eligibility)
    validate(audit, schemas.AuditOutput, "fairness_audit")
    context.add_output_metadata({**table_metadata(audit, schemas.AuditOutput),
                                 "complaints": len(audit), **chart_metadata(audit_chart(audit)),
                                 **audit_summary(audit)})
    return audit


def audit_violations(audit: pd.DataFrame) -> pd.DataFrame:
    """The fairness audit as violations: rule = the complaint's definition, key =
    (complainant, other, resource), amount = what the other group received, limit 0."""
    return pd.DataFrame({
        "rule": audit["definition"].to_numpy(),
        "key": list(zip(audit["complainant"], audit["other"], audit["resource"], strict=True)),
        "amount": audit["amount"].to_numpy(dtype=float),
        "limit": 0.0,
    }, columns=tf.VIOLATION_COLUMNS)


@dg.asset_check(asset="coverage_allocation", blocking=True,
                additional_ins={"population_groups": dg.AssetIn("population_groups"),
                                "resource_supply": dg.AssetIn("resource_supply")})
def coverage_within_supply(coverage_allocation: pd.DataFrame, population_groups: pl.DataFrame,
                           resource_supply: pl.DataFrame) -> dg.AssetCheckResult:
    """Against the inputs: no resource used beyond its supply, no group above coverage 1,
    nothing negative, only known groups and resources."""
    return violations_check(
        tf.coverage_violations(coverage_allocation, population_groups, resource_supply))


@dg.asset_check(asset="fairness_audit", blocking=True)
def allocation_is_fair(fairness_audit: pd.DataFrame) -> dg.AssetCheckResult:
    """No justified complaint: the audit is empty."""
    return violations_check(audit_violations(fairness_audit))

