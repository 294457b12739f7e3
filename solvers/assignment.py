"""Ranked-preference assignment (SPEC §3) on integer codes: users → items with capacities.

Arcs are (user, item, cost rank) triples; ``capacity[item]`` is an integer ≥ 0 or -1 for
unlimited. Every strategy returns the item code per user (-1 when unassigned) and sits behind
:data:`STRATEGIES`.

Network. Without side constraints, an unassigned cost of at least
:attr:`Arcs.place_most_bound` makes every optimum place as many users as possible; then the
min-cost flow needs no "unassigned" node and is solved as a max flow of least cost (fewer arcs,
a smaller cost range: faster). A smaller unassigned cost is weighed against ranks through the
"unassigned" node, as in the spec.

Verification. :func:`solve` runs a strategy and checks its answer with
:func:`verify_assignment` before returning it: each user on at most one item, and only along
one of its arcs (listed items, or any item with ``fill_unlisted``), item loads within capacity,
nobody unplaced unless that is allowed, side constraints held. A breach is a
:class:`~fairalloc.solvers.verify.SolverFailure` naming the users or items (``what``); an integral
answer cannot be scaled back, so nothing is repaired. When not every user fits and
``allow_unassigned`` is False, :class:`Infeasible` carries the true minimum number of users left
out, from a cost-free maximum-cardinality solve (a max flow, or a MILP under side constraints).

Tie-breaking. Among equally good assignments a seeded lottery decides: every user gets a
priority level from ``seed`` and the secondary objective Σ priority × rank prefers giving
better ranks to higher-priority users. The secondary costs are scaled below one unit of the
primary cost, so they never change the optimum itself; the number of priority levels shrinks
with the problem size so that all costs stay in OR-Tools' safe range (down to one level:
then only the seeded order of the users decides).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp
from ortools.graph.python import max_flow, min_cost_flow
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse.csgraph import connected_components

from fairalloc.solvers.registry import Registry
from fairalloc.solvers.verify import SolverFailure, Status

STRATEGIES = Registry("assignment strategy")

#: OR-Tools' cost scaling multiplies costs by about the number of nodes: keep below this.
_COST_LIMIT = 2**60


@dataclass(frozen=True)
class Arcs:
    """Candidate (user, item) pairs with their primary cost, plus the problem's size."""

    user: np.ndarray
    item: np.ndarray
    cost: np.ndarray  # primary cost: the rank, or max_rank + 2 for unlisted items
    capacity: np.ndarray  # per item; -1 = unlimited
    n_users: int
    unassigned_cost: int
    allow_unassigned: bool

    def __post_init__(self) -> None:
        # Any unassigned cost above the largest possible total rank cost gives the same
        # optimum (place as many as possible first), side constraints or not: solve with that
        # bound, keeping every cost within the solvers' ranges however large the caller's value.
        bound = self.n_users * max(int(self.cost.max(initial=0)), 1) + 1
        object.__setattr__(self, "unassigned_cost", min(int(self.unassigned_cost), bound))

    @property
    def place_most_bound(self) -> int:  # numpydoc ignore=RT01
        """Without side constraints, the smallest unassigned cost that makes every optimum
        place as many users as possible.

        Placing one more user along a simple augmenting path (k ≤ min(items, users) items)
        costs at most ``top`` for that user plus ``top - 1`` for each of the k - 1 users it
        moves; a larger unassigned cost makes every such path worth taking.
        """
        top = max(int(self.cost.max(initial=0)), 1)
        k = max(min(len(self.capacity), self.n_users), 1)
        return top + (k - 1) * (top - 1) + 1

    @property
    def places_most(self) -> bool:  # numpydoc ignore=RT01
        """Without side constraints: True when the optimum places as many users as possible
        (no trade-off to weigh)."""
        return not self.allow_unassigned or self.unassigned_cost >= self.place_most_bound


@dataclass(frozen=True)
class SideConstraints:
    """Side constraints on codes (see :func:`milp_assign`); empty tuples mean none."""

    #: (user codes, item codes, q): at most q of those users on those items
    quotas: tuple = ()
    #: user-code arrays that must land on one item (or all stay unassigned)
    together: tuple = ()
    #: (user codes, item a, item b): the group may not occupy both items
    conflicts: tuple = ()


class InfeasibleConstraints(SolverFailure):
    """The side constraints admit no assignment (with ``allow_unassigned=False``, or at all).

    Parameters
    ----------
    message : str
        Which constraints conflict.
    """

    def __init__(self, message: str):
        super().__init__("assignment", Status.INFEASIBLE, message)


