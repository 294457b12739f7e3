"""Fair coverage: closed forms, hand-checked cases, the spec's theorems on generated inputs,
agreement with an independent convex solver, the audit, and every error."""

import hypothesis.strategies as st
import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings

from benchmarks.reference_coverage import reference_objective
from fairalloc.transforms import errors
from fairalloc.transforms.coverage import allocate_coverage, audit_fairness
from tests.strategies import coverage_eligibility as elig
from tests.strategies import coverage_instances
from tests.strategies import coverage_table as table

# --- closed forms and hand-checked cases ----------------------------------------------------

def test_one_resource_is_water_filling():
    # quadratic: a group takes from the water line λ down, at y = 1 - λ / (2 w); at their priors
    # the marginal values 2 w (1 - f) are a: 2, b: 3.6, c: 0.2. b alone down to λ = 2 (y_b = 0.5,
    # 80 units), then a and b: 100 (1 - λ/2) + 200 (0.9 - λ/4) = 120 → λ = 1.6; c stays out.
    g = table([("a", 100, 0.0, 1.0), ("b", 200, 0.1, 2.0), ("c", 50, 0.9, 1.0)])
    res = allocate_coverage(g, elig([("a", "R"), ("b", "R"), ("c", "R")]), {"R": 120})
    assert res.groups["coverage"].to_dict() == pytest.approx({"a": 0.2, "b": 0.6, "c": 0.9},
                                                             abs=1e-12)
    assert res.groups["allocated"].to_dict() == pytest.approx({"a": 20, "b": 100, "c": 0},
                                                              abs=1e-9)
    assert res.resources.loc["R", "marginal_value"] == pytest.approx(1.6, abs=1e-12)


def test_one_resource_closed_form_values():
    # two groups from prior 0: 2 w_a (1 - y_a) = 2 w_b (1 - y_b), n_a y_a + n_b y_b = b
    g = table([("a", 100, 0.0, 3.0), ("b", 300, 0.0, 1.0)])
    res = allocate_coverage(g, elig([("a", "R"), ("b", "R")]), {"R": 150})
    # 1 - y_b = 3 (1 - y_a): 100 y_a + 300 (3 y_a - 2) = 150 → y_a = 0.75, y_b = 0.25
    assert res.groups["coverage"].to_dict() == pytest.approx({"a": 0.75, "b": 0.25}, abs=1e-12)
    assert res.resources.loc["R", "marginal_value"] == pytest.approx(1.5, abs=1e-12)
    assert res.objective == pytest.approx(3 * 100 * 0.25**2 + 300 * 0.75**2, rel=1e-12)


def test_abundant_supply_covers_everyone_and_is_not_scarce():
    g = table([("a", 10, 0.5, 1.0), ("b", 10, 0.0, 1.0)])
    res = allocate_coverage(g, elig([("a", "R"), ("b", "R")]), {"R": 100})
    assert res.groups["coverage"].tolist() == pytest.approx([1.0, 1.0])
    assert res.resources.loc["R", "used"] == pytest.approx(15.0)
    assert not res.resources.loc["R", "scarce"] and res.resources.loc["R", "marginal_value"] == 0


def test_two_resources_hand_checked():
    # b only reaches S (small); a reaches both: a should leave S to b and use L
    g = table([("a", 100, 0.0, 1.0), ("b", 100, 0.0, 1.0)])
    res = allocate_coverage(g, elig([("a", "S"), ("a", "L"), ("b", "S")]), {"S": 30, "L": 50})
    assert res.allocation[("a", "S")] == pytest.approx(0.0, abs=1e-9)
    assert res.groups["coverage"].to_dict() == pytest.approx({"a": 0.5, "b": 0.3}, abs=1e-12)
    # L is scarce for a alone (price 2·(1-0.5) = 1), S for b alone (price 1.4)
    assert res.resources["marginal_value"].to_dict() == pytest.approx({"L": 1.0, "S": 1.4})


def test_two_resources_balanced_through_a_shared_group():
    # a reaches both; b only S; supply lets a and b balance: y_a = y_b = 0.4
    g = table([("a", 100, 0.0, 1.0), ("b", 100, 0.0, 1.0)])
    res = allocate_coverage(g, elig([("a", "S"), ("a", "L"), ("b", "S")]), {"S": 70, "L": 10})
    assert res.groups["coverage"].tolist() == pytest.approx([0.4, 0.4], abs=1e-12)
    assert res.allocation[("b", "S")] == pytest.approx(40)
    assert res.resources["scarce"].all()


