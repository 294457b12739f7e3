"""Kernels of the assignment solver on integer codes, checked by hand (no pandas)."""

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given

from fairalloc.solvers.assignment import (
    Arcs,
    Assignment,
    Infeasible,
    SideConstraints,
    _cheapest_first,
    solve,
    verify_assignment,
)
from fairalloc.solvers.verify import SolverFailure

STRATEGIES = ["min_cost_flow", "rank_maximal", "milp"]


def arcs(triples, capacity, n_users, unassigned_cost=10_000, allow_unassigned=True) -> Arcs:
    """Arcs from (user, item, rank) triples on codes."""
    user, item, cost = (np.array(col, np.int64) for col in zip(*triples, strict=True))
    return Arcs(user, item, cost, np.array(capacity, np.int64), n_users, unassigned_cost,
                allow_unassigned)


#: SPEC example: I1 (code 0) and I2 (code 1) hold one user each; U1 (code 0) ranks only I1,
#: U2 (code 1) ranks I1 then I2. The only way to place both: U1 → I1, U2 → I2.
SPEC = arcs([(0, 0, 1), (1, 0, 1), (1, 1, 2)], [1, 1], 2)


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("seed", [0, 1, 7])
def test_spec_example_places_u1_on_i1_and_u2_on_i2(strategy, seed):
    res = solve(strategy, SPEC, seed)
    assert res.item.tolist() == [0, 1]
    assert res.arc.tolist() == [0, 2]  # the arcs (U1, I1) and (U2, I2)
    assert str(res.status) == "optimal"


# u0 ranks item 0 first, item 1 second; u1 ranks item 0 second, item 2 fourth; capacity 1.
# Least total rank: u0 → 1, u1 → 0 (2 + 2 = 4, no first choice). Rank-maximal: one first
# choice beats any number of later ones: u0 → 0, u1 → 2 (1 + 4 = 5).
TIERS = arcs([(0, 0, 1), (0, 1, 2), (1, 0, 2), (1, 2, 4)], [1, 1, 1], 2)


@pytest.mark.parametrize(("strategy", "expected"), [("min_cost_flow", [1, 0]),
                                                     ("milp", [1, 0]),
                                                     ("rank_maximal", [0, 2])])
def test_least_cost_and_rank_maximal_differ_as_worked_out(strategy, expected):
    assert solve(strategy, TIERS, 0).item.tolist() == expected


def test_a_cheap_unassigned_cost_leaves_a_user_out_rather_than_pay_a_bad_rank():
    # one user, one item at rank 5: leaving the user out costs 2 < 5
    cheap = arcs([(0, 0, 5)], [1], 1, unassigned_cost=2)
    assert solve("min_cost_flow", cheap, 0).item.tolist() == [-1]
    assert solve("min_cost_flow", arcs([(0, 0, 5)], [1], 1), 0).item.tolist() == [0]


def test_unlimited_capacity_takes_everyone():
    crowd = arcs([(u, 0, 1) for u in range(5)], [-1], 5, allow_unassigned=False)
    for strategy in STRATEGIES:
        assert solve(strategy, crowd, 3).item.tolist() == [0] * 5


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_infeasible_counts_the_users_that_cannot_be_placed(strategy):
    # three users rank only item 0 (capacity 1) and item 1 (capacity 0): two cannot be placed
    full = arcs([(u, i, i + 1) for u in range(3) for i in (0, 1)], [1, 0], 3,
                allow_unassigned=False)
    with pytest.raises(Infeasible) as info:
        solve(strategy, full, 0)
    assert info.value.unplaced == 2
    assert str(info.value.status) == "infeasible" and info.value.limit == "capacity"


def test_infeasible_under_side_constraints_counts_the_true_minimum():
    # users 0 and 1 both fit (items 0 and 1), but a quota allows only one of them on either
    both = arcs([(0, 0, 1), (1, 1, 1)], [1, 1], 2, allow_unassigned=False)
    side = SideConstraints(quotas=((np.array([0, 1]), np.array([0, 1]), 1),))
    with pytest.raises(Infeasible) as info:
        solve("milp", both, 0, side)
    assert info.value.unplaced == 1


def test_side_constraints_are_refused_by_the_flow_strategies():
    side = SideConstraints(quotas=((np.array([0]), np.array([0]), 0),))
    with pytest.raises(ValueError, match="milp"):
        solve("min_cost_flow", SPEC, 0, side)


# --- verify_assignment: every answer is checked before it is returned --------------------------