@dataclass(frozen=True)
class Assignment:
    """A solver's answer: the item and arc per user, the status and the tie-break levels."""

    item: np.ndarray  # per user, -1 when unassigned
    status: str
    levels: int  # priority levels used by the tie-break
    arc: np.ndarray  # per user, the index of the arc used (-1 when unassigned)
    #: every arc the solver put a user on (a user on two arcs would be a broken answer)
    used: np.ndarray | None = None


def _assignment(arcs: Arcs, used: np.ndarray, levels: int) -> Assignment:
    """Item and arc per user from the mask of arcs carrying a user."""
    chosen = np.flatnonzero(used)
    item = np.full(arcs.n_users, -1, np.int64)
    arc = np.full(arcs.n_users, -1, np.int64)
    item[arcs.user[chosen]] = arcs.item[chosen]
    arc[arcs.user[chosen]] = chosen
    return Assignment(item, Status.OPTIMAL, levels, arc, chosen)


class Infeasible(SolverFailure):
    """Not every user can be placed (``allow_unassigned=False``).

    Parameters
    ----------
    unplaced : int
        The true minimum number of users left out.
    """

    def __init__(self, unplaced: int):
        self.unplaced = unplaced
        super().__init__("assignment", Status.INFEASIBLE,
                         f"{unplaced} user(s) cannot be placed", limit="capacity")


def solve(strategy: str, arcs: Arcs, seed: int,
          side: SideConstraints | None = None) -> Assignment:
    """Run the strategy and verify its answer (:func:`verify_assignment`) before returning it.

    Parameters
    ----------
    strategy : str
        A name registered in :data:`STRATEGIES` (``"min_cost_flow"``, ``"rank_maximal"``,
        ``"milp"``).
    arcs : Arcs
        The candidate (user, item) arcs, item capacities and the unassigned rule.
    seed : int
        Seed of the per-user priority that breaks ties between equal optima.
    side : SideConstraints, optional
        Side constraints, for the strategies that take them.

    Returns
    -------
    Assignment
        Item and arc per user (-1 when unassigned), the status and the priority levels used.

    Raises
    ------
    KeyError
        An unknown ``strategy`` (the message lists the known ones).
    ValueError
        Side constraints given to a strategy that takes none.
    Infeasible
        ``arcs.allow_unassigned`` is False and not every user can be placed.
    InfeasibleConstraints
        The side constraints admit no assignment.
    fairalloc.solvers.verify.SolverFailure
        The solver failed, or its answer is not a feasible assignment.

    Examples
    --------
    >>> arcs = Arcs(np.array([0, 1]), np.array([0, 0]), np.array([1, 1]), np.array([1]), 2,
    ...             10, True)
    >>> res = solve("min_cost_flow", arcs, 0)
    >>> sorted(res.item.tolist()), str(res.status)
    ([-1, 0], 'optimal')
    """
    result = STRATEGIES.get(strategy)(arcs, seed, side)
    verify_assignment(arcs, result, side)
    return result


