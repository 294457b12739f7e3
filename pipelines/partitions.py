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
from typing import Any

import dagster as dg

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
