"""pandera contracts for ranked-preference assignment tables (SPEC §3), derived from one
definition per table.

The rules are the transform's (:mod:`fairalloc.transforms.assignment`): str or int keys; an
exactly repeated preference collapses, the same (user, item) with two ranks is rejected; an item
repeated with the same capacity collapses; a missing capacity means unlimited.

>>> import polars as pl
>>> Preferences.validate(pl.DataFrame({"user": ["u"], "item": ["i"], "rank": [1]})).height
1
"""

from __future__ import annotations

from fairalloc.schemas.tables import COUNT, RANK, Column, Table, key

#: The group column of the pipeline's sample data (``by=`` of the transforms).
BY = ("campaign",)

CAMPAIGN = key("campaign", "The registration campaign: each is assigned on its own.")
USER = key("user", "The user who ranks items.")
ITEM = key("item", "The item ranked and assigned.")

PREFERENCES = Table("preferences", "Ranked choices: one row per (user, item).",
                    keys=(USER, ITEM),
                    values=(Column("rank", int, "The user's rank of the item (1 = best).",
                                   RANK),))
CAPACITIES = Table("item_capacities", "Capacity per item (missing = unlimited).",
                   keys=(ITEM,),
                   values=(Column("capacity", int, "Users the item can take; missing = "
                                  "unlimited.", COUNT, nullable=True),))
ASSIGNMENTS = Table(
    "assignments", "The item (and rank obtained) per user.", keys=(USER,),
    values=(Column("item", ITEM.dtype, "The item the user gets; missing = unassigned.",
                   nullable=True),
            Column("rank", "Int64", "The user's rank of that item; missing = unassigned.",
                   RANK, nullable=True)))
SUMMARY = Table(
    "assignment_summary", "Per item: capacity, assigned and per-rank counts.",
    keys=(CAMPAIGN, ITEM),
    values=(Column("capacity", "Int64", "Users the item can take; missing = unlimited.", COUNT,
                   nullable=True),
            Column("assigned", int, "Users assigned to the item.", COUNT)))

#: One row per (user, item): rank 1 = best.
Preferences = PREFERENCES.polars()
#: Whole-number capacity ≥ 0 per item; missing (null) = unlimited.
ItemCapacities = CAPACITIES.polars()
#: ``assignments``: indexed by user.
AssignmentsOutput = ASSIGNMENTS.pandas()

#: Ranked choices per (campaign, user, item).
GroupedPreferences = PREFERENCES.grouped(CAMPAIGN).polars()
#: Capacity per (campaign, item); missing = unlimited.
GroupedItemCapacities = CAPACITIES.grouped(CAMPAIGN).polars()
#: ``assignments`` as the pipeline writes it: indexed by (campaign, user).
GroupedAssignmentsOutput = ASSIGNMENTS.grouped(CAMPAIGN).pandas()
