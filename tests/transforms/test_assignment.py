"""Ranked-preference assignment: the spec example, each option, errors and invariants."""

from __future__ import annotations

import math

import hypothesis.strategies as st
import numpy as np
import pandas as pd
import polars as pl
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from scipy.optimize import linprog
from scipy.sparse.csgraph import maximum_flow

from fairalloc.transforms import errors
from fairalloc.transforms.assignment import (
    assign_preferences,
    assignment_summary,
    assignment_violations,
)
from tests.strategies import (
    assignment_group_instances,
    assignment_instances,
    assignment_magnitude_instances,
    prefs,
)

STRATEGIES = ["min_cost_flow", "rank_maximal"]


SPEC = prefs([("U1", "I1", 1), ("U2", "I1", 1), ("U2", "I2", 2)])


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_spec_example(strategy):
    res = assign_preferences(SPEC, {"I1": 1, "I2": 1}, strategy=strategy)
    assert res.allocation["item"].to_dict() == {"U1": "I1", "U2": "I2"}
    assert res.allocation["rank"].tolist() == [1, 2]
    assert res.report.rank_counts == {1: 1, 2: 1} and res.report.total_cost == 3
    assert res.report.unassigned == 0 and res.report.strategy == strategy


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_unassigned_zero_and_unlimited_capacity(strategy):
    p = prefs([("A", "X", 1), ("B", "X", 1), ("C", "Z", 1), ("C", "Y", 2), ("D", "Y", 1)])
    res = assign_preferences(p, pd.Series({"X": 1, "Y": None, "Z": 0}, dtype="Float64"),
                             strategy=strategy)
    got = res.allocation
    assert got.loc["C", "item"] == "Y" and got.loc["D", "item"] == "Y"  # Y unlimited, Z closed
    assert (got["item"] == "X").sum() == 1 and got["item"].isna().sum() == 1
    assert res.report.unassigned == 1
    assert res.report.total_cost == 1 + 2 + 1 + 10_000
    assert (res.report.rank_cost, res.report.unassigned_penalty) == (1 + 2 + 1, 10_000)
    loser = got.index[got["item"].isna()][0]
    assert pd.isna(got.loc[loser, "rank"])


def test_fill_unlisted_places_on_an_unranked_item_with_missing_rank():
    p = prefs([("A", "X", 1), ("B", "X", 1)])
    res = assign_preferences(p, {"X": 1, "W": 1}, fill_unlisted=True)
    got = res.allocation
    assert set(got["item"]) == {"X", "W"}
    on_w = got.index[got["item"] == "W"][0]
    assert pd.isna(got.loc[on_w, "rank"])
    assert res.report.unlisted == 1 and res.report.total_cost == 1 + 3  # max rank 1 + 2


def test_seed_breaks_ties_without_changing_the_optimum():
    p = prefs([("A", "X", 1), ("A", "Y", 2), ("B", "X", 1), ("B", "Y", 2)])
    outcomes = {assign_preferences(p, {"X": 1, "Y": 1}, seed=s).allocation.loc["A", "item"]
                for s in range(8)}
    assert outcomes == {"X", "Y"}  # each user wins the tie under some seed
    costs = {assign_preferences(p, {"X": 1, "Y": 1}, seed=s).report.total_cost
             for s in range(8)}
    assert costs == {3}


def test_not_everyone_fits_without_unassigned():
    p = prefs([("A", "X", 1), ("B", "X", 1), ("C", "X", 1)])
    for strategy in STRATEGIES:
        with pytest.raises(errors.SolverError, match="2 user"):
            assign_preferences(p, {"X": 1}, allow_unassigned=False, strategy=strategy)