def test_group_without_resources_keeps_its_prior():
    g = table([("a", 10, 0.2, 1.0), ("lonely", 10, 0.3, 5.0)])
    res = allocate_coverage(g, elig([("a", "R")]), {"R": 4, "unused": 3})
    assert res.groups.loc["lonely", "coverage"] == 0.3
    assert res.report.groups_without_resources == 1
    assert res.resources.loc["unused", "used"] == 0


def test_polars_inputs_and_supply_table_give_the_same_result():
    g = table([("a", 100, 0.1, 2.0), ("b", 50, 0.0, 1.0)])
    e = elig([("a", "R"), ("b", "R")])
    pd_res = allocate_coverage(g, e, pd.Series({"R": 40.0}))
    pl_res = allocate_coverage(pl.from_pandas(g), pl.from_pandas(e),
                               pl.DataFrame({"resource": ["R"], "supply": [40.0]}))
    pd.testing.assert_series_equal(pd_res.allocation, pl_res.allocation)


# --- generated instances --------------------------------------------------------------------

def _marginal(loss, y, w):
    if loss == "quadratic":
        return 2 * w * (1 - y)
    if loss == "exp":
        return w * np.exp(-y)
    if loss[0] == "power":
        return loss[1] * w * (1 - y) ** (loss[1] - 1)
    return w / (y + loss[1])


@settings(max_examples=80)
@given(coverage_instances())
def test_theorems_hold_and_the_audit_is_empty(inst):
    g, e, supply, loss = inst
    res = allocate_coverage(g, e, supply, loss=loss)
    y, x = res.groups["coverage"], res.allocation
    used = res.resources["used"]
    # feasibility: within supply, coverage ≤ 1, amounts ≥ 0
    assert (used <= res.resources["supply"] * (1 + 1e-12)).all()
    assert (y <= 1 + 1e-12).all() and (x >= 0).all()
    # fair: the audit finds nothing
    assert audit_fairness(g, x, e).empty
    tol = 1e-7
    for grp, r in x.index:
        full = used[r] >= res.resources.loc[r, "supply"] * (1 - tol)
        # abundant: a resource not fully used leaves its groups at coverage 1
        if not full:
            assert y[grp] >= 1 - tol
        # scarce: a group below 1 sees every eligible resource fully used
        if y[grp] < 1 - tol:
            assert full
    # balanced: groups below 1 receiving the same resource have equal w F'(y)
    mv = pd.Series(_marginal(loss, y.to_numpy(), res.groups["weight"].to_numpy()), index=y.index)
    recv = x[x > 1e-9 * res.groups["population"].reindex(x.index.get_level_values(0)).to_numpy()]
    for _, part in recv.groupby(level="resource"):
        groups = [grp for grp in part.index.get_level_values("group") if y[grp] < 1 - tol]
        if len(groups) > 1:
            vals = mv[groups]
            assert vals.max() - vals.min() <= 1e-6 * max(vals.max(), 1)


@settings(max_examples=40)
@given(coverage_instances(max_groups=6, max_resources=3))
def test_objective_matches_an_independent_convex_solver(inst):
    g, e, supply, loss = inst
    res = allocate_coverage(g, e, supply, loss=loss)
    if e.empty:
        return
    gi = {k: i for i, k in enumerate(sorted(g["group"]))}
    ri = {k: i for i, k in enumerate(sorted(supply))}
    gs = g.set_index("group").loc[sorted(g["group"])]
    pairs = e.drop_duplicates()
    ref = reference_objective(gs["population"].to_numpy(), gs["prior"].to_numpy(),
                              gs["weight"].to_numpy(),
                              np.array([supply[k] for k in sorted(supply)]),
                              pairs["group"].map(gi).to_numpy(),
                              pairs["resource"].map(ri).to_numpy(), loss)
    # the same optimum to 1e-6 relative; near 0 the reference's own accuracy (~1e-8 of the
    # weighted population) is the limit
    scale = float((gs["weight"] * gs["population"]).sum())
    assert res.objective == pytest.approx(ref, rel=1e-6, abs=1e-7 * scale)


@settings(max_examples=40)
@given(coverage_instances(), st.randoms(use_true_random=False))
def test_row_order_does_not_change_the_result(inst, rnd):
    g, e, supply, loss = inst
    a = allocate_coverage(g, e, supply, loss=loss)
    seed = rnd.randrange(2**32)
    b = allocate_coverage(g.sample(frac=1, random_state=seed), e.sample(frac=1, random_state=seed),
                          dict(reversed(list(supply.items()))), loss=loss)
    pd.testing.assert_series_equal(a.allocation, b.allocation)
    pd.testing.assert_frame_equal(a.groups, b.groups)


