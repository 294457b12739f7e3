"""pandera contracts for fair-coverage tables (SPEC §4), derived from one definition per table.

Inputs are checked with pandera's polars back-end, outputs (pandas tables indexed by their
keys) with its pandas back-end. The rules are the transform's
(:mod:`fairalloc.transforms.coverage`): str or int keys; population and weight finite and > 0,
prior coverage in [0, 1), supply finite and > 0; a key repeated with the same values collapses,
with other values it is rejected; repeated eligibility pairs collapse. Which groups and
resources eligibility may name is checked by the transform, which names the unknown keys.

>>> import polars as pl
>>> from fairalloc.schemas.coverage import PopulationGroups
>>> PopulationGroups.validate(pl.DataFrame({"group": ["g"], "population": [10.0],
...                                         "prior": [0.5], "weight": [1.0]})).height
1
"""

from __future__ import annotations

from fairalloc.schemas.tables import (
    AMOUNT,
    FRACTION,
    KEY,
    POSITIVE,
    SHARE,
    Column,
    Table,
    key,
    models,
)

GROUP = key("group", "The population group.")
RESOURCE = key("resource", "The scarce resource.")

POPULATION = Column("population", float, "People in the group.", POSITIVE)
PRIOR = Column("prior", float, "Coverage the group has before this allocation.", FRACTION)
WEIGHT = Column("weight", float, "Priority of the group (higher = served first).", POSITIVE)
SUPPLY = Column("supply", float, "How much of the resource there is.", POSITIVE)
MARGINAL = Column("marginal_value", float, "Marginal value (shadow price) at the optimum.",
                  AMOUNT)

GROUPS = Table("population_groups", "Population, prior coverage and weight per group.",
               keys=(GROUP,), values=(POPULATION, PRIOR, WEIGHT))
ELIGIBILITY = Table("eligibility", "Pairs (group, resource): who may receive what (repeated "
                    "pairs collapse to one).", keys=(GROUP, RESOURCE), repeats="pairs")
SUPPLIES = Table("resource_supply", "Supply per resource.", keys=(RESOURCE,), values=(SUPPLY,))

ALLOCATION = Table(
    "coverage_allocation", "Amount per eligible (group, resource) pair.", keys=(GROUP, RESOURCE),
    values=(Column("amount", float, "Amount of the resource given to the group.", AMOUNT),))
GROUPS_OUT = Table(
    "group_coverage", "Coverage, shortfall and allocated per group.", keys=(GROUP,),
    values=(POPULATION, PRIOR, WEIGHT,
            Column("coverage", float, "Coverage after allocation: prior + allocated / "
                   "population.", SHARE),
            Column("shortfall", float, "People left uncovered: population × (1 − coverage).",
                   AMOUNT),
            Column("allocated", float, "Amount received over all resources.", AMOUNT),
            Column("marginal_value", float, "weight × the loss's slope at the group's "
                   "coverage.", AMOUNT)))
RESOURCES_OUT = Table(
    "resource_usage", "Supply, use, scarcity and price per resource.", keys=(RESOURCE,),
    values=(SUPPLY, Column("used", float, "Amount given out.", AMOUNT),
            Column("scarce", bool, "True when the supply is used up."), MARGINAL))

AUDIT = Table(
    "fairness_audit", "One row per justified complaint (empty when the allocation is fair).",
    keys=(),
    values=(Column("complainant", KEY, "The group that may complain."),
            Column("other", KEY, "The group that received the resource instead."),
            Column("resource", KEY, "The resource they both may receive."),
            Column("complainant_weight", "float64", "Weight of the complainant.", POSITIVE),
            Column("other_weight", "float64", "Weight of the other group.", POSITIVE),
            Column("complainant_coverage", "float64", "Coverage of the complainant.", SHARE),
            Column("other_coverage", "float64", "Coverage of the other group.", SHARE),
            Column("amount", "float64", "What the other group received of the resource.",
                   AMOUNT),
            Column("definition", "str", "Why the complaint is justified: higher_weight "
                   "(w′ > w, y′ ≤ y) or lower_coverage (w′ = w, y′ < y).",
                   isin=("higher_weight", "lower_coverage"))))

# The pandera models, derived on first use (importing the definitions loads no pandera).
__getattr__ = models(globals(), {
    # Per group: population > 0, prior coverage in [0, 1), weight > 0, all finite.
    "PopulationGroups": GROUPS.polars,
    # Pairs group → resource it may receive (duplicates allowed: they collapse to one).
    "Eligibility": ELIGIBILITY.polars,
    # Supply per resource: finite, > 0, one value per resource.
    "ResourceSupply": SUPPLIES.polars,
    # ``coverage_allocation``: indexed by (group, resource), every eligible pair.
    "AllocationOutput": ALLOCATION.pandas,
    # ``group_coverage``: indexed by group.
    "GroupsOutput": GROUPS_OUT.pandas,
    # ``resource_usage``: indexed by resource.
    "ResourcesOutput": RESOURCES_OUT.pandas,
    # ``fairness_audit``: one row per complaint, the same columns and dtypes when empty.
    "AuditOutput": AUDIT.pandas,
})

