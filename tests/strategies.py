"""Hypothesis strategies shared by the test modules."""

from __future__ import annotations

from dataclasses import dataclass

import hypothesis.strategies as st

AMOUNT = st.one_of(
    st.just(0.0),
    st.floats(min_value=0.01, max_value=1e4, allow_nan=False, allow_infinity=False),
    st.integers(min_value=1, max_value=1000).map(float),
)

#: Amounts spread over 1e-6 .. 1e12 within one instance (issue: conservation at any
#: magnitude), zero included: mantissa × 10^exponent, so every decade is drawn as often.
MAGNITUDE = st.one_of(
    st.just(0.0),
    st.builds(lambda m, e: m * 10.0 ** e,
              st.floats(min_value=1.0, max_value=9.999, allow_nan=False),
              st.integers(min_value=-6, max_value=12)),
)


@dataclass(frozen=True)
class SourcingCase:
    """A sourcing instance as plain Python: matches, capacity and demand dicts."""

    matches: list[tuple]
    capacity: dict
    demand: dict


@st.composite
def sourcing_cases(draw, max_sources: int = 6, max_sinks: int = 6, int_keys: bool | None = None,
                   amounts: st.SearchStrategy = AMOUNT):
    """Random instances: some sources unmatched, zero amounts, sinks without matches
    (``amounts=MAGNITUDE``: capacities and demands spread over 1e-6 .. 1e12)."""
    n_src = draw(st.integers(1, max_sources))
    n_sink = draw(st.integers(1, max_sinks))
    use_int = draw(st.booleans()) if int_keys is None else int_keys
    sources = list(range(n_src)) if use_int else [f"s{i}" for i in range(n_src)]
    sinks = list(range(100, 100 + n_sink)) if use_int else [f"k{i}" for i in range(n_sink)]
    pairs = [(s, k) for s in sources for k in sinks]
    matches = draw(st.lists(st.sampled_from(pairs), min_size=1, max_size=len(pairs) + 3))
    capacity = {s: draw(amounts) for s in sources}
    demand = {k: draw(amounts) for k in sinks}
    return SourcingCase(matches, capacity, demand)


@st.composite
def grouped_sourcing_cases(draw, max_groups: int = 3, amounts: st.SearchStrategy = AMOUNT):
    """A dict {(commodity, year): SourcingCase} with string keys."""
    n = draw(st.integers(1, max_groups))
    groups = draw(st.lists(st.tuples(st.sampled_from(["cocoa", "coffee", "tea"]),
                                     st.integers(2020, 2022)),
                           min_size=n, max_size=n, unique=True))
    return {g: draw(sourcing_cases(int_keys=False, amounts=amounts)) for g in groups}
