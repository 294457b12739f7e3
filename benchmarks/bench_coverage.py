"""Fair coverage end to end (tables in → result tables out), and the fairness audit.

Reference: the same model written directly in cvxpy and solved with Clarabel
(benchmarks/reference_coverage.py), timed from integer-coded arrays (modelling + solve); both
must reach the same objective (1e-6 relative) for the row to be reported. fairalloc is timed
from pandas tables with string keys, including coercion and the result tables.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmarks.harness import fmt_seconds, markdown, measure
from benchmarks.reference_coverage import reference_objective
from fairalloc.transforms.coverage import allocate_coverage, audit_fairness

#: (groups, resources)
SIZES = ((1_270, 4), (20_000, 20), (100_000, 50))
REPEATS = {1_270: 11, 20_000: 5, 100_000: 3}


def make_instance(n_g: int, n_k: int, seed: int = 0):
    """Populations of varied size, priors up to 0.5, five weight classes, 1–4 eligible
    resources per group, supplies of very different sizes totalling 40 % of the need."""
    rng = np.random.default_rng(seed)
    n = np.round(rng.lognormal(7, 1, n_g)) + 1
    f = rng.uniform(0, 0.5, n_g)
    w = rng.choice([1.0, 1.5, 2.0, 3.0, 5.0], n_g)
    k = rng.integers(1, min(4, n_k) + 1, n_g)
    # 1–4 distinct resources per group: the first k of a random permutation-like draw
    keys = rng.random((n_g, n_k))
    picks = np.argsort(keys, axis=1)
    take = np.arange(n_k)[None, :] < k[:, None]
    arc_g = np.repeat(np.arange(n_g), n_k)[take.ravel()]
    arc_k = picks[take]
    b = rng.lognormal(0, 1.0, n_k)
    b = b / b.sum() * float((n * (1 - f)).sum()) * 0.4
    names_g = np.array([f"g{i:06d}" for i in range(n_g)], dtype=object)
    names_k = np.array([f"r{i:02d}" for i in range(n_k)], dtype=object)
    groups = pd.DataFrame({"group": names_g, "population": n, "prior": f, "weight": w})
    elig = pd.DataFrame({"group": names_g[arc_g], "resource": names_k[arc_k]})
    supply = pd.Series(b, index=pd.Index(names_k, name="resource"))
    return (groups, elig, supply), (n, f, w, b, arc_g, arc_k)


def bench_size(n_g: int, n_k: int, repeats: int) -> tuple:
    tables, arrays = make_instance(n_g, n_k)
    res = allocate_coverage(*tables)
    groups, elig, _ = tables
    # fairalloc first: the reference's solver leaves worker threads that compete for a while
    ours = measure(lambda: allocate_coverage(*tables), repeats)
    audit = measure(lambda: audit_fairness(groups, res.allocation, elig), min(repeats, 5))
    ref_obj = reference_objective(*arrays, "quadratic")
    assert abs(res.objective - ref_obj) <= 1e-6 * abs(ref_obj), "objectives differ"
    ref = measure(lambda: reference_objective(*arrays, "quadratic"), min(repeats, 3))
    assert audit_fairness(groups, res.allocation, elig).empty, "our optimum fails the audit"
    print(f"  coverage {n_g:,} × {n_k}: fairalloc {fmt_seconds(ours.median)}, "
          f"cvxpy+Clarabel {fmt_seconds(ref.median)}", flush=True)
    return (f"{n_g:,} × {n_k}", len(elig), res.report.rounds, fmt_seconds(ours.median),
            fmt_seconds(ref.median), f"{ref.median / ours.median:.0f}×",
            f"{(res.objective - ref_obj) / abs(ref_obj):.1e}", fmt_seconds(audit.median),
            repeats)


def run(sizes=SIZES, repeats: int | None = None) -> str:
    rows = [bench_size(n_g, n_k, repeats or REPEATS[n_g]) for n_g, n_k in sizes]
    headers = ("groups × resources", "eligible pairs", "rounds", "allocate_coverage (median)",
               "cvxpy + Clarabel (median)", "speed-up", "objective vs reference (relative)",
               "audit_fairness (median)", "runs")
    return markdown(headers, rows)