def verify_assignment(arcs: Arcs, result: Assignment,
                      side: SideConstraints | None = None) -> None:
    """Raise :class:`SolverFailure` unless ``result`` is a feasible assignment of ``arcs``.

    Rules: each user on at most one arc (``result.used``), its item that arc's item (so only
    listed items, or unlisted ones when they have arcs: ``fill_unlisted``); nobody unplaced
    unless ``arcs.allow_unassigned``; per item at most its capacity (-1 unlimited); every
    quota, together-group and conflict of ``side``. ``what`` is ``"user"`` or ``"item"`` and
    ``codes`` name them. O(users + arcs + constraint sizes).

    Parameters
    ----------
    arcs : Arcs
        The problem the answer solves.
    result : Assignment
        The solver's answer.
    side : SideConstraints, optional
        The side constraints the answer must hold.

    Raises
    ------
    fairalloc.solvers.verify.SolverFailure
        The first rule broken, naming up to 10 users or items by code.

    Examples
    --------
    >>> arcs = Arcs(np.array([0, 1]), np.array([0, 0]), np.array([1, 1]), np.array([1]), 2,
    ...             10, True)
    >>> verify_assignment(arcs, Assignment(np.array([0, 0]), "optimal", 1, np.array([0, 1])))
    Traceback (most recent call last):
    ...
    fairalloc.solvers.verify.SolverFailure: assignment: status optimal, but 1 item(s) hold more \
users \
than their capacity (codes [0])
    """
    n_u, n_i, n_a = arcs.n_users, len(arcs.capacity), len(arcs.user)
    item, arc, status = np.asarray(result.item), np.asarray(result.arc), result.status

    def fail(what: str, bad: np.ndarray, text: str, limit: str) -> None:
        codes = np.flatnonzero(bad) if bad.dtype == bool else np.unique(bad)
        raise SolverFailure("assignment", status,
                            f"status {status}, but {len(codes)} {what}(s) {text} "
                            f"(codes {codes[:10].tolist()})", what, codes[:10], limit)

    if result.used is not None:
        twice = np.bincount(arcs.user[result.used], minlength=n_u) > 1
        if twice.any():
            fail("user", twice, "are placed on more than one item", "one item")
    placed = item >= 0
    valid = (arc >= 0) & (arc < n_a)
    at = np.where(valid, arc, 0)
    along = valid & (arcs.user[at] == np.arange(n_u)) & (arcs.item[at] == item)
    wrong = np.where(placed, ~along, arc >= 0) | (item >= n_i)
    if wrong.any():
        fail("user", wrong, "are placed on an item they may not take", "listed items")
    if not arcs.allow_unassigned and not placed.all():
        fail("user", ~placed, "are left unplaced although allow_unassigned=False",
             "allow_unassigned")
    load = np.bincount(item[placed], minlength=n_i)
    over = (arcs.capacity >= 0) & (load > arcs.capacity)
    if over.any():
        fail("item", over, "hold more users than their capacity", "capacity")
    if side is None:
        return
    for users, items, q in side.quotas:
        on = placed & np.isin(np.arange(n_u), users) & np.isin(item, items)
        if on.sum() > q:
            fail("item", np.asarray(items), f"hold more than a quota's {q} of its users",
                 "quota")
    for group in side.together:
        if len(np.unique(item[group])) > 1:
            fail("user", np.asarray(group), "of one together-group are split", "together")
    for users, a, b in side.conflicts:
        held = set(item[users][placed[users]].tolist())
        if a in held and b in held:
            fail("item", np.array([a, b]), "are both occupied by a conflict group", "conflict")


def priorities(n_users: int, seed: int) -> np.ndarray:
    """A seeded random priority rank per user (0 = lowest), a permutation of 0..n-1.

    Parameters
    ----------
    n_users : int
        Number of users.
    seed : int
        Seed of the random permutation.

    Returns
    -------
    numpy.ndarray
        int64 priority per user code.
    """
    rng = np.random.default_rng(seed)
    return rng.permutation(n_users)


def _levels(arcs: Arcs, n_nodes: int) -> tuple[int, int, int]:
    """(priority levels m, primary multiplier K, top rank cost) keeping costs in range.

    A user's secondary cost is at most (m - 1)(2 top + 1) (its arc plus its source or
    "unassigned" arc); their sum over any assignment is below K = n_users (m - 1)(2 top + 1)
    + 1, so one unit of primary cost outweighs every tie-break.
    The largest primary cost times K plus a secondary cost, times the node count, must stay
    below 2**60.
    """
    top = max(int(arcs.cost.max(initial=0)), 1)
    primary = top if arcs.places_most else max(top, arcs.unassigned_cost)
    budget = _COST_LIMIT // (n_nodes + 1)
    m = (budget - primary) // ((2 * top + 1) * (arcs.n_users * primary + 1)) + 1
    m = int(max(1, min(m, arcs.n_users)))
    return m, arcs.n_users * (m - 1) * (2 * top + 1) + 1, top


def _no_side(side: SideConstraints | None, strategy: str) -> None:
    if side is not None and (side.quotas or side.together or side.conflicts):
        raise ValueError(f"strategy {strategy!r} takes no side constraints: use 'milp'")


def _cheapest_first(user: np.ndarray, cost: np.ndarray) -> np.ndarray | None:
    """The arcs' order by user, then cost (stable), or None when they already come so."""
    if len(user) < 2:
        return None
    user, cost = user.astype(np.int64, copy=False), cost.astype(np.int64, copy=False)
    step_u, step_c = np.diff(user), np.diff(cost)
    if ((step_u > 0) | ((step_u == 0) & (step_c >= 0))).all():
        return None
    low, top = int(cost.min()), int(cost.max())
    span = top - low + 1
    if user.min() >= 0 and int(user.max()) < 2**62 // span:  # one int64 key: the faster sort
        return np.argsort(user * span + (cost - low), kind="stable")
    return np.lexsort((cost, user))


