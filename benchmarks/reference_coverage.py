"""The fair-coverage model written directly in cvxpy (solved with Clarabel): a reference that
shares no code with fairalloc's solver. Used by the tests and by ``benchmarks/``."""

from __future__ import annotations

import numpy as np

# OR-Tools and cvxpy's highspy dependency each bring a HiGHS build; whichever loads first wins
# the shared symbols. Load OR-Tools first so fairalloc's solvers keep working (cvxpy then only
# loses its optional HiGHS back end; Clarabel is unaffected).
from ortools.graph.python import max_flow  # noqa: F401  isort: skip
import cvxpy as cp  # noqa: E402  isort: skip


def reference_objective(n, f, w, b, arc_g, arc_k, loss) -> float:
    """Optimal Σ w n F(y) for integer-coded inputs; ``loss`` as for ``allocate_coverage``."""
    return reference_solve(n, f, w, b, arc_g, arc_k, loss)[0]


def reference_solve(n, f, w, b, arc_g, arc_k, loss) -> tuple[float, np.ndarray]:
    """(optimal objective, x per arc), modelled and solved from scratch."""
    n, f, w, b = (np.asarray(a, float) for a in (n, f, w, b))
    x = cp.Variable(len(arc_g), nonneg=True)
    to_group = _incidence(arc_g, len(n))
    to_resource = _incidence(arc_k, len(b))
    y = f + cp.multiply(1.0 / n, to_group @ x)
    coef = w * n
    if loss == "quadratic":
        obj = coef @ cp.square(1 - y)
    elif loss == "exp":
        obj = coef @ cp.exp(-y)
    elif loss[0] == "power":
        obj = coef @ cp.power(1 - y, loss[1])
    else:
        obj = coef @ -cp.log(y + loss[1])
    cons = [to_resource @ x <= b, y <= 1]
    prob = cp.Problem(cp.Minimize(obj), cons)
    prob.solve(solver=cp.CLARABEL)
    # the exponential cone (log and exp losses) sometimes ends "inaccurate" at ~1e-8
    assert prob.status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE), prob.status
    return float(prob.value), x.value


def _incidence(rows, n_rows):
    import scipy.sparse as sp

    m = len(rows)
    return sp.csr_matrix((np.ones(m), (np.asarray(rows), np.arange(m))), shape=(n_rows, m))
