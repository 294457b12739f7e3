"""Apportionment assets (group ``portions``): whole portions per key by ratio."""

from collections.abc import Iterator

import dagster as dg
import polars as pl
from pydantic import Field

from fairalloc.pipelines.assets.inputs import input_assets
from fairalloc.pipelines.config import bounded_value, choices, option
from fairalloc.pipelines.metadata import (
    chart_metadata,
    checked,
    ownership,
    portions_summary,
    table_metadata,
    validate,
    violations_check,
)
from fairalloc.pipelines.versions import code_version
from fairalloc.schemas import portions as schemas
from fairalloc.transforms import portions as tf
from fairalloc.transforms.charts import portions_chart
from fairalloc.transforms.options import PORTIONS, PORTIONS_TOTAL

GROUP = "portions"

VERSION = code_version(GROUP, __file__)

portion_ratios_file, portion_ratios = input_assets(
    "portion_ratios", GROUP, schemas.PortionRatios, "Ratio ≥ 0 per key (0 = no portions).",
    total="ratio", file="ratios", version=VERSION)


class PortionsConfig(dg.Config):
    """Run config: how many whole portions to hand out, and by which method (SPEC §5)."""

    total: bounded_value(PORTIONS_TOTAL) = Field(  # type: ignore
        default=PORTIONS_TOTAL.default, description=PORTIONS_TOTAL.help)
    method: choices(PORTIONS, "method") = option(PORTIONS, "method")


@dg.asset(group_name=GROUP, kinds={"pandas", "parquet"}, code_version=VERSION,
          automation_condition=dg.AutomationCondition.eager(), **ownership(GROUP),
          check_specs=[dg.AssetCheckSpec("portions_sum_to_total", asset="portions",
                                         blocking=True,
                                         description="Portions add up to the configured total "
                                                     "(0 when every ratio is 0), none negative, "
                                                     "none to a key of ratio 0, every key once; "
                                                     "run before the table is stored.")])
def portions(context: dg.AssetExecutionContext, config: PortionsConfig,
             portion_ratios: pl.DataFrame) -> Iterator:
    """Whole portions per key, summing to the configured total."""
    result = tf.apportion(portion_ratios, config.total, method=config.method)
    table = result.to_frame()
    validate(table, schemas.PortionsOutput, "portions", log=context.log)
    check = violations_check(tf.portion_violations(table, portion_ratios, config.total),
                             check_name="portions_sum_to_total", asset_key=context.asset_key)
    yield from checked([check], [dg.Output(table, metadata={
        **table_metadata(table, schemas.PortionsOutput),
        "total": config.total, "method": config.method,
        "unallocated": result.attrs["unallocated"],
        "keys_with_portions": int((result > 0).sum()),
        **chart_metadata(portions_chart(result, portion_ratios)),
        **portions_summary(result, portion_ratios),
    })])