@STRATEGIES.register("min_cost_flow")
def min_cost_flow_assign(arcs: Arcs, seed: int,
                         side: SideConstraints | None = None) -> Assignment:
    """Social optimum: minimise total rank cost with OR-Tools' SimpleMinCostFlow.

    Parameters
    ----------
    arcs : Arcs
        The candidate (user, item) arcs, item capacities and the unassigned rule.
    seed : int
        Seed of the per-user priority that breaks ties between equal optima.
    side : SideConstraints, optional
        Must be None: only :func:`milp_assign` takes side constraints.

    Returns
    -------
    Assignment
        Item and arc per user (-1 when unassigned), the status and the priority levels used.

    Raises
    ------
    ValueError
        ``side`` is given.
    Infeasible
        ``arcs.allow_unassigned`` is False and not every user can be placed.
    fairalloc.solvers.verify.SolverFailure
        OR-Tools' min-cost flow did not finish optimal.
    """
    _no_side(side, "min_cost_flow")
    given = arcs
    n_u, n_i = arcs.n_users, len(arcs.capacity)
    prio = priorities(n_u, seed)
    node_of_user = prio  # nodes in seeded order: residual ties follow the seed too
    source, dummy, sink = n_u + n_i, n_u + n_i + 1, n_u + n_i + 2
    n_nodes = n_u + n_i + 3
    m, k, top = _levels(arcs, n_nodes)
    level = prio * m // max(n_u, 1)  # 0 … m-1
    flow = min_cost_flow.SimpleMinCostFlow()
    # each user's arcs go in cheapest first: the solver scans a node's arcs in the order they
    # were added and finds the cheap ones sooner (at 10^4 users × 200 items, interleaved:
    # 49.5 → 44.3 ms against the arcs by item; at 10^5 × 1 000 3–7 % less)
    order = _cheapest_first(arcs.user, arcs.cost)
    if order is not None:
        arcs = replace(arcs, user=arcs.user[order], item=arcs.item[order],
                       cost=arcs.cost[order])
    users = node_of_user[arcs.user]
    cap = np.where(arcs.capacity < 0, n_u, arcs.capacity).astype(np.int64)
    tails = [np.full(n_u, source), users, n_u + np.arange(n_i)]
    heads = [node_of_user, n_u + arcs.item, np.full(n_i, sink)]
    caps = [np.ones(n_u, np.int64), np.ones(len(users), np.int64), cap]
    # higher priority level → larger weight → prefers small ranks …
    costs = [np.zeros(n_u, np.int64), arcs.cost * k + level[arcs.user] * arcs.cost,
             np.zeros(n_i, np.int64)]
    if arcs.places_most:
        # … and being placed: the flow is maximal, so how many are placed is fixed and a
        # constant per placed user changes nothing but keeps costs ≥ 0
        costs[0] = (m - 1 - level) * (top + 1)
    else:  # weigh leaving a user out against rank costs through an "unassigned" node
        tails += [node_of_user, [dummy]]
        heads += [np.full(n_u, dummy), [sink]]
        caps += [np.ones(n_u, np.int64), [n_u]]
        costs += [np.full(n_u, arcs.unassigned_cost * k) + level * (top + 1), [0]]
    arc_ids = flow.add_arcs_with_capacity_and_unit_cost(
        np.concatenate(tails).astype(np.int64), np.concatenate(heads).astype(np.int64),
        np.concatenate(caps).astype(np.int64), np.concatenate(costs).astype(np.int64))
    flow.set_nodes_supplies(np.array([source, sink]), np.array([n_u, -n_u]))
    status = flow.solve_max_flow_with_min_cost()
    if status != flow.OPTIMAL:
        raise SolverFailure("assignment", Status.ERROR,
                            f"the min-cost flow failed with OR-Tools status {status}")
    used = flow.flows(arc_ids[n_u:n_u + len(users)]) > 0
    if order is not None:  # back to the caller's arcs
        used[order] = used.copy()
        arcs = given
    result = _assignment(arcs, used, m)
    placed = int((result.item >= 0).sum())
    if not arcs.allow_unassigned and placed < n_u:
        raise Infeasible(n_u - placed)
    return result


