"""The fair-coverage model written directly in cvxpy (solved with Clarabel), and the quadratic
model handed straight to Clarabel's own API: references that share no code with fairalloc's
solver. Used by the tests and by ``benchmarks/``."""

from __future__ import annotations

import numpy as np

# OR-Tools and cvxpy's highspy dependency each bring a HiGHS build; whichever loads first wins
# the shared symbols. Load OR-Tools first so fairalloc's solvers keep working (cvxpy then only
# loses its optional HiGHS back end; Clarabel is unaffected).
from ortools.graph.python import max_flow  # noqa: F401  isort: skip
import clarabel  # noqa: E402  isort: skip
import cvxpy as cp  # noqa: E402  isort: skip
import scipy.sparse as sp  # noqa: E402  isort: skip


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


def clarabel_objective(n, f, w, b, arc_g, arc_k) -> float:
    """Optimal Σ w n (1 − y)² for integer-coded inputs, the cone program built from the arrays
    in CSC form and solved by Clarabel's own API (no modelling layer).

    Variables are the arc amounts x. With s = G x the groups' totals and g = 1 − f, the
    objective Σ w n (g − s / n)² is ½ xᵀ P x + qᵀ x + Σ w n g², where P = 2 Gᵀ diag(w / n) G
    (upper triangle) and q = −2 w g per arc's group; the constraints K x ≤ b (supplies),
    G x ≤ n g (coverage ≤ 1) and −x ≤ 0 are one non-negative cone. (This form solved faster
    than cvxpy's, with an extra total variable per group, on the benchmark's instances.)
    """
    n, f, w, b = (np.asarray(a, float) for a in (n, f, w, b))
    arc_g, arc_k = np.asarray(arc_g), np.asarray(arc_k)
    n_g, n_k, m = len(n), len(b), len(arc_g)
    gap = 1.0 - f
    to_group = _incidence(arc_g, n_g)
    P = sp.triu(to_group.T @ sp.diags(2.0 * w / n) @ to_group, format="csc")
    q = (-2.0 * w * gap)[arc_g]
    # each column (arc j) has three rows, already in order: its resource, its group, x_j ≥ 0
    A = sp.csc_matrix((np.tile([1.0, 1.0, -1.0], m),
                       np.column_stack([arc_k, n_k + arc_g, n_k + n_g + np.arange(m)]).ravel(),
                       np.arange(0, 3 * m + 1, 3)), shape=(n_k + n_g + m, m))
    rhs = np.concatenate([b, n * gap, np.zeros(m)])
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    solution = clarabel.DefaultSolver(P, q, A, rhs, [clarabel.NonnegativeConeT(len(rhs))],
                                      settings).solve()
    assert str(solution.status) == "Solved", solution.status
    return float(solution.obj_val + (w * n * gap**2).sum())


def _incidence(rows, n_rows):
    m = len(rows)
    return sp.csr_matrix((np.ones(m), (np.asarray(rows), np.arange(m))), shape=(n_rows, m))