@pytest.mark.parametrize(
    ("p", "caps", "error", "needle"),
    [
        (prefs([("A", "Q", 1)]), {"X": 1}, errors.UnknownKeyError, "'Q'"),
        (prefs([("A", "X", 0)]), {"X": 1}, errors.InvalidAmountError, "('A', 'X')"),
        (prefs([("A", "X", 1.5)]), {"X": 1}, errors.InvalidAmountError, "whole"),
        (prefs([("A", "X", 1), ("A", "X", 2)]), {"X": 1}, errors.DuplicateKeyError, "('A', 'X')"),
        (prefs([("A", "X", 1), ("A", "Y", 1)]), {"X": 1, "Y": 1}, errors.DuplicateKeyError,
         "('A', 1)"),
        (SPEC, {"I1": -1, "I2": 1}, errors.InvalidAmountError, "'I1'"),
        (SPEC, {"I1": 0.5, "I2": 1}, errors.InvalidAmountError, "'I1'"),
    ],
)
def test_errors_name_the_offending_keys(p, caps, error, needle):
    with pytest.raises(error) as info:
        assign_preferences(p, caps)
    assert needle in str(info.value)


def test_unknown_strategy_lists_the_known_ones():
    with pytest.raises(errors.ParameterError, match="rank_maximal"):
        assign_preferences(SPEC, {"I1": 1, "I2": 1}, strategy="greedy")


def test_int_keys_and_missing_items():
    p = prefs([(1, 10, 1), (2, 10, 1)])
    res = assign_preferences(p, {10: 1})
    assert res.allocation["item"].dtype == "Int64"
    assert res.allocation["item"].isna().sum() == 1 and res.allocation.index.dtype == "int64"


def test_polars_inputs_and_capacity_table():
    caps = pl.DataFrame({"item": ["I1", "I2"], "capacity": [1, 1]})
    res = assign_preferences(pl.from_pandas(SPEC), caps)
    assert res.allocation["item"].to_dict() == {"U1": "I1", "U2": "I2"}


# --- invariants on generated inputs ------------------------------------------------------------

def lp_optimum(p: pd.DataFrame, caps: dict, unassigned_cost: int = 10_000) -> float:
    """The LP relaxation of the assignment, written independently of fairalloc."""
    users = sorted(set(p["user"]))
    items = sorted(caps)
    n_a, n_u = len(p), len(users)
    u_idx = p["user"].map({u: i for i, u in enumerate(users)}).to_numpy()
    i_idx = p["item"].map({it: i for i, it in enumerate(items)}).to_numpy()
    # variables: one per preference row, then one "unassigned" per user
    a_eq = sp.hstack([sp.csr_matrix((np.ones(n_a), (u_idx, np.arange(n_a))), shape=(n_u, n_a)),
                      sp.identity(n_u)])
    a_ub = sp.hstack([sp.csr_matrix((np.ones(n_a), (i_idx, np.arange(n_a))),
                                    shape=(len(items), n_a)), sp.csr_matrix((len(items), n_u))])
    c = np.r_[p["rank"].to_numpy(float), np.full(n_u, float(unassigned_cost))]
    res = linprog(c, A_eq=a_eq, b_eq=np.ones(n_u), A_ub=a_ub,
                  b_ub=np.array([caps[i] for i in items], float), bounds=(0, 1), method="highs")
    assert res.status == 0
    return res.fun


def signature(res) -> tuple:
    ranks = max(res.report.rank_counts, default=0)
    return (res.report.assigned, *[res.report.rank_counts.get(k, 0) for k in range(1, ranks + 1)])


@settings(max_examples=80)
@given(assignment_instances(), st.integers(0, 5), st.sampled_from([10_000, 1, 2, 3, 5, 8]))
def test_capacity_respected_and_min_cost_flow_matches_the_lp(inst, seed, unassigned_cost):
    # a large unassigned cost is solved as a max flow of least cost, a small one through an
    # "unassigned" node: both must reach the LP's optimum
    p, caps = inst
    flow = assign_preferences(p, caps, seed=seed, unassigned_cost=unassigned_cost)
    placed = flow.allocation["item"].dropna()
    assert (placed.value_counts() <= pd.Series(caps).reindex(placed.value_counts().index)).all()
    assert flow.allocation.index.is_unique and set(flow.allocation.index) == set(p["user"])
    assert flow.report.total_cost == pytest.approx(lp_optimum(p, caps, unassigned_cost),
                                                   abs=1e-6)
    if unassigned_cost != 10_000:
        return
    fair = assign_preferences(p, caps, strategy="rank_maximal", seed=seed)
    fair_placed = fair.allocation["item"].dropna()
    assert (fair_placed.value_counts()
            <= pd.Series(caps).reindex(fair_placed.value_counts().index)).all()
    a, b = signature(fair), signature(flow)
    width = max(len(a), len(b))
    assert a + (0,) * (width - len(a)) >= b + (0,) * (width - len(b))