@STRATEGIES.register("rank_maximal")
def rank_maximal_assign(arcs: Arcs, seed: int,
                        side: SideConstraints | None = None) -> Assignment:
    """Fairness tiers, exactly: most users assigned, then most first choices, second, …

    Lexicographic optimisation over optimal faces of the flow polytope (network source → user
    (1) → item (1 per listed pair) → sink (capacity)). Throughout, an integral optimal flow x
    and a set of *free* arcs describe the optimal face so far: the flows equal to x off the
    free arcs, i.e. x plus circulations on free arcs.

    * Cardinality: a max flow. Two max flows differ by a circulation in the residual graph,
      so an arc joining two of its strongly connected components never changes: it is fixed.
    * Rank tiers, several per solve: a min-cost flow over the free arcs (supplies keep x
      feasible, so the solve stays on the face) with cost -w_j on free rank-j arcs,
      w_last = 1 and w_j = 1 + Σ_{l>j} w_l m_l, m_l the number of free rank-l arcs (a bound on
      how much n_l can vary on the face). One more rank-j user then outweighs any change in
      later tiers: the weighted optimum is the lexicographic one, in integers.
    * The next face: potentials (shortest distances from a virtual root in the residual
      graph of the optimum — an optimal dual) fix every arc of non-zero reduced cost
      (complementary slackness) and every arc joining two strongly connected components of
      the zero-reduced-cost residual graph; the rest stay free.

    Each user has a single residual in-arc, so the distances are computed on the items (paths
    predecessor → user → item contracted) by vectorised Bellman-Ford passes. Tiers constant
    on the face are skipped; typically one max flow and two min-cost flows suffice. Ties go
    to the seeded order of the user nodes and arcs (OR-Tools is deterministic).

    Parameters
    ----------
    arcs : Arcs
        The candidate (user, item) arcs, item capacities and the unassigned rule.
    seed : int
        Seed of the per-user priority that breaks ties between equal optima.
    side : SideConstraints, optional
        Must be None: only :func:`milp_assign` takes side constraints.

    Returns
    -------
    Assignment
        Item and arc per user (-1 when unassigned), the status and the priority levels used.

    Raises
    ------
    ValueError
        ``side`` is given.
    Infeasible
        ``arcs.allow_unassigned`` is False and not every user can be placed.
    fairalloc.solvers.verify.SolverFailure
        A max flow or min-cost flow of OR-Tools failed.
    """
    _no_side(side, "rank_maximal")
    n_u, n_i = arcs.n_users, len(arcs.capacity)
    cap_i = np.where(arcs.capacity < 0, n_u, np.minimum(arcs.capacity, n_u)).astype(np.int64)
    prio = priorities(n_u, seed)
    keep = np.flatnonzero(cap_i[arcs.item] > 0)
    keep = keep[np.lexsort((arcs.item[keep], prio[arcs.user[keep]]))]  # seeded arc order
    m = len(keep)
    item_arr = np.full(n_u, -1, np.int64)
    if m == 0:
        if not arcs.allow_unassigned and n_u:
            raise Infeasible(n_u)
        return Assignment(item_arr, Status.OPTIMAL, 1, np.full(n_u, -1, np.int64),
                          np.empty(0, np.int64))
    user, item, rank = prio[arcs.user[keep]], arcs.item[keep], arcs.cost[keep]
    src, snk = n_u + n_i, n_u + n_i + 1
    n_nodes = n_u + n_i + 2
    tail = np.concatenate([user, np.full(n_u, src), n_u + np.arange(n_i)])
    head = np.concatenate([n_u + item, np.arange(n_u), np.full(n_i, snk)])
    capa = np.concatenate([np.ones(m + n_u, np.int64), cap_i])
    arank = np.concatenate([rank, np.zeros(n_u + n_i, np.int64)])

    flow = max_flow.SimpleMaxFlow()
    flow.add_arcs_with_capacity(tail, head, capa)
    if flow.solve(src, snk) != flow.OPTIMAL:
        raise SolverFailure("assignment", Status.ERROR, "the rank-maximal max flow failed")
    placed = int(flow.optimal_flow())
    if not arcs.allow_unassigned and placed < n_u:
        raise Infeasible(n_u - placed)
    x = flow.flows(np.arange(len(tail))).astype(np.int64)
    free = _same_scc(n_nodes, tail, head, x < capa, x > 0)

    tiers = np.unique(rank)
    t = 0
    while True:
        count = np.bincount(rank[free[:m]], minlength=int(tiers[-1]) + 1)
        live = tiers[t:][count[tiers[t:]] > 0]  # tiers still able to change
        if not len(live):
            break
        group = _tier_group(live, count, first=t == 0)
        t = int(np.searchsorted(tiers, group[-1])) + 1
        last = len(group) == len(live)
        fidx = np.flatnonzero(free)
        weights = _tier_weights(group, count)
        cost = np.zeros(len(fidx), np.int64)
        for r, w in zip(group, weights, strict=True):
            cost[arank[fidx] == r] = -w
        nodes = np.unique(np.concatenate([tail[fidx], head[fidx]]))
        relabel = np.full(n_nodes, -1, np.int64)
        relabel[nodes] = np.arange(len(nodes))
        lt, lh = relabel[tail[fidx]], relabel[head[fidx]]
        fx = x[fidx]
        supply = (np.bincount(lt, weights=fx, minlength=len(nodes))
                  - np.bincount(lh, weights=fx, minlength=len(nodes))).astype(np.int64)
        solver = min_cost_flow.SimpleMinCostFlow()
        solver.add_arcs_with_capacity_and_unit_cost(lt, lh, capa[fidx], cost)
        solver.set_nodes_supplies(np.arange(len(nodes)), supply)
        if solver.solve() != solver.OPTIMAL:
            raise SolverFailure("assignment", Status.ERROR, "a rank-maximal tier flow failed")
        fx = solver.flows(np.arange(len(fidx))).astype(np.int64)
        x[fidx] = fx
        if last:
            break
        d = _potentials(len(nodes), lt, lh, capa[fidx], fx, cost, nodes < n_u)
        tight = cost + d[lt] - d[lh] == 0
        free[fidx] = tight & _same_scc(len(nodes), lt, lh, tight & (fx < capa[fidx]),
                                       tight & (fx > 0))
    chosen = np.flatnonzero(x[:m] > 0)
    arc = np.full(n_u, -1, np.int64)
    users = arcs.user[keep[chosen]]
    item_arr[users] = arcs.item[keep[chosen]]
    arc[users] = keep[chosen]
    return Assignment(item_arr, Status.OPTIMAL, 1, arc, keep[chosen])


