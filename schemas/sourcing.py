"""pandera contracts for sourcing tables (SPEC §1), derived from one definition per table.

Inputs are checked with pandera's polars back-end (the pipeline loads Parquet with polars);
outputs, pandas tables with a MultiIndex, with its pandas back-end. The rules are the
transforms' (:mod:`fairalloc.transforms.sourcing`): str or int keys; amounts finite and ≥ 0;
a repeated match collapses to one; a source (sink) repeated with the same capacity (demand)
collapses, with two different values it is rejected.

>>> import polars as pl
>>> from fairalloc.schemas.sourcing import SourceCapacity
>>> SourceCapacity.validate(pl.DataFrame({"source": ["a", "a"], "capacity": [1.0, 1.0]})).height
2
"""

from __future__ import annotations

from fairalloc.schemas.tables import AMOUNT, Column, Table, key, models

#: The group columns of the pipeline's sample data (``by=`` of the transforms).
BY = ("commodity", "year")

SOURCE = key("source", "The supplying source.")
SINK = key("sink", "The sink whose demand is met.")
GROUP_KEYS = (key("commodity", "The commodity traded (a group of its own)."),
              key("year", "The year of supply and demand (a group of its own)."))

MATCHES = Table("matches", "Pairs source → sink: which source may supply which sink "
                "(repeated pairs collapse to one).", keys=(SOURCE, SINK), repeats="pairs")
SOURCE_CAPACITY = Table(
    "source_capacity", "Capacity per source.", keys=(SOURCE,),
    values=(Column("capacity", float, "What the source can supply.", AMOUNT),))
SINK_DEMAND = Table(
    "sink_demand", "Demand per sink.", keys=(SINK,),
    values=(Column("demand", float, "What the sink asks for.", AMOUNT),))

PROPORTIONAL = Table(
    "proportional_sourcing", "Each sink's demand split over its sources in proportion to "
    "capacity.", keys=(*GROUP_KEYS, SOURCE, SINK),
    values=(Column("volume", float, "Volume from the source to the sink (sink units).",
                   AMOUNT),))
DIRECT = Table(
    "direct_sourcing", "Allocation within capacity, in source and in sink units.",
    keys=(*GROUP_KEYS, SOURCE, SINK),
    values=(Column("source_volume", float, "Volume from the source to the sink, in source "
                   "units.", AMOUNT),
            Column("sink_volume", float, "The same volume in sink units.", AMOUNT)))

# The pandera models, derived on first use (importing the definitions loads no pandera).
__getattr__ = models(globals(), {
    # Pairs source → sink (duplicates allowed: they collapse to one).
    "Matches": MATCHES.polars,
    # Capacity per source: finite, ≥ 0, one value per source.
    "SourceCapacity": SOURCE_CAPACITY.polars,
    # Demand per sink: finite, ≥ 0, one value per sink.
    "SinkDemand": SINK_DEMAND.polars,
    # Matches inside (commodity, year) groups.
    "GroupedMatches": MATCHES.grouped(*GROUP_KEYS).polars,
    # Capacity per (commodity, year, source).
    "GroupedSourceCapacity": SOURCE_CAPACITY.grouped(*GROUP_KEYS).polars,
    # Demand per (commodity, year, sink).
    "GroupedSinkDemand": SINK_DEMAND.grouped(*GROUP_KEYS).polars,
    # ``proportional_sourcing`` as stored: indexed by (commodity, year, source, sink).
    "ProportionalOutput": PROPORTIONAL.pandas,
    # ``direct_sourcing`` as the pipeline writes it, in source and in sink units.
    "DirectOutput": DIRECT.pandas,
})

