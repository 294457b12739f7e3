"""Hypothesis strategies of the test suite, one section per capability.

Every generated instance the tests draw is defined here, so a test module only states what
it asserts; the test modules import the strategies by name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import hypothesis.strategies as st
import numpy as np
import pandas as pd

# --- amounts shared by every capability -------------------------------------------------------

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


# --- input tables by their definitions (tests/schemas/test_contracts_agree.py) ----------------

#: Values at and around every bound a rule in fairalloc.schemas.tables has, and the invalid ones.
RULE_EDGES = (0.0, 0.5, 1.0, 2.0, -1.0, -0.0, 1e-300, float("nan"), float("inf"))


@st.composite
def defined_tables(draw, table, max_rows: int = 5):
    """A small polars table with the columns of a table definition: keys from a tiny alphabet
    (so keys repeat, with equal or different values) and values around every rule's bounds
    (whole numbers for integer columns)."""
    import polars as pl

    n = draw(st.integers(min_value=1, max_value=max_rows))
    cols = {}
    for column in table.keys:
        kind = draw(st.sampled_from(["str", "int"]))
        alphabet = ["a", "b", "c"] if kind == "str" else [1, 2, 3]
        cols[column.name] = pl.Series(column.name, draw(
            st.lists(st.sampled_from(alphabet), min_size=n, max_size=n)))
    for column in table.values:
        if column.dtype is int:
            values = draw(st.lists(st.integers(-1, 3), min_size=n, max_size=n))
            cols[column.name] = pl.Series(column.name, values, dtype=pl.Int64)
        else:
            values = draw(st.lists(st.sampled_from(RULE_EDGES), min_size=n, max_size=n))
            cols[column.name] = pl.Series(column.name, values, dtype=pl.Float64)
    return pl.DataFrame(cols)


# --- sourcing ---------------------------------------------------------------------------------

#: Tolerances of direct sourcing (tests/transforms/test_sourcing_properties.py).
SOURCING_TOLERANCES = st.sampled_from([0.0, 0.05, 0.1, 0.5, 0.9, 1 - 1e-9])
#: Tolerances for the magnitude tests (tests/transforms/test_sourcing_magnitudes.py).
SOURCING_MAGNITUDE_TOLERANCES = st.sampled_from([0.0, 0.1, 0.5, 1 - 1e-9])


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


#: Sourcing instances with capacities and demands spread over 1e-6 .. 1e12.
SOURCING_MAGNITUDE_CASES = sourcing_cases(amounts=MAGNITUDE)
#: Amounts of any magnitude mixed with values the amount rules refuse.
SOURCING_ODD_AMOUNT = st.one_of(MAGNITUDE, st.sampled_from(
    [True, False, np.True_, -1.0, -0.0, math.nan, math.inf, "1", None, np.float32(2.5),
     np.int64(3), 1e308, 5e-324]))


# --- assignment -------------------------------------------------------------------------------

def prefs(rows) -> pd.DataFrame:
    """A preferences table (user, item, rank) from tuples."""
    return pd.DataFrame(rows, columns=["user", "item", "rank"])


@st.composite
def assignment_instances(draw):
    """(preferences, capacities): up to 7 users ranking up to 5 items, capacities 0 .. 3."""
    n_u, n_i = draw(st.integers(1, 7)), draw(st.integers(1, 5))
    rows = []
    for u in range(n_u):
        k = draw(st.integers(1, n_i))
        items = draw(st.permutations(range(n_i)))[:k]
        rows += [(f"u{u}", f"i{it}", r + 1) for r, it in enumerate(items)]
    caps = {f"i{i}": draw(st.sampled_from([0, 1, 1, 2, 3])) for i in range(n_i)}
    return prefs(rows), caps


ASSIGNMENT_CAPACITY = st.one_of(st.integers(0, 3), st.integers(10**6, 10**15), st.none(),
                                st.just(float(2**60)))


@st.composite
def assignment_magnitude_instances(draw):
    """Like assignment_instances(), with capacities from 0 to far beyond the number of users
    (None: unlimited)."""
    p, caps = draw(assignment_instances())
    return p, {k: draw(ASSIGNMENT_CAPACITY) for k in caps}


@st.composite
def assignment_group_instances(draw):
    """(preferences, capacities, groups): 1 .. 3 independent assignment_instances() stacked
    with a ``campaign`` column (str or int names; the same user and item names recur across
    campaigns), and each campaign's own (name, preferences, capacities)."""
    names = draw(st.lists(st.one_of(st.integers(0, 9), st.sampled_from(["a", "b", "c"])),
                          min_size=1, max_size=3, unique=True))
    names = [n for n in names if isinstance(n, type(names[0]))]  # one key kind per column
    groups = []
    for name in names:
        p, caps = draw(assignment_instances())
        groups.append((name, p, pd.DataFrame({"item": list(caps),
                                              "capacity": list(caps.values())})))
    prefs_all = pd.concat([p.assign(campaign=n) for n, p, _ in groups], ignore_index=True)
    caps_all = pd.concat([c.assign(campaign=n) for n, _, c in groups], ignore_index=True)
    order = draw(st.permutations(range(len(prefs_all))))
    return prefs_all.iloc[list(order)], caps_all, groups