#: Largest tier weight in one min-cost flow: only trades the number of solves against their
#: cost range (any value ≥ 1 is exact).
_TIER_WEIGHT_LIMIT = 10**6


def _tier_weights(group: np.ndarray, count: np.ndarray) -> list[int]:
    """w_last = 1, w_j = 1 + Σ_{l after j} w_l · count_l (Python ints: no overflow)."""
    weights, acc = [], 0
    for r in group[::-1]:
        weights.append(1 + acc)
        acc += weights[-1] * int(count[r])
    return weights[::-1]


def _tier_group(live: np.ndarray, count: np.ndarray, first: bool) -> np.ndarray:
    """The next tiers to solve together: the first tier alone (the cheapest full-graph solve),
    then as many as keep the largest weight within :data:`_TIER_WEIGHT_LIMIT`."""
    end = 1
    while not first and end < len(live) and \
            _tier_weights(live[:end + 1], count)[0] <= _TIER_WEIGHT_LIMIT:
        end += 1
    return live[:end]


def _same_scc(n_nodes: int, tail, head, forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """Per arc: both ends in one strongly connected component of the residual graph made of
    the ``forward`` arcs and the reverses of the ``backward`` ones."""
    src = np.concatenate([tail[forward], head[backward]])
    dst = np.concatenate([head[forward], tail[backward]])
    graph = sp.csr_matrix((np.ones(len(src), np.int8), (src, dst)), shape=(n_nodes, n_nodes))
    label = connected_components(graph, directed=True, connection="strong")[1]
    return label[tail] == label[head]


def _potentials(n_nodes, lt, lh, cap, fx, cost, is_user) -> np.ndarray:
    """Shortest distances from a virtual root (a 0-cost arc to every node) in the residual
    graph of an optimal flow (no negative cycles), in int64.

    A user carries one unit, so it has at most one residual in-arc (from the source when
    unassigned, else back from its item): d(u) = min(0, d(pred) + c) and each path
    pred → u → q contracts to one arc on the other nodes, where Bellman-Ford passes run
    vectorised (grouped by head) until nothing improves.
    """
    fw, bw = fx < cap, fx > 0
    rs = np.concatenate([lt[fw], lh[bw]])
    rd = np.concatenate([lh[fw], lt[bw]])
    rc = np.concatenate([cost[fw], -cost[bw]])
    into_user, from_user = is_user[rd], is_user[rs]
    pred = np.full(n_nodes, -1, np.int64)
    pcost = np.zeros(n_nodes, np.int64)
    pred[rd[into_user]] = rs[into_user]
    pcost[rd[into_user]] = rc[into_user]
    keep = ~from_user & ~into_user
    p = pred[rs[from_user]]
    has = p >= 0
    es = np.concatenate([rs[keep], p[has]])
    ed = np.concatenate([rd[keep], rd[from_user][has]])
    ec = np.concatenate([rc[keep], pcost[rs[from_user]][has] + rc[from_user][has]])
    d = np.zeros(n_nodes, np.int64)
    np.minimum.at(d, rd[from_user], rc[from_user])  # root → u → q
    if len(es):
        key = ed * n_nodes + es  # parallel arcs: keep the cheapest, grouped by head
        order = np.argsort(key, kind="stable")
        key, ec = key[order], ec[order]
        first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        ec, key = np.minimum.reduceat(ec, first), key[first]
        es, ed = key % n_nodes, key // n_nodes
        starts = np.flatnonzero(np.r_[True, ed[1:] != ed[:-1]])
        heads = ed[starts]
        for _ in range(n_nodes + 1):
            best = np.minimum.reduceat(d[es] + ec, starts)
            better = best < d[heads]
            if not better.any():
                break
            d[heads[better]] = best[better]
        else:
            raise SolverFailure("assignment", Status.ERROR,
                                "negative cycle: the tier flow is not optimal")
    u = np.flatnonzero(is_user & (pred >= 0))
    d[u] = np.minimum(0, d[pred[u]] + pcost[u])
    return d


@STRATEGIES.register("milp")
def milp_assign(arcs: Arcs, seed: int, side: SideConstraints | None = None) -> Assignment:
    """Least total rank cost under side constraints, with HiGHS through ``scipy.optimize.milp``.

    Variables: one binary per arc, one per user for "unassigned" (if allowed) and one per
    (conflict, item) saying the group occupies that item. A second MILP holds the optimal
    cost and applies the seeded priority tie-break.

    Parameters
    ----------
    arcs : Arcs
        The candidate (user, item) arcs, item capacities and the unassigned rule.
    seed : int
        Seed of the per-user priority that breaks ties between equal optima.
    side : SideConstraints, optional
        Quotas, together-groups and conflicts on codes; None means none.

    Returns
    -------
    Assignment
        Item and arc per user (-1 when unassigned), the status and the priority levels used.

    Raises
    ------
    InfeasibleConstraints
        The side constraints admit no assignment.
    Infeasible
        ``arcs.allow_unassigned`` is False and not every user can be placed.
    fairalloc.solvers.verify.SolverFailure
        The MILP failed.
    """
    side = side or SideConstraints()
    n_u, n_a = arcs.n_users, len(arcs.user)
    extra_u = n_u if arcs.allow_unassigned else 0
    n_y = 2 * len(side.conflicts)
    rows = _Rows(n_a + extra_u + n_y)
    _one_arc_per_user(rows, arcs, extra_u)
    _item_capacities(rows, arcs)
    _quotas(rows, arcs, side.quotas)
    _together(rows, arcs, side.together, extra_u)
    _conflicts(rows, arcs, side.conflicts, first_y=n_a + extra_u)
    n_x = rows.n_x
    cons = [rows.constraint()]
    cost = np.r_[arcs.cost.astype(float), np.full(extra_u, float(arcs.unassigned_cost)),
                 np.zeros(n_y)]
    kw = dict(integrality=np.ones(n_x), bounds=Bounds(np.zeros(n_x), np.ones(n_x)),
              options={"mip_rel_gap": 0.0})
    res = milp(cost, constraints=cons, **kw)
    if res.status == 2:
        if arcs.allow_unassigned:
            raise InfeasibleConstraints("the constraints admit no assignment")
        raise Infeasible(n_u - _most_placed(arcs, seed, side))
    if res.status != 0:
        raise SolverFailure("assignment", Status.ERROR, f"the MILP failed: {res.message}")
    best = float(np.round(res.fun))
    prio = priorities(n_u, seed).astype(float)
    tie = np.r_[(prio[arcs.user] + 1) * arcs.cost, (prio[:extra_u] + 1) *
                (arcs.cost.max(initial=0) + 1), np.zeros(n_y)]
    cons.append(LinearConstraint(cost[None, :], -np.inf, best + 0.5))
    res2 = milp(tie, constraints=cons, **kw)
    if res2.status != 0:
        raise SolverFailure("assignment", Status.ERROR,
                            f"the tie-break MILP failed: {res2.message}")
    x = res2.x
    return _assignment(arcs, x[:n_a] > 0.5, n_u)


class _Rows:
    """Constraint rows of the assignment MILP, gathered kind by kind, then stacked once."""

    def __init__(self, n_x: int):
        self.n_x = n_x
        self.matrices: list[sp.csr_matrix] = []
        self.lo: list[np.ndarray] = []
        self.hi: list[np.ndarray] = []

    def add(self, matrix, lower, upper) -> None:
        """Rows ``lower <= matrix @ x <= upper`` (bounds broadcast over the rows)."""
        self.matrices.append(sp.csr_matrix(matrix, shape=(matrix.shape[0], self.n_x)))
        self.lo.append(np.broadcast_to(np.asarray(lower, float), matrix.shape[0]))
        self.hi.append(np.broadcast_to(np.asarray(upper, float), matrix.shape[0]))

    def constraint(self) -> LinearConstraint:
        """All rows as one sparse :class:`scipy.optimize.LinearConstraint`."""
        return LinearConstraint(sp.vstack(self.matrices).tocsr(), np.concatenate(self.lo),
                                np.concatenate(self.hi))


def _one_arc_per_user(rows: _Rows, arcs: Arcs, extra_u: int) -> None:
    """Every user takes exactly one arc, or its "unassigned" variable where that is allowed."""
    n_a = len(arcs.user)
    user_cols = np.concatenate([arcs.user, np.arange(extra_u)])
    cols = np.arange(n_a + extra_u)
    rows.add(sp.coo_matrix((np.ones(len(cols)), (user_cols, cols)),
                           shape=(arcs.n_users, rows.n_x)), 1.0, 1.0)


def _item_capacities(rows: _Rows, arcs: Arcs) -> None:
    """No item with a capacity (≥ 0) holds more users than it."""
    n_a = len(arcs.user)
    limited = np.flatnonzero(arcs.capacity >= 0)
    item_rows = sp.csr_matrix((np.ones(n_a), (arcs.item, np.arange(n_a))),
                              shape=(len(arcs.capacity), rows.n_x))[limited]
    rows.add(item_rows, -np.inf, arcs.capacity[limited].astype(float))


def _quotas(rows: _Rows, arcs: Arcs, quotas) -> None:
    """At most ``q`` of the quota's users on the quota's items (one row per quota)."""
    for users, items, q in quotas:
        mask = np.isin(arcs.user, users) & np.isin(arcs.item, items)
        rows.add(sp.csr_matrix((np.ones(int(mask.sum())), (np.zeros(int(mask.sum()), int),
                                                           np.flatnonzero(mask))),
                               shape=(1, rows.n_x)), -np.inf, float(q))


def _together(rows: _Rows, arcs: Arcs, groups, extra_u: int) -> None:
    """The users of a group share one item, or are all unassigned.

    x[first, i] - x[other, i] = 0 for every item either ranks (missing arcs are 0), and the
    same for "unassigned".
    """
    n_a = len(arcs.user)
    for group in groups:
        first, others = int(group[0]), [int(g) for g in group[1:]]
        for other in others:
            entries: dict[tuple, float] = {}
            for sign, u in ((1.0, first), (-1.0, other)):
                for a in np.flatnonzero(arcs.user == u):
                    entries[(int(arcs.item[a]), a)] = sign
                if extra_u:
                    entries[(-1, n_a + u)] = sign
            keys = sorted({k[0] for k in entries})
            r = {k: i for i, k in enumerate(keys)}
            data = [(r[k[0]], k[1], v) for k, v in entries.items()]
            m = sp.coo_matrix(([d[2] for d in data], ([d[0] for d in data],
                                                      [d[1] for d in data])),
                              shape=(len(keys), rows.n_x))
            rows.add(m, 0.0, 0.0)


def _conflicts(rows: _Rows, arcs: Arcs, conflicts, first_y: int) -> None:
    """A conflict's users may not occupy both of its items: y_a + y_b ≤ 1, where y_item is 1
    when any member sits on the item (two y variables per conflict from ``first_y`` on)."""
    for c, (users, item_a, item_b) in enumerate(conflicts):
        ya, yb = first_y + 2 * c, first_y + 2 * c + 1
        for y, item in ((ya, item_a), (yb, item_b)):
            arcs_in = np.flatnonzero(np.isin(arcs.user, users) & (arcs.item == item))
            # x_arc - y ≤ 0: a member on the item means the group occupies it
            m = sp.coo_matrix((np.r_[np.ones(len(arcs_in)), -np.ones(len(arcs_in))],
                               (np.r_[np.arange(len(arcs_in)), np.arange(len(arcs_in))],
                                np.r_[arcs_in, np.full(len(arcs_in), y)])),
                              shape=(len(arcs_in), rows.n_x))
            rows.add(m, -np.inf, 0.0)
        rows.add(sp.coo_matrix(([1.0, 1.0], ([0, 0], [ya, yb])), shape=(1, rows.n_x)),
                 -np.inf, 1.0)


def _most_placed(arcs: Arcs, seed: int, side: SideConstraints) -> int:
    """The largest number of users any assignment places under ``side``, whatever the costs:
    the MILP with rank costs 0 and unassigned cost 1 minimises the users left out."""
    cardinality = replace(arcs, cost=np.zeros_like(arcs.cost), unassigned_cost=1,
                          allow_unassigned=True)
    return int((milp_assign(cardinality, seed, side).item >= 0).sum())
