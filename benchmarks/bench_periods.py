"""Multi-period entitlement allocation end to end (tidy tables in → result tables out).

Reference: the same two-step algorithm written the straightforward way with PuLP and its bundled
CBC (benchmarks/reference_periods.py): one variable per account, one constraint per identical
pair found by comparing every pair, loops over accounts and periods. The large sizes are timed
for fairalloc alone.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmarks.harness import fmt_seconds, markdown, measure
from benchmarks.reference_periods import reference_allocate
from fairalloc.transforms.periods import allocate_periods

#: (accounts, periods, compare with the reference, two-step)
SIZES = ((1_000, 4, True, True), (5_000, 4, True, True), (100_000, 52, False, True),
         (1_000_000, 4, False, True))
REPEATS = {1_000: 3, 5_000: 3, 100_000: 3, 1_000_000: 3}


def make_instance(n: int, t: int, seed: int = 0):
    """Desk-shaped data: integer requests, a third of them 0, capacity 60 % of demand."""
    rng = np.random.default_rng(seed)
    requests = rng.integers(1, 6, (n, t)).astype(float) * (rng.random((n, t)) < 0.67)
    currency = rng.integers(1, 20, n).astype(float)
    capacity = np.floor(requests.sum(axis=0) * 0.6)
    accounts = np.array([f"acct{i:07d}" for i in range(n)], dtype=object)
    tidy = pd.DataFrame({"account": np.repeat(accounts, t),
                         "period": np.tile(np.arange(1, t + 1), n), "request": requests.ravel()})
    return tidy, pd.Series(currency, index=pd.Index(accounts, name="account")), \
        pd.Series(capacity, index=pd.Index(np.arange(1, t + 1), name="period")), requests


def bench_size(n: int, t: int, with_reference: bool, two_step: bool, repeats: int) -> tuple:
    tidy, cur, cap, dense = make_instance(n, t)
    res = allocate_periods(tidy, cur, cap, two_step=two_step)
    args = (cur.tolist(), dense.tolist(), cap.tolist())
    if with_reference:  # both reach the same step-1 optimum before anything is timed
        _, s1, _ = reference_allocate(*args)
        assert abs(s1 - res.step1_allocated) <= 1e-6 * max(s1, 1), "step-1 optima differ"
    ours = measure(lambda: allocate_periods(tidy, cur, cap, two_step=two_step), repeats,
                   memory=True)
    row = [f"{n:,} × {t}", "two-step" if two_step else "step 1 only",
           fmt_seconds(ours.median), f"{ours.peak_mb:,.0f} MB", res.report.classes,
           res.iterations]
    if with_reference:
        ref = measure(lambda: reference_allocate(*args), 1 if n > 1_000 else repeats)
        row += [fmt_seconds(ref.median), f"{ref.median / ours.median:.0f}×"]
    else:
        row += ["—", "—"]
    print(f"  periods {n:,} × {t}: ours {fmt_seconds(ours.median)}", flush=True)
    return tuple(row) + (repeats,)


def run(sizes=SIZES, repeats: int | None = None) -> str:
    rows = [bench_size(n, t, ref, two, repeats or REPEATS.get(n, 3))
            for n, t, ref, two in sizes]
    headers = ("accounts × periods", "steps", "fairalloc (median)", "fairalloc peak", "LP classes",
               "step-2 iterations", "PuLP + CBC reference", "speed-up", "runs")
    return markdown(headers, rows)