@settings(max_examples=40)
@given(assignment_instances(), st.integers(0, 5), st.randoms(use_true_random=False))
def test_same_seed_same_result_under_row_permutations(inst, seed, rnd):
    p, caps = inst
    shuffled = p.sample(frac=1, random_state=rnd.randrange(2**32))
    for strategy in STRATEGIES:
        a = assign_preferences(p, caps, strategy=strategy, seed=seed)
        b = assign_preferences(shuffled, pd.Series(caps).sample(frac=1, random_state=1),
                               strategy=strategy, seed=seed)
        pd.testing.assert_frame_equal(a.allocation, b.allocation)


# --- milp with side constraints ------------------------------------------------------------------

THREE = prefs([("a", "X", 1), ("a", "Y", 2), ("b", "X", 1), ("b", "Y", 2), ("c", "X", 2),
               ("c", "Y", 1)])


def test_milp_quota_together_and_conflict():
    caps = {"X": 2, "Y": 2}
    quota = assign_preferences(THREE, caps, strategy="milp", constraints={
        "quotas": [{"users": ["a", "b"], "items": ["X"], "max": 1}]}).allocation["item"]
    assert (quota[["a", "b"]] == "X").sum() == 1
    together = assign_preferences(THREE, caps, strategy="milp",
                                  constraints={"together": [["a", "c"]]}).allocation["item"]
    assert together["a"] == together["c"]
    conflict = assign_preferences(THREE, {"X": 1, "Y": 2}, strategy="milp", constraints={
        "conflicts": [{"users": ["a", "b"], "items": ["X", "Y"]}]})
    got = conflict.allocation["item"]
    assert not ({"X", "Y"} <= set(got[["a", "b"]].dropna()))
    # unconstrained, a and b would take X and Y (cost 1 + 2 + c's 2); with the conflict both
    # go to Y (2 + 2) and c to X (2)
    assert got.to_dict() == {"a": "Y", "b": "Y", "c": "X"}
    assert conflict.report.total_cost == 6


def test_milp_infeasible_constraints_are_reported_with_a_count():
    # capacity suffices (4 places for 3 users), but a, b and c must share an item of capacity 2
    with pytest.raises(errors.SolverError, match="3 user"):
        assign_preferences(THREE, {"X": 2, "Y": 2}, strategy="milp", allow_unassigned=False,
                           constraints={"together": [["a", "b", "c"]]})
    # too little capacity without any constraint
    with pytest.raises(errors.SolverError, match="1 user"):
        assign_preferences(THREE, {"X": 1, "Y": 1}, strategy="milp", allow_unassigned=False)
    # allowed to stay out, the group does so together rather than split
    res = assign_preferences(THREE, {"X": 2, "Y": 2}, strategy="milp",
                             constraints={"together": [["a", "b", "c"]]})
    assert res.report.unassigned == 3


def test_milp_repeated_user_in_a_group_is_one_user():
    res = assign_preferences(THREE, {"X": 2, "Y": 2}, strategy="milp",
                             constraints={"together": [["a", "a"], ["a", "b", "a"]]})
    got = res.allocation["item"]
    assert got["a"] == got["b"] and res.report.unassigned == 0


def test_huge_unassigned_cost_keeps_the_lottery_and_the_optimum():
    p = prefs([("A", "X", 1), ("A", "Y", 2), ("B", "X", 1), ("B", "Y", 2), ("C", "X", 1)])
    base = assign_preferences(p, {"X": 1, "Y": 1})
    huge = assign_preferences(p, {"X": 1, "Y": 1}, unassigned_cost=10**16)
    assert huge.report.assigned == base.report.assigned == 2
    assert huge.report.priority_levels > 1
    assert {assign_preferences(p, {"X": 1, "Y": 1}, unassigned_cost=10**16, seed=s)
            .allocation["item"].isna().idxmax() for s in range(30)} == {"A", "B", "C"}


