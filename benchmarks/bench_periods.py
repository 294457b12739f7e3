"""Multi-period entitlement allocation end to end (tidy tables in → result tables out).

Three tables, each row measured against its reference in the same run (medians):

* the benchmark's friendly instance (desk-shaped: few account classes) and the many-class
  instance of issue 16 (random integer requests 0–19 per period, about as many classes as
  accounts), two-step, against the step-1 LP alone solved by scipy's HiGHS directly from numpy
  arrays (one variable per account, interior point: the faster HiGHS method at this size;
  stopped after ``HIGHS_LIMIT`` seconds, which the many-class 10^6 × 4 LP exceeds), and every
  row's step-1 optimum checked by the dual bound of fairalloc's period prices (weak duality:
  a gap of 1e-9 proves it to 1e-9) as well as against HiGHS's where HiGHS finished;
  at the two smallest friendly sizes also against the PuLP/CBC two-step reference;
* step 1 alone on the 5 000 × 4 many-class instance through ``allocate_resource`` against a
  straightforward PuLP/CBC model (benchmarks/reference_periods.py);
* the list-based ``allocate_resource`` against ``allocate_periods`` on the same data (their
  calls interleaved).
"""

from __future__ import annotations

import os
import statistics
import time

import numpy as np
import pandas as pd
from scipy.optimize import linprog

from benchmarks.harness import fmt_seconds, markdown, measure, measure_together
from benchmarks.reference_periods import reference_allocate
from fairalloc.solvers.periods import default_weights, entitlements
from fairalloc.transforms.periods import allocate_periods, allocate_resource

#: (instance, accounts, periods, PuLP/CBC reference too)
SIZES = (("friendly", 1_000, 4, True), ("friendly", 5_000, 4, True),
         ("many-class", 5_000, 4, False), ("friendly", 100_000, 52, False),
         ("many-class", 100_000, 52, False), ("friendly", 1_000_000, 4, False),
         ("many-class", 1_000_000, 4, False))
REPEATS = {1_000: 5, 5_000: 5, 100_000: 5, 1_000_000: 5}
#: Target seconds of the two-step end-to-end run (issue 16).
TARGETS = {(100_000, 52): 1.5, (1_000_000, 4): 2.0}
#: Drop-in comparison sizes (instance, accounts, periods).
DROP_IN = (("many-class", 5_000, 4), ("many-class", 100_000, 4))


def _tables(requests: np.ndarray, currency: np.ndarray, capacity: np.ndarray):
    n, t = requests.shape
    accounts = np.array([f"acct{i:07d}" for i in range(n)], dtype=object)
    tidy = pd.DataFrame({"account": np.repeat(accounts, t),
                         "period": np.tile(np.arange(1, t + 1), n), "request": requests.ravel()})
    return (tidy, pd.Series(currency, index=pd.Index(accounts, name="account")),
            pd.Series(capacity, index=pd.Index(np.arange(1, t + 1), name="period")), requests)


def make_instance(n: int, t: int, seed: int = 0):
    """Desk-shaped data: integer requests, a third of them 0, capacity 60 % of demand."""
    rng = np.random.default_rng(seed)
    requests = rng.integers(1, 6, (n, t)).astype(float) * (rng.random((n, t)) < 0.67)
    currency = rng.integers(1, 20, n).astype(float)
    return _tables(requests, currency, np.floor(requests.sum(axis=0) * 0.6))


def make_many_class(n: int, t: int, seed: int = 0):
    """Issue 16's instance: random integer requests 0–19 per period (plus 1 in period 1),
    currency 1–5, capacities 20–60 % of each period's demand."""
    rng = np.random.default_rng(seed)
    requests = rng.integers(0, 20, (n, t)).astype(float)
    requests[:, 0] += 1
    currency = rng.integers(1, 6, n).astype(float)
    return _tables(requests, currency,
                   np.floor(requests.sum(axis=0) * rng.uniform(0.2, 0.6, t)))


MAKERS = {"friendly": make_instance, "many-class": make_many_class}


