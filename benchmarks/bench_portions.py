"""Apportionment end to end (a pandas Series of ratios → the portions Series).

References (benchmarks/reference_portions.py), timed from a numpy array: the heap-based
sequential procedure for the divisor methods, float largest remainders (numpy) for Hamilton,
the spec's rule as a loop over keys for priority. "same" says whether the reference's answer
equals fairalloc's exact one (float references may differ at near-ties).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmarks.harness import fmt_seconds, markdown, measure
from benchmarks.reference_portions import reference
from fairalloc.transforms.portions import METHODS, apportion

#: (keys, total)
SIZES = ((10_000, 100_000), (100_000, 1_000_000), (1_000_000, 10_000_000))
REPEATS = {10_000: 7, 100_000: 5, 1_000_000: 3}


def make_ratios(n: int, seed: int = 0) -> pd.Series:
    """Lognormal ratios (sizes spanning four orders of magnitude), 5 % of them 0, string keys."""
    rng = np.random.default_rng(seed)
    r = np.round(rng.lognormal(8, 1.5, n))
    r[rng.random(n) < 0.05] = 0.0
    return pd.Series(r, index=pd.Index([f"k{i:07d}" for i in range(n)], name="key"))


def bench_size(n: int, total: int, repeats: int) -> list[tuple]:
    ratios = make_ratios(n)
    r = ratios.to_numpy()
    rows = []
    for method in METHODS:
        ours = measure(lambda m=method: apportion(ratios, total, method=m), repeats)
        mine = apportion(ratios, total, method=method).to_numpy()
        ref_repeats = repeats if method == "hamilton" else 1 if n >= 1_000_000 else 3
        theirs = reference(r, total, method)
        ref = measure(lambda m=method: reference(r, total, m), ref_repeats)
        same = "yes" if np.array_equal(mine, theirs) else \
            f"no ({int(np.abs(mine - theirs).sum()) // 2} moved)"
        print(f"  {method} {n:,} keys: fairalloc {fmt_seconds(ours.median)}, "
              f"reference {fmt_seconds(ref.median)}", flush=True)
        rows.append((method, f"{n:,}", f"{total:,}", fmt_seconds(ours.median),
                     fmt_seconds(ref.median), f"{ref.median / ours.median:.1f}×", same,
                     f"{repeats} / {ref_repeats}"))
    return rows


def run(sizes=SIZES, repeats: int | None = None) -> str:
    rows = [row for n, total in sizes for row in bench_size(n, total, repeats or REPEATS[n])]
    headers = ("method", "keys", "total", "apportion (median)", "reference (median)",
               "speed-up", "same", "runs (ours / ref)")
    return markdown(headers, rows)