@pytest.mark.parametrize(
    ("kwargs", "error", "needle"),
    [
        (dict(strategy="min_cost_flow", constraints={"together": [["a", "b"]]}),
         errors.ParameterError, "milp"),
        (dict(strategy="milp", constraints={"together": [["a", "zz"]]}),
         errors.UnknownKeyError, "'zz'"),
        (dict(strategy="milp", constraints={"quotas": [{"users": ["a"], "items": ["Q"],
                                                        "max": 1}]}),
         errors.UnknownKeyError, "'Q'"),
        (dict(strategy="milp", constraints={"pairs": []}), errors.ParameterError, "'pairs'"),
        (dict(strategy="milp", constraints={"conflicts": [{"users": ["a"], "items": ["X", "X"]}]}),
         errors.ParameterError, "two different items"),
        (dict(strategy="milp", constraints={"quotas": [{"users": ["a"], "items": ["X"],
                                                        "max": -1}]}),
         errors.ParameterError, "-1"),
    ],
)
def test_milp_constraint_errors(kwargs, error, needle):
    with pytest.raises(error) as info:
        assign_preferences(THREE, {"X": 2, "Y": 2}, **kwargs)
    assert needle in str(info.value)


@settings(max_examples=30)
@given(assignment_instances(), st.integers(0, 3))
def test_milp_without_constraints_reaches_the_flow_optimum(inst, seed):
    p, caps = inst
    milp = assign_preferences(p, caps, strategy="milp", seed=seed)
    flow = assign_preferences(p, caps, seed=seed)
    assert milp.report.total_cost == flow.report.total_cost
    placed = milp.allocation["item"].dropna().value_counts()
    assert (placed <= pd.Series(caps).reindex(placed.index)).all()



def brute_force_signature(p: pd.DataFrame, caps: dict) -> tuple:
    """The best (assigned, n_rank1, n_rank2, …) over every assignment, by enumeration."""
    import itertools

    users = sorted(set(p["user"]))
    options = [[None] + [(i, r) for i, r in p.loc[p["user"] == u, ["item", "rank"]].values]
               for u in users]
    top = int(p["rank"].max())
    best = None
    for combo in itertools.product(*options):
        used = pd.Series([c[0] for c in combo if c]).value_counts()
        if any(used.get(i, 0) > caps[i] for i in used.index):
            continue
        ranks = [c[1] for c in combo if c]
        sig = (len(ranks), *[ranks.count(k) for k in range(1, top + 1)])
        best = sig if best is None or sig > best else best
    return best


@pytest.mark.parametrize("tier_limit", [1, 7, 10**6])
@settings(max_examples=60)
@given(inst=assignment_instances().filter(lambda inst: inst[0]["user"].nunique() <= 5))
def test_rank_maximal_matches_brute_force(inst, tier_limit):
    # tier_limit 1 solves every tier alone (a new optimal face after each), larger limits
    # group several tiers into one weighted flow: all must reach the same optimum
    from fairalloc.solvers import assignment as kernels

    p, caps = inst
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(kernels, "_TIER_WEIGHT_LIMIT", tier_limit)
        res = assign_preferences(p, caps, strategy="rank_maximal")
    top = int(p["rank"].max())
    got = (res.report.assigned, *[res.report.rank_counts.get(k, 0) for k in range(1, top + 1)])
    assert got == brute_force_signature(p, caps)


@settings(max_examples=20)
@given(assignment_instances(), st.integers(0, 3), st.randoms(use_true_random=False))
def test_milp_same_seed_same_result_under_row_permutations(inst, seed, rnd):
    p, caps = inst
    a = assign_preferences(p, caps, strategy="milp", seed=seed)
    b = assign_preferences(p.sample(frac=1, random_state=rnd.randrange(2**32)), caps,
                           strategy="milp", seed=seed)
    pd.testing.assert_frame_equal(a.allocation, b.allocation)