# --- coverage ---------------------------------------------------------------------------------

COVERAGE_LOSSES = ["quadratic", ("power", 3.0), ("power", 1.5), ("log", 0.1), "exp"]


def coverage_table(rows) -> pd.DataFrame:
    """A groups table (group, population, prior, weight) from tuples."""
    return pd.DataFrame(rows, columns=["group", "population", "prior", "weight"])


def coverage_eligibility(pairs) -> pd.DataFrame:
    """An eligibility table (group, resource) from pairs."""
    return pd.DataFrame(pairs, columns=["group", "resource"])


@st.composite
def coverage_instances(draw, max_groups=8, max_resources=4):
    """(groups, eligibility, supply, loss) with moderate populations and supplies."""
    n_g = draw(st.integers(1, max_groups))
    n_k = draw(st.integers(1, max_resources))
    pop = st.floats(1, 1000, allow_nan=False)
    rows = [(f"g{i}", draw(pop), draw(st.sampled_from([0.0, 0.0, 0.1, 0.5, 0.95])),
             draw(st.sampled_from([1.0, 1.0, 2.0, 3.0, 0.5]))) for i in range(n_g)]
    pairs = [(f"g{i}", f"r{k}") for i in range(n_g) for k in range(n_k)
             if draw(st.booleans())]
    supply = {f"r{k}": draw(st.floats(0.5, 2000, allow_nan=False)) for k in range(n_k)}
    loss = draw(st.sampled_from(COVERAGE_LOSSES))
    return coverage_table(rows), coverage_eligibility(pairs), supply, loss


POSITIVE = MAGNITUDE.map(lambda v: v or 1e-6)  # populations and supplies are > 0 (SPEC)
ANY_LOSS = st.one_of(
    st.sampled_from(["quadratic", "exp"]),
    st.tuples(st.just("power"), st.sampled_from([1.001, 1.5, 3.0, 400.0])),
    st.tuples(st.just("log"), st.sampled_from([1e-70, 1e-6, 0.1, 10.0])),
)


@st.composite
def coverage_magnitude_instances(draw, prefix="", max_groups=7, max_resources=4):
    """(group rows, eligible pairs, supply) with every amount spread over 1e-6 .. 1e12."""
    n_g = draw(st.integers(1, max_groups))
    n_k = draw(st.integers(1, max_resources))
    rows = [(f"{prefix}g{i}", draw(POSITIVE), draw(st.sampled_from([0.0, 0.0, 0.3, 0.999])),
             draw(POSITIVE)) for i in range(n_g)]
    pairs = [(f"{prefix}g{i}", f"{prefix}r{k}") for i in range(n_g) for k in range(n_k)
             if draw(st.booleans())]
    supply = {f"{prefix}r{k}": draw(POSITIVE) for k in range(n_k)}
    return rows, pairs, supply


