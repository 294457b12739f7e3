"""Ranked-preference assignment end to end (preference table in → result table out).

References: the bare OR-Tools build and solve of the same min-cost flow model
(``SimpleMinCostFlow`` from numpy arrays of user, item and rank codes: the network, costs with
the same seeded tie-break, solve, flows read back; it must give fairalloc's assignment user for
user), networkx's ``min_cost_flow`` on the same network (users, items, an "unassigned"
node), and at the smallest size the LP relaxation with scipy's HiGHS; both must reach
fairalloc's total cost before anything is timed. The largest size is timed for fairalloc alone
(networkx takes minutes there).
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import scipy.sparse as sp
from ortools.graph.python import min_cost_flow
from scipy.optimize import linprog

from benchmarks.harness import fmt_seconds, markdown, measure, measure_together
from fairalloc.transforms.assignment import assign_preferences

#: (users, items, compare with networkx)
SIZES = ((1_000, 50, True), (10_000, 200, True), (100_000, 1_000, False))
UNASSIGNED = 10_000


def make_instance(n_u: int, n_i: int, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """3–10 choices per user, popular items ranked more often; capacity 90 % of users."""
    rng = np.random.default_rng(seed)
    popularity = (rng.pareto(1.2, n_i) + 0.1).astype(np.float32)
    keys = rng.exponential(size=(n_u, n_i)).astype(np.float32) / popularity
    top = np.argpartition(keys, 10, axis=1)[:, :10]
    top = np.take_along_axis(top, np.argsort(np.take_along_axis(keys, top, 1), 1), 1)
    k = rng.integers(3, 11, n_u)
    rank = np.tile(np.arange(1, 11), (n_u, 1))
    keep = rank <= k[:, None]
    prefs = pd.DataFrame({"user": np.repeat(np.arange(n_u), 10)[keep.ravel()],
                          "item": top[keep], "rank": rank[keep]})
    cap = np.maximum(1, np.round(popularity / popularity.sum() * n_u * 0.9)).astype(int)
    return prefs, pd.Series(cap, index=pd.Index(np.arange(n_i), name="item"), name="capacity")


def networkx_reference(prefs: pd.DataFrame, cap: pd.Series) -> int:
    """Total rank cost of networkx's min-cost flow on the same network."""
    g = nx.DiGraph()
    n_u = prefs["user"].nunique()
    g.add_node("s", demand=-n_u)
    g.add_node("t", demand=n_u)
    g.add_edges_from((("s", ("u", u)) for u in range(n_u)), capacity=1, weight=0)
    g.add_edges_from(((("u", u), ("i", i), {"capacity": 1, "weight": int(r)})
                      for u, i, r in prefs.itertuples(index=False)))
    g.add_edges_from((("u", u), "none") for u in range(n_u))
    nx.set_edge_attributes(g, {(("u", u), "none"): {"capacity": 1, "weight": UNASSIGNED}
                               for u in range(n_u)})
    g.add_edge("none", "t", capacity=n_u, weight=0)
    g.add_edges_from(((("i", i), "t", {"capacity": int(c), "weight": 0})
                      for i, c in cap.items()))
    return int(nx.min_cost_flow_cost(g))


