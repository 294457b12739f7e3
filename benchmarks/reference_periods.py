"""The two-step entitlement allocation (SPEC §2) written the straightforward way.

PuLP with its bundled CBC; one variable per account, one equality constraint per pair of
identical accounts found by comparing every pair, and loops over accounts and periods. It is
the benchmark's reference and, on small inputs, the tests' independent check. It shares no code
with fairalloc.
"""

from __future__ import annotations

import pulp


def _identical(a, b, tol=1e-6):
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


def reference_allocate(cur, requests, capacities, weights=None, two_step=True,
                       convergence_threshold=0.01, demand_gap_threshold=0.1, max_iterations=10):
    """Returns (allocation as list of lists, step1 weighted total, step2 weighted total)."""
    n, t_count = len(cur), len(capacities)
    if weights is None:
        demand = [sum(requests[i][t] for i in range(n)) for t in range(t_count)]
        weights = [d / min(demand) for d in demand]
    total_cur = sum(cur)
    share = [c / total_cur if total_cur > 0 else 1 / n for c in cur]
    wx = sum(weights[t] * capacities[t] for t in range(t_count))
    big_w = [sum(weights[t] * requests[i][t] for t in range(t_count)) for i in range(n)]
    u = [min(1.0, share[i] * wx / big_w[i]) if big_w[i] > 0 else 0.0 for i in range(n)]

    prob = pulp.LpProblem("step1", pulp.LpMaximize)
    lam = [pulp.LpVariable(f"lam_{i}", 0, u[i]) for i in range(n)]
    prob += pulp.lpSum(big_w[i] * lam[i] for i in range(n))
    for t in range(t_count):
        prob += pulp.lpSum(requests[i][t] * lam[i] for i in range(n)) <= capacities[t]
    for i in range(n):
        for j in range(i + 1, n):
            if abs(cur[i] - cur[j]) <= 1e-6 and _identical(requests[i], requests[j]):
                prob += lam[i] == lam[j]
    prob.solve(pulp.PULP_CBC_CMD(msg=0))
    alloc = [[(lam[i].value() or 0.0) * requests[i][t] for t in range(t_count)]
             for i in range(n)]
    step1 = sum(weights[t] * alloc[i][t] for i in range(n) for t in range(t_count))
    step2 = 0.0
    for it in range(max_iterations if two_step else 0):
        used = [sum(alloc[i][t] for i in range(n)) for t in range(t_count)]
        rem = [capacities[t] - used[t] for t in range(t_count)]
        periods = [t for t in range(t_count) if rem[t] > convergence_threshold * capacities[t]]
        if not periods:
            break
        unmet = [i for i in range(n)
                 if any(requests[i][t] - alloc[i][t] > demand_gap_threshold for t in periods)]
        if not unmet:
            break
        prob = pulp.LpProblem(f"step2_{it}", pulp.LpMaximize)
        b = {(i, t): pulp.LpVariable(f"b_{i}_{t}", 0, max(requests[i][t] - alloc[i][t], 0))
             for i in range(n) for t in periods}
        prob += pulp.lpSum(weights[t] * b[i, t] for i in range(n) for t in periods)
        for t in periods:
            prob += pulp.lpSum(b[i, t] for i in range(n)) <= rem[t]
        if len(unmet) >= 2:
            pool = sum(weights[t] * rem[t] for t in periods)
            s_d = sum(share[i] for i in unmet)
            for i in unmet:  # equal shares when no unmet account holds currency
                own = share[i] / s_d if s_d > 0 else 1 / len(unmet)
                prob += pulp.lpSum(weights[t] * b[i, t] for t in periods) <= own * pool
        for i in unmet:
            for j in unmet:
                if j > i and abs(cur[i] - cur[j]) <= 1e-6 and _identical(
                        requests[i], requests[j]) and _identical(alloc[i], alloc[j]):
                    for t in periods:
                        prob += b[i, t] == b[j, t]
        prob.solve(pulp.PULP_CBC_CMD(msg=0))
        gain = 0.0
        for (i, t), var in b.items():
            v = var.value() or 0.0
            alloc[i][t] += v
            gain += weights[t] * v
        step2 += gain
        if gain < 1e-6:
            break
    return alloc, step1, step2