#: (groups, resources, eligible (group, resource) pairs, chain) for the coverage kernel's
#: components; with ``chain`` the test links every resource into one path instead.
BIPARTITE_GRAPHS = st.tuples(st.integers(0, 12), st.integers(0, 12),
                             st.lists(st.tuples(st.integers(0, 11), st.integers(0, 11)),
                                      max_size=40), st.booleans())

#: (segment, value) rows for the coverage kernel's segmented prefix minimum.
SEGMENTED_VALUES = st.lists(st.tuples(st.integers(0, 3),
                                      st.sampled_from([0.0, 0.25, 0.5, 0.9, np.inf])),
                            max_size=30)


# --- periods ----------------------------------------------------------------------------------

@st.composite
def periods_instances(draw):
    """(requests per account, currencies, capacities per period), small integer amounts."""
    n = draw(st.integers(1, 6))
    t = draw(st.integers(1, 4))
    reqs = {f"a{i}": [draw(st.sampled_from([0, 0, 5, 10, 20, 50, 60])) for _ in range(t)]
            for i in range(n)}
    # make a twin of the first account sometimes, to exercise identical accounts
    cur = {a: draw(st.sampled_from([0, 1, 2, 5, 100])) for a in reqs}
    if n >= 2 and draw(st.booleans()):
        reqs["a1"], cur["a1"] = list(reqs["a0"]), cur["a0"]
    caps = {p + 1: draw(st.sampled_from([0, 10, 30, 60, 100, 200])) for p in range(t)}
    return reqs, cur, caps


@st.composite
def periods_magnitude_instances(draw):
    """Like periods_instances(), every amount spread over 1e-6 .. 1e12."""
    n = draw(st.integers(1, 5))
    t = draw(st.integers(1, 3))
    reqs = {f"a{i}": [draw(MAGNITUDE) for _ in range(t)] for i in range(n)}
    cur = {a: draw(MAGNITUDE) for a in reqs}
    caps = {p + 1: draw(MAGNITUDE) for p in range(t)}
    return reqs, cur, caps


@st.composite
def periods_many_class_instances(draw, max_accounts: int = 150):
    """(requests N × T, currency N, capacity T) as arrays, with about as many account classes
    as accounts: integer requests 0–19 per period (plus 1 in the first), currency 1–5 (some
    accounts 0), capacities 20–60 % of each period's demand; some accounts repeat another."""
    n = draw(st.integers(10, max_accounts))
    t = draw(st.integers(1, 6))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    requests = rng.integers(0, 20, (n, t)).astype(float)
    requests[:, 0] += 1
    currency = rng.integers(1, 6, n).astype(float) * (rng.random(n) > 0.05)
    twins = rng.random(n) < draw(st.sampled_from([0.0, 0.2, 0.6]))
    source = rng.integers(0, n, n)
    requests[twins], currency[twins] = requests[source[twins]], currency[source[twins]]
    capacity = np.floor(requests.sum(axis=0) * rng.uniform(0.2, 0.6, t))
    return requests, currency, capacity


@st.composite
def step2_rounds(draw, linked: bool = False, spread: bool | None = None):
    """One step-2 round on classes: (upper C × P, sizes C, weights P, remaining P, ent C).

    Unlinked (default): no class links two periods, as in the closed-form rounds: one period,
    or several with no entitlement row (ent all +inf). ``linked=True``: several periods and
    entitlement rows (the max-flow path). Amounts are small integers (``spread=False``) or
    spread over 1e-6 .. 1e12 (``spread=True``; drawn when None); some classes repeat another,
    some requests are 0."""
    n = draw(st.integers(1, 12))
    p = draw(st.integers(2, 4)) if linked else draw(st.integers(1, 4))
    spread = draw(st.booleans()) if spread is None else spread
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))

    def amounts(shape):
        if spread:
            x = rng.uniform(1, 10, shape) * 10.0 ** rng.integers(-6, 13, shape)
        else:
            x = rng.integers(1, 30, shape).astype(float)
        return np.where(rng.random(shape) < 0.15, 0.0, x)

    upper, remaining = amounts((n, p)), amounts(p)
    wp = rng.uniform(0.5, 3.0, p)
    sizes = rng.integers(1, 4, n).astype(float)
    if linked or p == 1:
        ent = np.where(rng.random(n) < 0.8, amounts(n), np.inf)
    else:
        ent = np.full(n, np.inf)
    if draw(st.booleans()):  # some classes with entitlement rows ask for nothing more
        upper[np.isfinite(ent) & (rng.random(n) < 0.5)] = 0.0
    twins = rng.random(n) < 0.3
    source = rng.integers(0, n, n)
    upper[twins], sizes[twins], ent[twins] = upper[source[twins]], sizes[source[twins]], \
        ent[source[twins]]
    return upper, sizes, wp, remaining, ent