# --- issue 11: true infeasibility counts, verified answers, one error contract -------------------

@pytest.mark.parametrize("strategy", ["min_cost_flow", "rank_maximal", "milp"])
@pytest.mark.parametrize("cost", [0, 1, 10_000])
def test_the_unplaced_count_is_the_true_minimum_whatever_the_unassigned_cost(strategy, cost):
    # regression: milp re-solved at the caller's cost 0, left both out and said "2 user(s)"
    p = prefs([("A", "X", 1), ("B", "X", 1)])
    with pytest.raises(errors.SolverError, match=r"\b1 user\(s\) cannot be placed") as info:
        assign_preferences(p, {"X": 1}, strategy=strategy, allow_unassigned=False,
                           unassigned_cost=cost)
    assert info.value.status == "infeasible"


def test_the_unplaced_count_under_side_constraints_is_exact():
    # a and b must share an item; X holds 1, Y holds 2: a+b on Y, c on X -> all placed;
    # with Y holding 1 as well, the pair cannot be placed together: 2 left out (not 3)
    with pytest.raises(errors.SolverError, match=r"\b2 user\(s\)"):
        assign_preferences(THREE, {"X": 1, "Y": 1}, strategy="milp", allow_unassigned=False,
                           unassigned_cost=0, constraints={"together": [["a", "b"]]})


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        (dict(fill_unlisted="no"), "fill_unlisted"),
        (dict(allow_unassigned=1), "allow_unassigned"),
        (dict(allow_unassigned=None), "allow_unassigned"),
        (dict(seed=True), "seed"),
        (dict(seed=1.0), "seed"),
        (dict(unassigned_cost=np.True_), "unassigned_cost"),
        (dict(unassigned_cost=-1), "unassigned_cost"),
        (dict(strategy=None), "strategy"),
    ],
)
def test_parameters_follow_the_flag_and_number_rules(kwargs, needle):
    with pytest.raises(errors.ParameterError, match=needle):
        assign_preferences(SPEC, {"I1": 1, "I2": 1}, **kwargs)


def test_numpy_scalars_are_numbers_and_flags():
    res = assign_preferences(SPEC, {"I1": np.int64(1), "I2": np.float32(1)},
                             seed=np.int64(3), unassigned_cost=np.uint16(9),
                             fill_unlisted=np.False_, allow_unassigned=np.True_)
    assert res.allocation["item"].to_dict() == {"U1": "I1", "U2": "I2"}


@pytest.mark.parametrize("caps", [{"I1": True, "I2": 1}, {"I1": 1, "I2": np.False_}])
def test_a_boolean_capacity_is_refused_naming_its_item(caps):
    with pytest.raises(errors.InputTypeError) as info:
        assign_preferences(SPEC, caps)
    assert info.value.keys == [k for k, v in caps.items() if isinstance(v, bool | np.bool_)]


def test_a_boolean_rank_is_refused():
    with pytest.raises(errors.InputTypeError, match="U1"):
        assign_preferences({("U1", "I1"): True}, {"I1": 1})


@pytest.mark.parametrize(
    ("item", "arc", "used", "what", "named"),
    [
        # arcs in (user, item) order: 0 = A-X, 1 = A-Y, 2 = B-X
        ([0, 0], [0, 2], [0, 2], "more users than their capacity", ["X"]),
        ([1, -1], [0, -1], [0], "may not take", ["A"]),  # user A on Y along its X arc
        ([0, -1], [0, -1], [0, 1], "more than one item", ["A"]),
    ],
)
def test_a_broken_strategy_answer_is_a_solver_error_naming_keys(monkeypatch, item, arc, used,
                                                                  what, named):
    from fairalloc.solvers import assignment as kernels

    def broken(arcs, seed, side):
        return kernels.Assignment(np.array(item), "optimal", 1, np.array(arc), np.array(used))

    monkeypatch.setattr(kernels.STRATEGIES, "get", lambda name: broken)
    p = prefs([("A", "X", 1), ("B", "X", 1), ("A", "Y", 2)])
    with pytest.raises(errors.SolverError, match=what) as info:
        assign_preferences(p, {"X": 1, "Y": 1})
    assert info.value.keys == named and info.value.status == "optimal"


