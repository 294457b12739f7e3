"""pandera contracts for apportionment tables (SPEC §5), derived from one definition per table.

The rules are the transform's (:func:`fairalloc.transforms.portions.apportion`): keys str or
int, each given once; ratios finite and ≥ 0, whole-number ratios (votes, headcounts) read as
floats.

>>> import polars as pl
>>> from fairalloc.schemas.portions import PortionRatios
>>> PortionRatios.validate(pl.DataFrame({"key": ["a", "b"], "ratio": [3, 1]}))["ratio"].dtype
Float64
>>> PortionRatios.validate(pl.DataFrame({"key": [1, 2], "ratio": [3.0, 1.0]})).height
2
"""

from __future__ import annotations

from fairalloc.schemas.tables import AMOUNT, COUNT, Column, Table, key, models

KEY = key("key", "Who receives portions (a party, a region, a team).")

RATIOS = Table("portion_ratios", "Ratio per key (0 = no portions).", keys=(KEY,),
               values=(Column("ratio", float, "Claim of the key relative to the others.",
                              AMOUNT, coerce=True),),
               repeats="reject")
PORTIONS = Table("portions", "Whole portions per key, summing to the total.", keys=(KEY,),
                 values=(Column("portions", "int64", "Whole portions given to the key.",
                                COUNT),))

# The pandera models, derived on first use (importing the definitions loads no pandera).
__getattr__ = models(globals(), {
    # One row per key: a finite ratio ≥ 0 (0 = no portions).
    "PortionRatios": RATIOS.polars,
    # ``portions``: whole portions ≥ 0, indexed by key.
    "PortionsOutput": PORTIONS.pandas,
})