@st.composite
def periods_degenerate_instances(draw, max_accounts: int = 120):
    """(requests N × T, currency N, capacity T) whose step-1 LP has many optima: one period;
    requests proportional across periods (every class's reduced cost is a multiple of the
    same number, so a binding period leaves them all free); capacities that tie the period
    prices; or capacities every account fits at its cap. Some accounts repeat another."""
    n = draw(st.integers(4, max_accounts))
    kind = draw(st.sampled_from(["one period", "proportional", "tied prices", "all fit"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    base = rng.integers(1, 20, n).astype(float)
    currency = rng.integers(1, 1000, n).astype(float) * (rng.random(n) > 0.05)
    if kind == "one period":
        requests = base[:, None]
    elif kind == "proportional":
        factors = rng.integers(1, 4, draw(st.integers(2, 4))).astype(float)
        requests = base[:, None] * factors[None, :]
    else:
        requests = np.column_stack([base, rng.integers(1, 20, n).astype(float)])
    twins = rng.random(n) < 0.2
    source = rng.integers(0, n, n)
    requests[twins], currency[twins] = requests[source[twins]], currency[source[twins]]
    demand = requests.sum(axis=0)
    if kind == "all fit":
        capacity = demand * rng.uniform(1.0, 1.5)
    elif kind == "tied prices":
        capacity = np.floor(demand * 0.4)  # the same share of every period's demand
    else:
        capacity = np.floor(demand * rng.uniform(0.2, 0.8, len(demand)))
    return requests, currency, capacity


@st.composite
def periods_list_instances(draw, max_accounts: int = 40):
    """(ids, currency N, requests N × T, capacity T) for the list interface: a many-class
    instance with unique ids, either strings of a few characters (shared prefixes, non-ASCII,
    NUL, the empty string) or integers (negative too), sorted or in any order."""
    requests, currency, capacity = draw(periods_many_class_instances(max_accounts))
    n = len(currency)
    keys = draw(st.sampled_from([st.text(alphabet="ab\x00é\U0001F600Z", max_size=5),
                                 st.integers(-(2**40), 2**40)]))
    ids = draw(st.lists(keys, min_size=n, max_size=n, unique=True))
    if draw(st.booleans()):
        ids.sort()
    return ids, currency, requests, capacity


#: Items of a caller's list of amounts: plain floats and ints (within 32 bits and beyond), and
#: items that are not plain amounts (flags, NumPy scalars, float subclasses, None, text).
class _FloatSubclass(float):
    pass


LIST_ITEMS = {
    "float": st.floats(width=64),
    "int": st.integers(-(2**31), 2**31 - 1),
    "big int": st.one_of(st.integers(2**31, 2**70), st.integers(-(2**70), -(2**31) - 1)),
    "bool": st.booleans(),
    "numpy float": st.floats(width=64).map(np.float64),
    "float subclass": st.floats(width=64).map(_FloatSubclass),
    "other": st.sampled_from([None, "1.5", 1 + 2j]),
}


@st.composite
def amount_lists(draw, max_rows: int = 6, max_width: int = 4):
    """(values, shape): a list or tuple of n amounts, or of n rows (lists or tuples) of t
    amounts, as a caller may pass ``cur`` or ``requests``; the items of one kind (mostly) or
    of several, some rows one item short or long, some rows other sequences."""
    kinds = draw(st.lists(st.sampled_from(sorted(LIST_ITEMS)), min_size=1, max_size=2,
                          unique=True))
    item = st.one_of([LIST_ITEMS[k] for k in kinds])
    n = draw(st.integers(1, max_rows))
    outer = draw(st.sampled_from([list, tuple]))
    if draw(st.booleans()):  # one amount per account
        return outer(draw(st.lists(item, min_size=n, max_size=n))), (n,)
    t = draw(st.integers(0, max_width))
    rows = []
    for _ in range(n):
        width = draw(st.sampled_from([t, t, t, t, t + 1, max(t - 1, 0)]))
        kind = draw(st.sampled_from([list, list, tuple, set, "array"]))
        row = draw(st.lists(item, min_size=width, max_size=width))
        if kind == "array":
            rows.append(np.array(row, dtype=object))
        elif kind is set:
            rows.append(set(row) if all(isinstance(v, float) for v in row) else list(row))
        else:
            rows.append(kind(row))
    return outer(rows), (n, t)


#: Values no periods parameter accepts, or only some do.
PERIODS_JUNK = st.sampled_from([None, "x", True, np.nan, -1.0, np.inf, 1e300, (1, 2), [1.0],
                                1 + 2j, np.float32(2.0), np.int64(3)])


# --- portions ---------------------------------------------------------------------------------

RATIO = st.one_of(
    st.just(0.0),
    st.integers(1, 30).map(float),
    st.integers(1, 9).map(lambda k: k / 10),  # tenths: exact ties and float rounding
    st.floats(1e-3, 1e3, allow_nan=False, allow_infinity=False),
)


@st.composite
def portions_instances(draw, max_keys: int = 7, max_total: int = 40):
    """(ratios by integer key, total)."""
    n = draw(st.integers(1, max_keys))
    keys = draw(st.lists(st.integers(0, 99), min_size=n, max_size=n, unique=True))
    ratios = {k: draw(RATIO) for k in keys}
    return ratios, draw(st.integers(0, max_total))


@st.composite
def portions_magnitude_instances(draw, max_keys: int = 12):
    """Ratios spread over 1e-6 .. 1e12 (and 0) in one instance; totals small or near 2**50."""
    n = draw(st.integers(1, max_keys))
    keys = draw(st.lists(st.integers(0, 99), min_size=n, max_size=n, unique=True))
    ratios = {k: draw(MAGNITUDE) for k in keys}
    total = draw(st.one_of(st.integers(0, 60), st.integers(2**40, 2**50)))
    return ratios, total


#: Ratios of any magnitude mixed with values the ratio rules refuse.
ODD_RATIO = st.one_of(MAGNITUDE, st.sampled_from(
    [True, np.False_, -1.0, math.nan, math.inf, "2", None, np.float32(0.5), np.int64(4)]))


# --- storage (the IO manager's split of a multi-partition output) -----------------------------

@st.composite
def storage_split_instances(draw, max_rows: int = 30):
    """(flat frame with group columns commodity, year and a value; the run's partition keys).

    The keys are the groups present (in any order) plus a few absent ones, which must come
    back as empty tables.
    """
    n = draw(st.integers(0, max_rows))
    commodity = draw(st.lists(st.sampled_from(["cocoa", "soy", "tea"]), min_size=n, max_size=n))
    year = draw(st.lists(st.integers(2020, 2023), min_size=n, max_size=n))
    value = draw(st.lists(AMOUNT, min_size=n, max_size=n))
    frame = pd.DataFrame({"commodity": pd.Series(commodity, dtype="str"),
                          "year": pd.Series(year, dtype="int64"), "v": value})
    present = sorted({f"{c}|{y}" for c, y in zip(commodity, year, strict=True)})
    absent = draw(st.lists(st.sampled_from(["rye|2020", "soy|1999", "tea|2030"]), unique=True))
    keys = draw(st.permutations(present + absent))
    return frame, list(keys)


#: Group values as a partition key holds them: any non-empty text without the separator ``|``
#: (slashes, ``=``, ``%``, spaces and dots included: the Hive folder names must escape them).
STORAGE_GROUP_VALUES = st.lists(
    st.text(st.characters(blacklist_characters="|", blacklist_categories=("Cs",)),
            min_size=1, max_size=8),
    min_size=1, max_size=3)
