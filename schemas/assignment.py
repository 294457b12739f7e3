"""pandera contracts for ranked-preference assignment tables (SPEC §3), derived from one
definition per table.

The rules are the transform's (:mod:`fairalloc.transforms.assignment`): str or int keys; an
exactly repeated preference collapses, the same (user, item) with two ranks is rejected; an item
repeated with the same capacity collapses; a missing capacity means unlimited.

>>> import polars as pl
>>> from fairalloc.schemas.assignment import Preferences
>>> Preferences.validate(pl.DataFrame({"user": ["u"], "item": ["i"], "rank": [1]})).height
1
"""

from __future__ import annotations

from fairalloc.schemas.tables import COUNT, RANK, Column, Table, TableCheck, key, models

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

def _ranks_1_to_max(frame) -> bool:
    """The rank columns are rank_1, rank_2, … rank_K in order, none missing."""
    ranks = [c for c in frame.columns if str(c).startswith("rank_")]
    return ranks == [f"rank_{k}" for k in range(1, len(ranks) + 1)]


SUMMARY = Table(
    "assignment_summary", "Per item: capacity, users assigned and users per rank obtained.",
    keys=(ITEM,),
    values=(Column("capacity", "Int64", "Users the item can take; missing = unlimited.", COUNT,
                   nullable=True),
            Column("assigned", "int64", "Users assigned to the item.", COUNT),
            Column(r"rank_[1-9][0-9]*", "int64", "Users who got the item as their k-th "
                   "choice (one column per rank 1 … the worst rank listed).", COUNT,
                   regex=True)),
    checks=(TableCheck(_ranks_1_to_max, "rank_columns_1_to_max",
                       "rank columns must be rank_1 … rank_K, none missing"),))


# The pandera models, derived on first use (importing the definitions loads no pandera).
__getattr__ = models(globals(), {
    # One row per (user, item): rank 1 = best.
    "Preferences": PREFERENCES.polars,
    # Whole-number capacity ≥ 0 per item; missing (null) = unlimited.
    "ItemCapacities": CAPACITIES.polars,
    # ``assignments``: indexed by user.
    "AssignmentsOutput": ASSIGNMENTS.pandas,
    # ``assignment_summary``: indexed by item, rank columns rank_1 … rank_K always present.
    "SummaryOutput": SUMMARY.pandas,
    # Ranked choices per (campaign, user, item).
    "GroupedPreferences": PREFERENCES.grouped(CAMPAIGN).polars,
    # Capacity per (campaign, item); missing = unlimited.
    "GroupedItemCapacities": CAPACITIES.grouped(CAMPAIGN).polars,
    # ``assignments`` as the pipeline writes it: indexed by (campaign, user).
    "GroupedAssignmentsOutput": ASSIGNMENTS.grouped(CAMPAIGN).pandas,
    # ``assignment_summary`` as the pipeline writes it: indexed by (campaign, item).
    "GroupedSummaryOutput": SUMMARY.grouped(CAMPAIGN).pandas,
})
