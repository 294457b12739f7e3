"""Dynamic partitions per independent group: one key per group that exists in the data.

A group is a tuple of values of the capability's group columns (``by=`` of its transform):
sourcing per (commodity, year), periods per scenario, assignment per campaign. Its partition
key joins the values with ``|`` in the order of the columns (``cocoa|2024``); a partitioned
asset declares the columns as ``metadata={PARTITION_BY: [...]}`` so that the IO manager can
lay out and split its tables per partition (Hive style, ``commodity=cocoa/year=2024``).

>>> partition_key(("cocoa", 2024))
'cocoa|2024'
>>> partition_values("cocoa|2024")
('cocoa', '2024')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
import polars as pl

from fairalloc.schemas import assignment, periods, sourcing

#: Separator of the group values in a partition key.
SEPARATOR = "|"
#: Metadata entry of a partitioned asset (or asset out) naming its group columns, in key order.
PARTITION_BY = "fairalloc/partition_by"

SOURCING_GROUPS = dg.DynamicPartitionsDefinition(name="sourcing_groups")
PERIOD_SCENARIOS = dg.DynamicPartitionsDefinition(name="period_scenarios")
ASSIGNMENT_CAMPAIGNS = dg.DynamicPartitionsDefinition(name="assignment_campaigns")


def partition_key(values: Sequence[Any]) -> str:
    """The partition key of one group: its values as text joined by ``|``.

    A value containing the separator cannot be told apart from two values, so it is refused.
    """
    texts = [str(v) for v in values]
    bad = [t for t in texts if SEPARATOR in t or not t]
    if bad:
        raise ValueError(f"group values {bad!r} cannot be part of a partition key "
                         f"(empty, or containing {SEPARATOR!r})")
    return SEPARATOR.join(texts)


def partition_values(key: str) -> tuple[str, ...]:
    """The group values (as text) of partition ``key``: the inverse of :func:`partition_key`."""
    return tuple(key.split(SEPARATOR))


@dataclass(frozen=True)
class GroupSet:
    """The partitions of one capability: its dynamic partitions, group columns and input files.

    ``files`` maps each partitioned input asset to its file (or Hive folder) name below
    ``<data dir>/<capability>/``. The sensor, ``make run`` and the assets read it from here.
    """

    capability: str
    definition: dg.DynamicPartitionsDefinition
    by: tuple[str, ...]
    files: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The name of the dynamic partitions definition."""
        return str(self.definition.name)


SOURCING = GroupSet("sourcing", SOURCING_GROUPS, sourcing.BY,
                    {"matches": "matches", "source_capacity": "source_capacity",
                     "sink_demand": "sink_demand"})
PERIODS = GroupSet("periods", PERIOD_SCENARIOS, periods.BY,
                   {"accounts": "accounts", "period_requests": "requests",
                    "period_capacities": "capacities"})
ASSIGNMENT = GroupSet("assignment", ASSIGNMENT_CAMPAIGNS, assignment.BY,
                      {"preferences": "preferences", "item_capacities": "capacities"})
#: Every partitioned capability. Coverage and portions stay unpartitioned: each sample input
#: is one connected problem.
GROUP_SETS = (SOURCING, PERIODS, ASSIGNMENT)


def group_keys(frame: pl.DataFrame | pl.LazyFrame, by: Sequence[str]) -> list[str]:
    """The partition keys of the groups present in ``frame``, sorted (only groups that exist:
    never a cross product of the columns' values).

    >>> group_keys(pl.DataFrame({"c": ["b", "a", "b"], "y": [1, 2, 1]}), ["c", "y"])
    ['a|2', 'b|1']
    """
    lazy = frame.lazy().select([pl.col(c) for c in by]).unique()
    found = lazy.collect()
    return sorted(partition_key(row) for row in found.iter_rows())


def group_filter(keys: Sequence[str], by: Sequence[str], schema: pl.Schema) -> pl.Expr:
    """A filter keeping the rows of the groups with partition ``keys``: an OR of column
    equalities, each value cast to its column's type, so Parquet scans push it down (and a
    Hive folder reads only the groups' files).

    >>> frame = pl.DataFrame({"c": ["a", "b"], "y": [1, 2]})
    >>> frame.filter(group_filter(["b|2"], ["c", "y"], frame.schema)).rows()
    [('b', 2)]
    """
    terms = []
    for key in keys:
        values = partition_values(key)
        if len(values) != len(by):
            raise ValueError(f"partition key {key!r} does not have one value per column {by}")
        terms.append(pl.all_horizontal([pl.col(c) == pl.lit(v).cast(schema[c])
                                        for c, v in zip(by, values, strict=True)]))
    return pl.any_horizontal(terms) if terms else pl.lit(False)