def test_unplaced_users_are_a_solver_error_when_not_allowed(monkeypatch):
    from fairalloc.solvers import assignment as kernels

    def lazy(arcs, seed, side):
        return kernels.Assignment(np.array([-1, 0]), "optimal", 1, np.array([-1, 1]),
                                  np.array([1]))

    monkeypatch.setattr(kernels.STRATEGIES, "get", lambda name: lazy)
    with pytest.raises(errors.SolverError, match="unplaced") as info:
        assign_preferences(SPEC, {"I1": 1, "I2": 1}, allow_unassigned=False)
    assert info.value.keys == ["U1"]


def test_audits_raise_only_fairalloc_errors():
    alloc = assign_preferences(SPEC, {"I1": 1, "I2": 1}).allocation
    for call in (lambda: assignment_summary(alloc, object()),
                 lambda: assignment_violations(object(), {"I1": 1}),
                 lambda: assignment_summary(alloc, {"I1": True})):
        with pytest.raises(errors.FairallocError):
            call()


def most_placed(p: pd.DataFrame, caps: dict) -> int:
    """Maximum number of users placeable: a max flow with scipy, independent of fairalloc."""
    users, items = sorted(set(p["user"])), sorted(caps)
    n_u, n_i = len(users), len(items)
    src, snk = n_u + n_i, n_u + n_i + 1
    u = p["user"].map({x: i for i, x in enumerate(users)}).to_numpy()
    i = p["item"].map({x: n_u + j for j, x in enumerate(items)}).to_numpy()
    cap_i = [n_u if c is None else int(min(c, n_u)) for c in (caps[x] for x in items)]
    rows = np.r_[np.full(n_u, src), u, np.arange(n_u, n_u + n_i)]
    cols = np.r_[np.arange(n_u), i, np.full(n_i, snk)]
    vals = np.r_[np.ones(n_u), np.ones(len(u)), cap_i].astype(np.int32)
    graph = sp.csr_matrix((vals, (rows, cols)), shape=(n_u + n_i + 2,) * 2)
    return int(maximum_flow(graph, src, snk).flow_value)


def assert_feasible(p: pd.DataFrame, caps: dict, alloc: pd.DataFrame, fill: bool) -> None:
    """Recomputed with pandas: one row per user, loads within capacity, listed items only."""
    assert alloc.index.is_unique and set(alloc.index) == set(p["user"])
    placed = alloc["item"].dropna()
    for item, load in placed.value_counts().items():
        assert caps[item] is None or load <= caps[item], item
    if not fill:
        listed = set(zip(p["user"], p["item"], strict=True))
        assert all((u, it) in listed for u, it in placed.items())


@settings(max_examples=40)
@given(assignment_magnitude_instances(), st.sampled_from(["min_cost_flow", "rank_maximal", "milp"]),
       st.booleans(), st.sampled_from([0, 1, 10_000, 10**15]))
def test_capacities_of_any_size_conserve_and_counts_are_true(inst, strategy, fill, cost):
    p, caps = inst
    res = assign_preferences(p, caps, strategy=strategy, fill_unlisted=fill,
                             unassigned_cost=cost)
    assert_feasible(p, caps, res.allocation, fill)
    assert res.report.status == "optimal"
    best = most_placed(p, caps)
    if fill:
        return
    if strategy == "rank_maximal" or cost >= 10_000:
        assert res.report.assigned == best  # places as many as possible
    try:
        strict = assign_preferences(p, caps, strategy=strategy, allow_unassigned=False,
                                    unassigned_cost=cost)
    except errors.SolverError as err:
        assert best < len(set(p["user"]))
        assert f" {len(set(p['user'])) - best} user(s) cannot be placed" in str(err)
    else:
        assert best == len(set(p["user"]))
        assert_feasible(p, caps, strict.allocation, False)
        assert strict.allocation["item"].notna().all()