#: Seconds HiGHS may take on the step-1 LP of one size (many-class 10^6 x 4 takes it far
#: beyond: the run then reports "> limit" and the optimum is checked by its dual certificate).
HIGHS_LIMIT = 120.0


def highs_step1(requests: np.ndarray, currency: np.ndarray, capacity: np.ndarray,
                time_limit: float = HIGHS_LIMIT) -> float | None:
    """The step-1 LP, one variable per account, solved by scipy's HiGHS (interior point):
    its optimum, or None when HiGHS stopped at ``time_limit`` seconds."""
    w = default_weights(requests)
    _, big_w, u = entitlements(requests, currency, capacity, w)
    res = linprog(-big_w, A_ub=requests.T, b_ub=capacity,
                  bounds=np.column_stack([np.zeros_like(u), u]), method="highs-ipm",
                  options={"time_limit": time_limit})
    if res.status == 1:  # the time limit
        return None
    assert res.status == 0, res.message
    return -res.fun


def dual_gap(requests: np.ndarray, currency: np.ndarray, capacity: np.ndarray,
             res) -> float:
    """Relative gap between fairalloc's step-1 optimum and the dual bound its period prices
    give: g(μ) = X·μ + Σ_i u_i max(0, W_i − r_i·μ) ≥ every feasible Σ W λ (weak duality),
    so a gap of 1e-9 proves the optimum to 1e-9 without another solver."""
    w = default_weights(requests)
    _, big_w, u = entitlements(requests, currency, capacity, w)
    mu = res.periods["price"].to_numpy()
    bound = float(capacity @ mu + u @ np.maximum(big_w - requests @ mu, 0.0))
    return (bound - res.step1_allocated) / res.step1_allocated


def bench_size(kind: str, n: int, t: int, with_pulp: bool, repeats: int) -> tuple:
    tidy, cur, cap, dense = MAKERS[kind](n, t)
    res = allocate_periods(tidy, cur, cap)
    ours = measure(lambda: allocate_periods(tidy, cur, cap), repeats, memory=True)
    ref_runs = 1 if n >= 100_000 else repeats
    gap = dual_gap(dense, cur.to_numpy(), cap.to_numpy(), res)
    assert gap <= 1e-9, f"step-1 dual certificate off by {gap:.1e}"
    start = time.perf_counter()
    optimum = highs_step1(dense, cur.to_numpy(), cap.to_numpy())
    first = time.perf_counter() - start
    if optimum is None:  # HiGHS did not finish: the dual certificate above is the check
        highs_time = f"> {HIGHS_LIMIT:.0f} s (stopped)"
        ratio = f"> {HIGHS_LIMIT / ours.median:.0f}×"
        ref_runs = 1
    else:
        assert abs(optimum - res.step1_allocated) <= 1e-9 * optimum, "step-1 optima differ"
        highs = measure(lambda: highs_step1(dense, cur.to_numpy(), cap.to_numpy()),
                        ref_runs - 1) if ref_runs > 1 else None
        median = statistics.median([first, *(highs.times if highs else ())])
        highs_time, ratio = fmt_seconds(median), f"{median / ours.median:.1f}×"
    target = TARGETS.get((n, t))
    row = [kind, f"{n:,} × {t}", fmt_seconds(ours.median), f"{ours.peak_mb:,.0f} MB",
           f"{ours.median_faults:,.0f}", res.report.classes, res.iterations, highs_time, ratio,
           f"{gap:.0e}",
           f"≤ {target} s: {'met' if ours.median <= target else 'missed'}" if target else "—"]
    if with_pulp:
        args = (cur.tolist(), dense.tolist(), cap.tolist())
        _, s1, _ = reference_allocate(*args)
        assert abs(s1 - res.step1_allocated) <= 1e-6 * max(s1, 1), "step-1 optima differ"
        pulp = measure(lambda: reference_allocate(*args), 1 if n > 1_000 else repeats)
        row += [fmt_seconds(pulp.median), f"{pulp.median / ours.median:.0f}×"]
    else:
        row += ["—", "—"]
    print(f"  periods {kind} {n:,} × {t}: ours {fmt_seconds(ours.median)} "
          f"({', '.join(fmt_seconds(x) for x in ours.times)}; "
          f"{ours.median_faults:,.0f} page faults per call), HiGHS step 1 {highs_time}, "
          f"load {os.getloadavg()[0]:.1f}", flush=True)
    return tuple(row) + (f"{repeats} / {ref_runs}",)


