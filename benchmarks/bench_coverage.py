"""Fair coverage end to end (tables in → result tables out), and the fairness audit.

References (benchmarks/reference_coverage.py), each timed from integer-coded arrays: the same
model written directly in cvxpy and solved with Clarabel (modelling + solve), and the quadratic
cone program built in CSC form and handed to Clarabel's own API (building + solve). Every timed
reference run must reach fairalloc's objective (1e-6 relative) for the row to be reported.
fairalloc is timed from pandas tables with string keys, including coercion and the result
tables. The references take tens of seconds at the largest size, so they run fewer times
(the runs column: fairalloc / each reference); the 1-minute load average is recorded per row.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from benchmarks.harness import fmt_seconds, markdown, measure
from benchmarks.reference_coverage import clarabel_objective, reference_objective
from fairalloc.transforms.coverage import allocate_coverage, audit_fairness

#: (groups, resources)
SIZES = ((1_270, 4), (20_000, 20), (100_000, 50))
REPEATS = {1_270: 21, 20_000: 5, 100_000: 7}
#: reference runs per size (each checked against fairalloc's objective)
REF_REPEATS = {1_270: 5, 20_000: 3, 100_000: 3}


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


def _checked(reference, arrays, objective: float, gaps: list[float]):
    """A timed call of ``reference`` that also checks its objective against fairalloc's."""
    def call() -> None:
        value = reference(*arrays)
        gap = (objective - value) / abs(value)
        assert abs(gap) <= 1e-6, f"objectives differ ({reference.__name__}: {gap:.1e})"
        gaps.append(gap)
    return call


def _cvxpy_objective(n, f, w, b, arc_g, arc_k) -> float:
    return reference_objective(n, f, w, b, arc_g, arc_k, "quadratic")


def bench_size(n_g: int, n_k: int, repeats: int, ref_repeats: int) -> tuple:
    tables, arrays = make_instance(n_g, n_k)
    res = allocate_coverage(*tables)
    groups, elig, _ = tables
    load = os.getloadavg()[0]
    # fairalloc first: the references' solver leaves worker threads that compete for a while
    ours = measure(lambda: allocate_coverage(*tables), repeats)
    audit = measure(lambda: audit_fairness(groups, res.allocation, elig), min(repeats, 5))
    assert audit_fairness(groups, res.allocation, elig).empty, "our optimum fails the audit"
    gaps: list[float] = []
    cvx = measure(_checked(_cvxpy_objective, arrays, res.objective, gaps), ref_repeats)
    direct = measure(_checked(clarabel_objective, arrays, res.objective, gaps), ref_repeats)
    load = max(load, os.getloadavg()[0])
    print(f"  coverage {n_g:,} × {n_k}: fairalloc {fmt_seconds(ours.median)}, "
          f"cvxpy+Clarabel {fmt_seconds(cvx.median)}, Clarabel {fmt_seconds(direct.median)} "
          f"(load {load:.1f})", flush=True)
    worst = max(gaps, key=abs)
    return (f"{n_g:,} × {n_k}", len(elig), res.report.rounds, fmt_seconds(ours.median),
            f"{ours.median_faults:,.0f}", fmt_seconds(cvx.median),
            f"{cvx.median / ours.median:.0f}×",
            fmt_seconds(direct.median), f"{direct.median / ours.median:.0f}×",
            f"{worst:.1e}", fmt_seconds(audit.median), f"{repeats} / {ref_repeats}",
            f"{load:.1f}")


def run(sizes=SIZES, repeats: int | None = None) -> str:
    rows = [bench_size(n_g, n_k, repeats or REPEATS[n_g], REF_REPEATS[n_g] if repeats is None
                       else min(repeats, REF_REPEATS[n_g])) for n_g, n_k in sizes]
    headers = ("groups × resources", "eligible pairs", "rounds", "allocate_coverage (median)",
               "page faults per call", "cvxpy + Clarabel (median)", "speed-up vs cvxpy + Clarabel",
               "Clarabel direct (median)", "speed-up vs Clarabel direct",
               "objective vs references (worst, relative)", "audit_fairness (median)",
               "runs (ours / references)", "load (1 min)")
    return markdown(headers, rows)