@settings(max_examples=40)
@given(assignment_instances(), st.data())
def test_only_fairalloc_errors_escape(inst, data):
    p, caps = inst
    odd = st.sampled_from([True, np.False_, -1, 1.5, math.nan, "2", np.int64(2), 10**20])
    caps = {k: data.draw(st.one_of(st.integers(0, 3), odd)) for k in caps}
    kwargs = data.draw(st.fixed_dictionaries({}, optional={
        "strategy": st.sampled_from(["min_cost_flow", "rank_maximal", "milp", "greedy", None]),
        "fill_unlisted": st.sampled_from([True, False, "no", 1]),
        "allow_unassigned": st.sampled_from([True, False, np.True_, None]),
        "unassigned_cost": st.sampled_from([0, 5, -1, True, 2.5, np.int64(7)]),
        "seed": st.sampled_from([0, 3, -1, "0", np.uint8(1)]),
    }))
    try:
        res = assign_preferences(p, caps, **kwargs)
    except errors.FairallocError:
        return
    assert res.allocation.index.is_unique


# --- by=: independent groups (campaigns) ------------------------------------------------------

def test_groups_are_solved_independently_with_the_group_level_first():
    p = prefs([("u1", "x", 1), ("u2", "x", 1), ("u2", "y", 2)])
    both = pd.concat([p.assign(campaign="spring"), p.assign(campaign="autumn")])
    caps = pd.DataFrame({"campaign": ["spring", "spring", "autumn", "autumn"],
                         "item": ["x", "y", "x", "y"], "capacity": [1, 1, 2, 0]})
    res = assign_preferences(both, caps, by="campaign")
    assert res.allocation.index.names == ["campaign", "user"]
    # x holds two users in autumn (both get rank 1), one in spring (u2 gets y at rank 2)
    assert res.allocation["item"].to_dict() == {
        ("autumn", "u1"): "x", ("autumn", "u2"): "x", ("spring", "u1"): "x",
        ("spring", "u2"): "y"}
    assert res.report.users == 4 and res.report.rank_counts == {1: 3, 2: 1}
    assert res.report.total_cost == 5
    summary = assignment_summary(res.allocation, caps, by="campaign")
    assert summary.loc[("spring", "y"), "rank_2"] == 1
    assert summary.loc[("autumn", "y"), "rank_2"] == 0  # filled: nobody got rank 2 there
    assert assignment_violations(res.allocation, caps, by="campaign").empty
    worse = res.allocation.copy()
    worse.loc[("autumn", "u1"), "item"] = "y"
    found = assignment_violations(worse, caps, by="campaign")
    assert found[["rule", "key"]].values.tolist() == [["over_capacity", ("autumn", "y")]]


def test_by_refuses_constraints_and_groups_missing_from_a_table():
    p = prefs([("u1", "x", 1)]).assign(campaign="a")
    caps = pd.DataFrame({"campaign": ["a"], "item": ["x"], "capacity": [1]})
    with pytest.raises(errors.ParameterError, match="constraints"):
        assign_preferences(p, caps, by="campaign", strategy="milp", constraints={})
    with pytest.raises(errors.UnknownKeyError, match="b"):
        assign_preferences(pd.concat([p, p.assign(campaign="b")]), caps, by="campaign")


@settings(max_examples=60)
@given(assignment_group_instances(), st.sampled_from(["min_cost_flow", "rank_maximal"]),
       st.integers(0, 5))
def test_a_group_of_the_by_result_is_the_solve_of_that_group_alone(inst, strategy, seed):
    prefs_all, caps_all, groups = inst
    res = assign_preferences(prefs_all, caps_all, by="campaign", strategy=strategy, seed=seed)
    assert list(res.allocation.index.names) == ["campaign", "user"]
    assert sorted(res.allocation.index.get_level_values(0).unique()) == sorted(
        n for n, _, _ in groups)
    users = assigned = 0
    for name, p, caps in groups:
        alone = assign_preferences(p, caps, strategy=strategy, seed=seed)
        pd.testing.assert_frame_equal(res.allocation.xs(name, level="campaign"),
                                      alone.allocation, check_exact=True)
        users += alone.report.users
        assigned += alone.report.assigned
    assert (res.report.users, res.report.assigned) == (users, assigned)