@settings(max_examples=60)
@given(coverage_instances(), st.data())
def test_audit_finds_a_planted_violation(inst, data):
    g, e, supply, loss = inst
    res = allocate_coverage(g, e, supply, loss=loss)
    y = res.groups["coverage"]
    # plant: on a shared resource, move everything from the poorer/heavier group to the other
    shared = e.merge(e, on="resource")
    shared = shared[shared["group_x"] != shared["group_y"]]
    if shared.empty:
        return
    row = shared.iloc[data.draw(st.integers(0, len(shared) - 1))]
    poor, rich, r = row["group_x"], row["group_y"], row["resource"]
    x = res.allocation.copy()
    w = res.groups["weight"]
    n = res.groups["population"]
    # make `poor` strictly worse off and `rich` a receiver of r, with w_poor ≥ w_rich
    if w[poor] < w[rich]:
        poor, rich = rich, poor
    give = x[(poor, r)]
    room = n[rich] * (1 - y[rich])
    if give <= 1e-6 * n[poor] or room <= 1e-6 * n[rich]:
        return
    moved = min(give, room)
    x[(poor, r)] -= moved
    x[(rich, r)] += moved
    audit = audit_fairness(g, x, e)
    new_y = y.copy()
    new_y[poor] -= moved / n[poor]
    new_y[rich] += moved / n[rich]
    if new_y[poor] <= new_y[rich] and new_y[poor] < 1:
        hits = audit[(audit["complainant"] == poor) & (audit["other"] == rich)
                     & (audit["resource"] == r)]
        assert len(hits) == 1
    # every reported complaint is justified by the definitions
    for _, c in audit.iterrows():
        assert c["complainant_weight"] >= c["other_weight"]
        assert c["complainant_coverage"] <= c["other_coverage"] + 1e-9
        assert c["complainant_coverage"] < 1 and c["amount"] > 0


def test_audit_of_a_hand_made_unfair_allocation():
    g = table([("a", 10, 0.0, 2.0), ("b", 10, 0.0, 2.0), ("c", 10, 0.0, 1.0)])
    e = elig([("a", "R"), ("b", "R"), ("c", "R")])
    x = pd.Series([0.0, 5.0, 5.0], index=pd.MultiIndex.from_tuples(
        [("a", "R"), ("b", "R"), ("c", "R")], names=["group", "resource"]))
    audit = audit_fairness(g, x, e)
    got = set(zip(audit["complainant"], audit["other"], audit["definition"], strict=True))
    # a (weight 2, coverage 0) complains about b (same weight, more coverage) and c (lower
    # weight, more coverage); b (weight 2, 0.5) about c (weight 1, 0.5)
    assert got == {("a", "b", "lower_coverage"), ("a", "c", "higher_weight"),
                   ("b", "c", "higher_weight")}
    assert audit_fairness(g, x * 0, e).empty


# --- errors ---------------------------------------------------------------------------------

G2 = table([("a", 10, 0.0, 1.0), ("b", 10, 0.0, 1.0)])
E2 = elig([("a", "R"), ("b", "R")])


@pytest.mark.parametrize(
    ("groups", "eligibility", "supply", "kwargs", "error", "needle"),
    [
        (G2, elig([("zz", "R")]), {"R": 1}, {}, errors.UnknownKeyError, "zz"),
        (G2, elig([("a", "Q")]), {"R": 1}, {}, errors.UnknownKeyError, "Q"),
        (table([("a", 0, 0.0, 1.0)]), E2.iloc[:1], {"R": 1}, {}, errors.InvalidAmountError, "a"),
        (table([("a", 10, 1.0, 1.0)]), E2.iloc[:1], {"R": 1}, {}, errors.InvalidAmountError, "a"),
        (table([("a", 10, -0.1, 1.0)]), E2.iloc[:1], {"R": 1}, {}, errors.InvalidAmountError,
         "a"),
        (table([("a", 10, 0.0, 0.0)]), E2.iloc[:1], {"R": 1}, {}, errors.InvalidAmountError, "a"),
        (G2, E2, {"R": 0}, {}, errors.InvalidAmountError, "R"),
        (G2, E2, {"R": float("nan")}, {}, errors.InvalidAmountError, "R"),
        (G2, E2, {"R": 1}, {"loss": ("power", 1.0)}, errors.ParameterError, "m > 1"),
        (G2, E2, {"R": 1}, {"loss": ("log", 0)}, errors.ParameterError, "eps > 0"),
        (G2, E2, {"R": 1}, {"loss": "cubic"}, errors.ParameterError, "cubic"),
        (table([("a", 10, 0.0, 1.0), ("a", 10, 0.5, 1.0)]), E2.iloc[:1], {"R": 1}, {},
         errors.DuplicateKeyError, "a"),
    ],
)
def test_errors_name_the_offending_keys(groups, eligibility, supply, kwargs, error, needle):
    with pytest.raises(error, match=needle):
        allocate_coverage(groups, eligibility, supply, **kwargs)