def ortools_reference(user: np.ndarray, item: np.ndarray, rank: np.ndarray,
                     capacity: np.ndarray, seed: int = 0) -> np.ndarray:
    """Item code per user (-1 unplaced) from the bare OR-Tools min-cost flow of the model
    ``solvers/assignment.py`` builds (when the optimum places as many users as possible, as on
    these instances): source → user (1) → item (1 per ranked pair) → sink (capacity), users
    as nodes in a seeded priority order, cost rank × K + level × rank per pair and
    (m − 1 − level) × (top + 1) per placed user, so ties fall the same way."""
    n_u, n_i = int(user.max()) + 1, len(capacity)
    prio = np.random.default_rng(seed).permutation(n_u)
    top, n_nodes = int(rank.max()), n_u + n_i + 3
    source, sink = n_u + n_i, n_u + n_i + 2
    m = (2**60 // (n_nodes + 1) - top) // ((2 * top + 1) * (n_u * top + 1)) + 1
    m = max(1, min(m, n_u))
    k = n_u * (m - 1) * (2 * top + 1) + 1
    level = prio * m // n_u
    flow = min_cost_flow.SimpleMinCostFlow()
    ids = flow.add_arcs_with_capacity_and_unit_cost(
        np.concatenate([np.full(n_u, source), prio[user], n_u + np.arange(n_i)]),
        np.concatenate([prio, n_u + item, np.full(n_i, sink)]),
        np.concatenate([np.ones(n_u + len(user), np.int64), np.minimum(capacity, n_u)]),
        np.concatenate([(m - 1 - level) * (top + 1), rank * k + level[user] * rank,
                        np.zeros(n_i, np.int64)]))
    flow.set_nodes_supplies(np.array([source, sink]), np.array([n_u, -n_u]))
    assert flow.solve_max_flow_with_min_cost() == flow.OPTIMAL
    got = np.full(n_u, -1)
    on = flow.flows(ids[n_u:n_u + len(user)]) > 0
    got[user[on]] = item[on]
    return got


def lp_reference(prefs: pd.DataFrame, cap: pd.Series) -> float:
    n_a, n_u = len(prefs), prefs["user"].nunique()
    a_eq = sp.hstack([sp.csr_matrix((np.ones(n_a), (prefs["user"], np.arange(n_a))),
                                    shape=(n_u, n_a)), sp.identity(n_u)])
    a_ub = sp.hstack([sp.csr_matrix((np.ones(n_a), (prefs["item"], np.arange(n_a))),
                                    shape=(len(cap), n_a)), sp.csr_matrix((len(cap), n_u))])
    c = np.r_[prefs["rank"].to_numpy(float), np.full(n_u, float(UNASSIGNED))]
    res = linprog(c, A_eq=a_eq, b_eq=np.ones(n_u), A_ub=a_ub, b_ub=cap.to_numpy(float),
                  bounds=(0, 1), method="highs")
    return res.fun


def bench_size(n_u: int, n_i: int, with_reference: bool) -> list[tuple]:
    prefs, cap = make_instance(n_u, n_i)
    # millisecond calls get more runs: their medians need them to settle
    repeats = {1_000: 21, 10_000: 11}.get(n_u, 3)
    flow = assign_preferences(prefs, cap)
    arrays = [prefs[c].to_numpy(np.int64) for c in ("user", "item", "rank")]
    arrays.append(cap.to_numpy(np.int64))
    # the same model must give the same assignment, user for user, before anything is timed
    bare = ortools_reference(*arrays)
    ours_items = flow.allocation["item"].reindex(np.arange(n_u)).fillna(-1).to_numpy(np.int64)
    assert (bare == ours_items).all(), "bare OR-Tools and fairalloc disagree"
    rows = []
    ref_cells = ["—", "—"]
    if with_reference:
        assert networkx_reference(prefs, cap) == flow.report.total_cost, "networkx disagrees"
        ref = measure(lambda: networkx_reference(prefs, cap), 1 if n_u > 1_000 else 5)
        ref_cells = [fmt_seconds(ref.median), None]
    if n_u <= 1_000:
        assert abs(lp_reference(prefs, cap) - flow.report.total_cost) < 1e-6, "LP disagrees"
        lp = measure(lambda: lp_reference(prefs, cap), 5)
    # timed calls interleaved with the bare OR-Tools reference's: their ratio is the target
    ours, bare_t = measure_together([lambda: assign_preferences(prefs, cap),
                                     lambda: ortools_reference(*arrays)], repeats)
    fair = measure(lambda: assign_preferences(prefs, cap, strategy="rank_maximal"), repeats)
    if with_reference:
        ref_cells[1] = f"{ref.median / ours.median:.0f}×"
    fair_cells = [fmt_seconds(fair.median), f"{fair.median / ours.median:.1f}×"]
    rows.append((f"{n_u:,} × {n_i:,}", len(prefs), fmt_seconds(ours.median),
                 fmt_seconds(bare_t.median), f"{ours.median / bare_t.median:.2f}×",
                 *fair_cells, *ref_cells,
                 fmt_seconds(lp.median) if n_u <= 1_000 else "—", repeats))
    print(f"  assignment {n_u:,} × {n_i:,}: min_cost_flow {fmt_seconds(ours.median)}, "
          f"bare OR-Tools {fmt_seconds(bare_t.median)}, rank_maximal {fair_cells[0]}",
          flush=True)
    return rows


def run(sizes=SIZES, repeats: int | None = None) -> str:
    rows = [row for n_u, n_i, ref in sizes for row in bench_size(n_u, n_i, ref)]
    headers = ("users × items", "preferences", "min_cost_flow (median)",
               "bare OR-Tools (median)", "min_cost_flow / bare OR-Tools",
               "rank_maximal (median)", "rank_maximal / min_cost_flow", "networkx min_cost_flow",
               "speed-up vs networkx", "scipy HiGHS LP", "runs")
    return markdown(headers, rows)