def bench_step1_vs_pulp(repeats: int = 7) -> tuple:
    """Step 1 alone at 5 000 × 4 (many classes), list interface, against PuLP/CBC."""
    _, cur, cap, dense = make_many_class(5_000, 4)
    ids = list(cur.index)
    args = (cur.tolist(), dense.tolist(), cap.tolist())
    res = allocate_resource(ids, *args, two_step=False)
    _, s1, _ = reference_allocate(*args, two_step=False)
    assert abs(s1 - res.step1_allocated) <= 1e-6 * max(s1, 1), "step-1 optima differ"
    ours = measure(lambda: allocate_resource(ids, *args, two_step=False), repeats)
    pulp = measure(lambda: reference_allocate(*args, two_step=False), 3)
    ratio = pulp.median / ours.median
    print(f"  periods step 1, 5,000 × 4: ours {fmt_seconds(ours.median)}, "
          f"PuLP {fmt_seconds(pulp.median)}", flush=True)
    return ("many-class", "5,000 × 4", "step 1 only", fmt_seconds(ours.median),
            fmt_seconds(pulp.median), f"{ratio:.0f}×",
            f"≥ 50×: {'met' if ratio >= 50 else 'missed'}", f"{repeats} / 3")


def bench_drop_in(kind: str, n: int, t: int, repeats: int = 9) -> tuple:
    """allocate_resource (lists) against allocate_periods (tidy tables) on the same data."""
    tidy, cur, cap, dense = MAKERS[kind](n, t)
    ids, cur_l, req_l, cap_l = list(cur.index), cur.tolist(), dense.tolist(), cap.tolist()
    a = allocate_resource(ids, cur_l, req_l, cap_l)
    b = allocate_periods(tidy, cur, cap)
    assert a.step1_allocated == b.step1_allocated, "the two interfaces differ"
    # interleaved: a busy spell of the shared machine slows both alike
    lists, tables = measure_together([lambda: allocate_resource(ids, cur_l, req_l, cap_l),
                                      lambda: allocate_periods(tidy, cur, cap)], repeats)
    ratio = lists.median / tables.median
    print(f"  periods drop-in {n:,} × {t}: {ratio:.2f}×", flush=True)
    return (kind, f"{n:,} × {t}", fmt_seconds(lists.median), fmt_seconds(tables.median),
            f"{ratio:.2f}×", f"≤ 1.2×: {'met' if ratio <= 1.2 else 'missed'}", repeats)


def run(sizes=SIZES, repeats: int | None = None) -> str:
    rows = [bench_size(kind, n, t, pulp, repeats or REPEATS.get(n, 3))
            for kind, n, t, pulp in sizes]
    headers = ("instance", "accounts × periods", "fairalloc two-step (median)",
               "fairalloc peak", "page faults per call", "LP classes", "step-2 iterations",
               "HiGHS step-1 LP alone (median)", "speed-up vs HiGHS",
               "step-1 dual gap", "target",
               "PuLP + CBC two-step", "speed-up vs PuLP", "runs (ours / reference)")
    out = [markdown(headers, rows)]
    quick = repeats is not None and len(sizes) == 1
    out.append(markdown(("instance", "accounts × periods", "steps", "allocate_resource (median)",
                         "PuLP + CBC (median)", "speed-up", "target", "runs"),
                        [bench_step1_vs_pulp(repeats or 7)]))
    drop = DROP_IN[:1] if quick else DROP_IN
    out.append(markdown(("instance", "accounts × periods", "allocate_resource (lists)",
                         "allocate_periods (tables)", "lists / tables", "target", "runs"),
                        [bench_drop_in(k, n, t, repeats or 9) for k, n, t in drop]))
    return "\n\n".join(out)