def test_audit_errors():
    x = pd.Series([1.0], index=pd.MultiIndex.from_tuples([("a", "Q")],
                                                         names=["group", "resource"]))
    with pytest.raises(errors.UnknownKeyError, match="Q"):
        audit_fairness(G2, x, E2)
    x = pd.Series([-1.0], index=pd.MultiIndex.from_tuples([("a", "R")],
                                                          names=["group", "resource"]))
    with pytest.raises(errors.InvalidAmountError, match="negative"):
        audit_fairness(G2, x, E2)
    e = elig([("a", "R"), ("b", "S")])
    x = pd.Series([1.0], index=pd.MultiIndex.from_tuples([("a", "S")],
                                                         names=["group", "resource"]))
    with pytest.raises(errors.InvalidAmountError, match="not eligible"):
        audit_fairness(G2, x, e)


def test_result_tables_keep_their_dtypes_without_eligible_pairs():
    # no pair at all: nothing is used, and ``used`` stays a float column like the others
    res = allocate_coverage(G2, E2.iloc[:0], {"R": 5.0})
    assert res.resources.dtypes.tolist() == [np.float64, np.float64, bool, np.float64]
    assert res.resources.columns.tolist() == ["supply", "used", "scarce", "marginal_value"]
    assert res.resources["used"].tolist() == [0.0]
    assert res.groups["coverage"].tolist() == [0.0, 0.0]


@pytest.mark.parametrize("seed", range(4))
def test_clean_pandas_tables_give_the_answers_of_the_general_reading(seed, monkeypatch):
    # string keys in any order or int keys, groups sharing resources: every amount, table
    # and report field is the same whether the tables are read from their arrays or by polars
    from fairalloc.transforms import _tables
    rng = np.random.default_rng(seed)
    n_g, n_k = 40, 3
    keys = (np.arange(n_g) * 3 - 7 if seed % 2 else
            np.array([f"ж{i:03d}" for i in rng.permutation(n_g)], dtype=object))
    rkeys = np.array([f"r{i}" for i in range(n_k)], dtype=object)[::-1]
    groups = pd.DataFrame({"group": pd.Series(keys, dtype="int64" if seed % 2 else "str"),
                           "population": rng.integers(1, 500, n_g),
                           "prior": rng.uniform(0, 0.6, n_g),
                           "weight": rng.choice([1.0, 2.0, 5.0], n_g)})
    ag, ak = rng.integers(0, n_g, 90), rng.integers(0, n_k, 90)
    elig = pd.DataFrame({"group": groups["group"].to_numpy()[ag], "resource": rkeys[ak]})
    supply = pd.Series(rng.uniform(50, 2000, n_k), index=pd.Index(rkeys, name="resource"))
    calls = []
    clean = _tables._clean_pandas_table

    def spy(*args):
        calls.append(clean(*args))
        return calls[-1]

    monkeypatch.setattr(_tables, "_clean_pandas_table", spy)
    quick = allocate_coverage(groups, elig, supply)
    assert len(calls) == 2 and all(isinstance(t, _tables._ArrayTable) for t in calls)
    monkeypatch.setattr(_tables, "_clean_pandas_table", lambda *args: None)
    general = allocate_coverage(groups, elig, supply)
    pd.testing.assert_series_equal(quick.allocation, general.allocation, check_exact=True)
    pd.testing.assert_frame_equal(quick.groups, general.groups, check_exact=True)
    pd.testing.assert_frame_equal(quick.resources, general.resources, check_exact=True)
    assert quick.objective == general.objective
    assert ({k: v for k, v in vars(quick.report).items() if k != "wall_time_s"}
            == {k: v for k, v in vars(general.report).items() if k != "wall_time_s"})