def answer(item, arc, used=None) -> Assignment:
    return Assignment(np.array(item, np.int64), "optimal", 1, np.array(arc, np.int64),
                      None if used is None else np.array(used, np.int64))


def test_verify_accepts_the_spec_answer():
    verify_assignment(SPEC, answer([0, 1], [0, 2], [0, 2]))


def test_verify_names_the_item_over_its_capacity():
    # both users on item 1 (capacity 1); item 0 (capacity 5) is empty
    two = arcs([(0, 0, 1), (0, 1, 2), (1, 1, 1)], [5, 1], 2)
    with pytest.raises(SolverFailure) as info:
        verify_assignment(two, answer([1, 1], [1, 2]))
    err = info.value
    assert (err.what, err.codes, err.limit) == ("item", [1], "capacity")
    assert "1 item(s) hold more users than their capacity (codes [1])" in str(err)


def test_verify_names_a_user_on_an_item_it_did_not_list():
    # U1 (code 0) lists only I1; putting it on I2 along U2's arc is refused
    with pytest.raises(SolverFailure) as info:
        verify_assignment(SPEC, answer([1, 0], [2, 1]))
    assert (info.value.what, info.value.codes, info.value.limit) == ("user", [0],
                                                                     "listed items")


def test_verify_names_a_user_on_two_arcs():
    with pytest.raises(SolverFailure) as info:
        verify_assignment(SPEC, answer([-1, 1], [-1, 2], used=[1, 2]))
    assert (info.value.what, info.value.codes) == ("user", [1])


def test_verify_names_unplaced_users_when_everyone_must_be_placed():
    strict = arcs([(0, 0, 1), (1, 0, 1), (1, 1, 2)], [1, 1], 2, allow_unassigned=False)
    verify_assignment(strict, answer([0, 1], [0, 2]))
    with pytest.raises(SolverFailure) as info:
        verify_assignment(strict, answer([0, -1], [0, -1]))
    assert (info.value.what, info.value.codes, info.value.limit) == ("user", [1],
                                                                     "allow_unassigned")


def test_verify_checks_side_constraints():
    quota = SideConstraints(quotas=((np.array([0, 1]), np.array([0, 1]), 1),))
    with pytest.raises(SolverFailure) as info:
        verify_assignment(SPEC, answer([0, 1], [0, 2]), quota)
    assert (info.value.what, info.value.codes, info.value.limit) == ("item", [0, 1], "quota")
    together = SideConstraints(together=(np.array([0, 1]),))
    with pytest.raises(SolverFailure) as info:
        verify_assignment(SPEC, answer([0, 1], [0, 2]), together)
    assert info.value.limit == "together"


@given(st.integers(0, 2**32 - 1), st.booleans())
def test_min_cost_flow_answers_arcs_in_any_order_alike(seed, places_most):
    # the solver takes each user's arcs cheapest first whatever order they come in: shuffled
    # arcs place every user on the same item, and each user's arc points at that item
    rng = np.random.default_rng(seed)
    n_u, n_i = int(rng.integers(1, 40)), int(rng.integers(1, 8))
    triples = [(u, int(i), r + 1) for u in range(n_u)
               for r, i in enumerate(rng.permutation(n_i)[:int(rng.integers(1, n_i + 1))])]
    capacity = rng.integers(0, 6, n_i)
    cost = 10_000 if places_most else int(rng.integers(1, 4))
    by_user_item = arcs(sorted(triples), capacity, n_u, cost)
    shuffled = arcs([triples[j] for j in rng.permutation(len(triples))], capacity, n_u, cost)
    a = solve("min_cost_flow", by_user_item, 3)
    b = solve("min_cost_flow", shuffled, 3)
    assert a.item.tolist() == b.item.tolist()
    on = b.arc >= 0
    assert (shuffled.item[b.arc[on]] == b.item[on]).all()
    assert (shuffled.user[b.arc[on]] == np.flatnonzero(on)).all()


@pytest.mark.parametrize("dtype", [np.int32, np.uint32, np.int64])
def test_cheapest_first_orders_by_user_then_cost_in_any_integer_dtype(dtype):
    # a key user × costs + cost wrapped in int32, and unsigned steps down looked like steps up
    user = np.array([70_000, 0, 70_000, 1], dtype)
    cost = np.array([40_000, 3, 1, 2], dtype)
    order = _cheapest_first(user, cost)
    assert order is not None and order.tolist() == [1, 3, 2, 0]
    assert _cheapest_first(user[order], cost[order]) is None
