"""Multi-period allocation with entitlements (SPEC §2), on dense numpy arrays.

Accounts are rows of ``requests`` (N × T), periods its columns. Identical accounts are grouped
into classes (one LP variable per class, with its multiplicity), so identical accounts get
identical allocations by construction and the LPs shrink when many accounts look alike.

Both steps are linear programs solved with the HiGHS that ships inside scipy
(``scipy.optimize.linprog``); constraint matrices are sparse and built with numpy.

Step 1 at scale. HiGHS slows down far more than linearly on the step-1 LP beyond about 10^4
classes (T dense rows, every column boxed), yet the optimum is decided by T numbers: at a
vertex at most T classes lie strictly between their bounds and every other sits at the bound
picked by the sign of its reduced cost under the T period prices. Beyond :data:`SIFT_MIN`
classes fairalloc therefore finds prices close to the optimal ones from the smoothed dual
(Newton steps on T variables), then sifts: HiGHS solves the LP over the ~10^3 classes nearest
to reduced cost 0 with every other class fixed at its bound, every class is priced with the
LP's duals, and wrongly fixed ones join the LP until none is left — at which point the answer
meets the optimality conditions of the whole LP (:func:`_step1_lp`).

Scaling. HiGHS works to absolute tolerances (about 1e-7) and refuses matrix values of 1e15
and more, so every LP is scaled per component before it is solved: each column by the largest
value its variable can take on its own (the allocation a class could receive if it were alone),
each capacity row by its own capacity and each entitlement row by its own budget. Matrix
values, right-hand sides and costs then lie in [0, 1] whatever the magnitudes of the input, and
a period of capacity 0.5 is held to 0.5 next to a period of 10^12. Upper bounds whose ratio to
that scale exceeds :data:`BIG_BOUND` are passed as infinite (the capacity rows bound those
variables already).

Verification. Every answer is checked before it is used (:func:`verify_step1`,
:func:`verify_round`, :func:`verify_allocation`): per period Σ_i a_it ≤ X_t, 0 ≤ λ_i ≤ u_i and
a_it ≤ r_it after step 1; per round Σ_i b_it ≤ R_t, a + b ≤ r and the entitlement rows; and the
final allocation against capacities and requests, each to :data:`fairalloc.solvers.verify.RTOL` of
its own limit. A breach beyond that is repaired by shrinking (λ of the accounts in the offending
periods for step 1, the round's extra allocation for step 2) and the solution's status becomes
``"repaired"``; what cannot be repaired raises :class:`~fairalloc.solvers.verify.SolverFailure`
naming the periods or accounts.

Choice among several optima (step 1). The step-1 LP is often degenerate: when every account's
weighted request is priced exactly by the period prices (e.g. one period, or every period's
capacity binding), many λ are optimal. fairalloc then solves a second LP: among the optimal
solutions it maximises the smallest fulfilment relative to the cap, λ_i / u_i, over the
accounts whose reduced cost is zero (the only ones the optimum leaves free); beyond
:data:`TIE_SIFT_MIN` free classes that LP is solved by sifting, almost every free class tied
to the smallest fulfilment (:func:`_tie_break_sifted`). Remaining ties are resolved by HiGHS
on the canonically ordered problem (classes in the order of a 64-bit hash of their rounded
currency and requests; beyond :data:`TIE_SIFT_MIN`, on the working set the sifting settles
on), so the result is deterministic and independent of input order. (A class that could
not reach more than 10^-9 of its cap u on its own enters that measure with u capped at 10^9
times its reach, to keep the LP representable.)

Step 2 is a bipartite max-flow in weighted units (accounts → periods): solved by default on
exactly scaled integer capacities (strategy ``"max_flow"``), or as an LP with HiGHS (``"lp"``,
exact but slow at scale). The ``"max_flow"`` strategy starts from a proportional fit and
follows residual paths among the periods (:func:`fairalloc.solvers.transport.max_flow`: few
periods, many classes), and hands the network to OR-Tools' general max-flow when those paths
run past their work budget; either way the flow is a maximum one, chosen deterministically on
the canonically ordered problem (the fit and the paths take the classes in that order). A
``"max_flow"`` round in which no class links two periods (one leftover period, or no class
with an entitlement row) is filled in closed form instead:
each period gives every class the same fraction of the most it could take there (its unmet
request, within its entitlement row and the period's remaining capacity), the fraction that
fills the period or 1 (:func:`_fill_periods`). The rounds work on the account classes: every
account of a class gets the class's amount, at most the smallest unmet request among them
(:class:`_Leftover`). When every account with unmet demand holds zero currency, the step-2
entitlement rows use equal shares among them (as step 1 does when all currency is zero).

Limits. Amounts (requests, capacities, currency, weights) up to :data:`MAX_AMOUNT` are solved
at any spread; the transforms refuse larger ones up front. Quantities that underflow float64
(below about 1e-300, e.g. the share of a 1e-200 capacity that a 1e100 request could take) are
treated as 0: such an account gets nothing there, never more than a limit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from ortools.graph.python import max_flow
from scipy.optimize import linprog
from scipy.sparse.csgraph import connected_components

from fairalloc.solvers import transport
from fairalloc.solvers.blocks import cols_dot, fresh, row_blocks, rows_dot, settle_malloc
from fairalloc.solvers.registry import Registry
from fairalloc.solvers.verify import SolverFailure, Status, check, over, shrink_to

log = logging.getLogger(__name__)

CAPABILITY = "periods"
#: Accounts whose currency and requests agree after rounding to this many decimals' grid
#: (10 ** -6) are identical.
IDENTICAL_TOL = 1e-6
#: Step 2 stops when an iteration's weighted gain is below this.
MIN_GAIN = 1e-6
#: Largest amount (request, capacity, currency, weight) the solver takes: products of two
#: amounts stay far inside float64's range. The transforms refuse larger ones.
MAX_AMOUNT = 1e100
#: Scaled upper bounds above this go to HiGHS as infinite (it treats 1e20 and more so anyway).
BIG_BOUND = 1e15
#: HiGHS tolerances on the scaled LPs (its defaults are 1e-7): tighter, so that answers
#: rarely need the repair that verification would make.
OPTIONS = {"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10}
#: Scaled matrix values at or below this are left out of the LPs (HiGHS drops them anyway, as
#: its ``small_matrix_value``); the most they could add to a row (each variable is at most 1 in
#: scaled units) is reserved from that row's right-hand side instead, so leaving them out
#: never lets a row overflow.
SMALL = 1e-9
#: Cap on the scaled coefficient of the step-1 tie-break (u / reach of a class).
TIE_COEF_CAP = 1e9
#: Step-1 LPs over more classes than this are solved by sifting (see :func:`_step1_lp`).
SIFT_MIN = 2000
#: Step-1 tie-break LPs over more free classes than this are solved by sifting
#: (:func:`_tie_break_sifted`).
TIE_SIFT_MIN = 2000
#: Classes in the sample whose LP gives the sifting's first prices.
SIFT_SAMPLE = 500
#: Classes nearest to their reduced cost 0 that join the first working set of the sifting.
SIFT_WORK = 1000
#: Sifting rounds before falling back to the whole LP.
SIFT_ROUNDS = 30
#: Smoothing of the step-1 dual (shares of each class's cost), coarse to fine. One coarse
#: level suffices: the prices only pick the sifting's first working set (finer levels cost
#: 2-3 x the Newton work and, on issue 16's instances, moved no class across d = 0).
SMOOTHING = (1e-2,)
#: Newton steps per smoothing level, at most.
NEWTON_STEPS = 30
#: After the first smoothing level, classes with |d| above this share of their cost are
#: taken as fixed on their side of d = 0 while the prices are refined.
BAND = 0.05
#: HiGHS method of the sifting's LPs: dual simplex (on T rows it needs few pivots, while
#: interior point pays for a crossover on every small LP).
SIFT_METHOD = "highs-ds"


class LPError(SolverFailure):
    """An LP did not solve to optimality.

    Parameters
    ----------
    step : str
        Which LP (``"step 1"``, ``"step 2"``, …).
    status : int
        HiGHS's status code.
    message : str
        HiGHS's message.
    """

    def __init__(self, step: str, status: int, message: str):
        self.step, self.solver_message = step, message
        super().__init__(CAPABILITY, str(status),
                         f"{step} LP failed (HiGHS status {status}): {message}")


@dataclass(frozen=True)
class PeriodSolution:
    """Allocation per account and period, split by step, and what the solver saw."""

    step1: np.ndarray  # (N, T)
    step2: np.ndarray  # (N, T)
    lam: np.ndarray  # (N,) step-1 fulfilment λ
    u_cap: np.ndarray  # (N,) entitlement cap u
    share: np.ndarray  # (N,) entitlement share s
    weights: np.ndarray  # (T,)
    price: np.ndarray  # (T,) step-1 shadow price of capacity
    iterations: int  # step-2 rounds run (the last may add less than MIN_GAIN)
    classes: int  # distinct account classes in step 1
    status: str  # "optimal", or "repaired" when a solver answer had to be shrunk onto a limit


def default_weights(requests: np.ndarray) -> np.ndarray:
    """w_t = D_t / min D; the caller checks that no D_t is 0.

    Parameters
    ----------
    requests : numpy.ndarray
        Requests r, accounts × periods (N × T).

    Returns
    -------
    numpy.ndarray
        Weight per period: its total request over the smallest period total.

    Examples
    --------
    >>> default_weights(np.array([[1.0, 3.0], [1.0, 1.0]])).tolist()
    [1.0, 2.0]
    """
    demand = requests.sum(axis=0)
    return demand / demand.min()


def entitlements(
    requests: np.ndarray, currency: np.ndarray, capacity: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shares s, weighted requests W and caps u = min(1, s Σ w X / W) (0 where W = 0).

    Parameters
    ----------
    requests : numpy.ndarray
        Requests r, accounts × periods (N × T).
    currency : numpy.ndarray
        Currency per account (N).
    capacity : numpy.ndarray
        Capacity per period (T).
    weights : numpy.ndarray
        Weight per period (T).

    Returns
    -------
    share : numpy.ndarray
        Entitlement share per account (equal shares when no account holds currency).
    weighted : numpy.ndarray
        Weighted request Σ_t w_t r_it per account.
    u : numpy.ndarray
        Entitlement cap per account, in [0, 1].
    """
    n = len(currency)
    total = currency.sum()
    share = currency / total if total > 0 else np.full(n, 1.0 / n)
    weighted = rows_dot(requests, weights)
    budget = share * float(weights @ capacity)
    with np.errstate(over="ignore"):  # an overflow means u = 1
        u = np.divide(budget, weighted, out=np.zeros(n), where=weighted > 0)
    return share, weighted, np.minimum(u, 1.0)


def classes(*columns: np.ndarray, tol: float = IDENTICAL_TOL) -> tuple[np.ndarray, np.ndarray]:
    """Class id per row and class sizes; rows are identical when their values agree after
    rounding to ``tol``.

    Classes are numbered in the order of a 64-bit hash of their rounded values: deterministic
    and independent of the order of the rows (see :func:`_group`).

    Parameters
    ----------
    *columns : numpy.ndarray
        Per-row values (1-D, or 2-D with one row per row) that define a class together.
    tol : float, default IDENTICAL_TOL
        Values equal after rounding to this precision are identical.

    Returns
    -------
    ids : numpy.ndarray
        Class id per row.
    sizes : numpy.ndarray
        Rows per class.

    Examples
    --------
    >>> ids, sizes = classes(np.array([2.0, 1.0, 2.0]), np.array([[1.0], [1.0], [1.0]]))
    >>> bool(ids[0] == ids[2] != ids[1]), sorted(sizes.tolist())
    (True, [1, 2])
    """
    group = _group(*columns, tol=tol)
    return group.ids, group.sizes


def _mix(x: np.ndarray) -> np.ndarray:
    """A 64-bit finaliser (xor-shift-multiply) that spreads every input bit over the output."""
    x ^= x >> np.uint64(31)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


@dataclass(frozen=True)
class _Grouping:
    """Rows grouped into classes: ``order`` lists the rows class by class, ``starts`` where
    each class begins in it."""

    ids: np.ndarray
    sizes: np.ndarray
    order: np.ndarray
    starts: np.ndarray

    def sum(self, values: np.ndarray) -> np.ndarray:
        return self._reduce(np.add, values)

    def min(self, values: np.ndarray) -> np.ndarray:
        return self._reduce(np.minimum, values)

    def _reduce(self, ufunc: np.ufunc, values: np.ndarray) -> np.ndarray:
        ordered = self.sorted(values)
        if len(self.sizes) == len(self.ids):  # every class has one row: nothing to reduce
            return ordered
        return ufunc.reduceat(ordered, self.starts, axis=0)

    def sorted(self, values: np.ndarray) -> np.ndarray:
        """``values`` in class order (``np.take``: several times faster than indexing the rows
        of a 2-D array)."""
        return np.take(values, self.order, axis=0)

    def min_max(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Smallest and largest value per class, from one gather of ``values``."""
        if len(self.sizes) == len(self.ids):  # every class has one row: no reduction
            out = np.empty_like(values)
            out[self.ids] = values
            return out, out
        ordered = self.sorted(values)
        return (np.minimum.reduceat(ordered, self.starts, axis=0),
                np.maximum.reduceat(ordered, self.starts, axis=0))


def _group(*columns: np.ndarray, tol: float = IDENTICAL_TOL) -> _Grouping:
    """Group rows by their rounded values, hashing each row to 64 bits and sorting the hashes
    (one 1-D sort instead of a lexicographic one over every column). The rows of every class
    are then compared value by value with their neighbour (equal neighbours all through a
    class: all equal); should two different rows ever share a hash, the rows are grouped by a
    lexicographic sort instead."""
    decimals = int(round(-np.log10(tol)))
    # rounded floats, not scaled integers (those overflow int64 beyond ~9e12); + 0.0 folds -0.0
    key = np.column_stack([np.round(np.asarray(c, dtype=np.float64), decimals) + 0.0
                           for c in columns])
    n = len(key)
    bits = key.view(np.uint64)
    h = np.zeros(n, np.uint64)
    for j in range(key.shape[1]):  # loop over columns (a handful), not rows
        x = bits[:, j] + np.uint64((0x9E3779B97F4A7C15 * (j + 1)) % 2**64)
        h = _mix(h ^ _mix(x))
    # the class numbers come from the hashes alone; the order of rows within a class (the
    # sort's, deterministic) only orders the additions of their values
    order = np.argsort(h)
    hs = h[order]
    new = np.empty(n, dtype=bool)
    new[:1] = True
    np.not_equal(hs[1:], hs[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    cls_of_sorted = np.cumsum(new) - 1
    ks = np.take(key, order, axis=0)
    rows = ks.view(np.dtype((np.void, ks.itemsize * ks.shape[1]))).ravel()  # bytes of a row
    if not ((rows[1:] == rows[:-1]) | new[1:]).all():  # a hash collision: never seen, but exact
        _, ids, sizes = np.unique(key, axis=0, return_inverse=True, return_counts=True)
        ids = ids.ravel()
        order = np.argsort(ids, kind="stable")
        starts = np.r_[0, np.cumsum(sizes)[:-1]]
        return _Grouping(ids, sizes, order, starts)
    ids = np.empty(n, dtype=np.int64)
    ids[order] = cls_of_sorted
    sizes = np.diff(np.r_[starts, n])
    return _Grouping(ids, sizes, order, starts)


def _solve(step: str, c, a_ub, b_ub, bounds, method: str = "highs-ipm", **kw):
    res = linprog(c, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method=method, options=OPTIONS, **kw)
    if res.status != 0:
        raise LPError(step, res.status, res.message)
    return res


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den where den > 0, +inf elsewhere (no warnings; overflow is +inf)."""
    num, den = np.broadcast_arrays(np.asarray(num, dtype=np.float64),
                                   np.asarray(den, dtype=np.float64))
    with np.errstate(over="ignore", under="ignore"):
        return np.divide(num, den, out=np.full(num.shape, np.inf), where=den > 0)


def _without_tiny(values: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Scaled coefficients with those ≤ :data:`SMALL` set to 0, and per row (summing along
    ``axis``) the right-hand side 1 minus what the removed ones could add (never below 0).

    >>> a, rhs = _without_tiny(np.array([[1.0, 1e-12], [0.5, 1e-10]]), axis=0)
    >>> a.tolist(), rhs.tolist()
    ([[1.0, 0.0], [0.5, 0.0]], [1.0, 0.999999999899])
    """
    tiny = (values > 0) & (values <= SMALL)
    if not tiny.any():
        return values, np.ones(values.shape[1 - axis])
    values = values.copy()
    reserve = (values * tiny).sum(axis=axis)
    values[tiny] = 0.0
    return values, np.maximum(1.0 - reserve, 0.0)


def row_reduce(ufunc: np.ufunc, values: np.ndarray) -> np.ndarray:
    """``ufunc`` reduced over each row of a 2-D array (numpy ``ufunc.reduce(axis=1)``),
    column by column when rows are short: numpy reduces many short rows 3-7 times slower
    than it combines a few long columns.

    Parameters
    ----------
    ufunc : numpy.ufunc
        A binary ufunc (``np.add``, ``np.minimum``, ``np.logical_or``, …).
    values : numpy.ndarray
        Rows × columns.

    Returns
    -------
    numpy.ndarray
        One value per row.

    Examples
    --------
    >>> row_reduce(np.maximum, np.array([[1.0, 3.0, 2.0], [5.0, 4.0, 0.0]])).tolist()
    [3.0, 5.0]
    """
    if values.ndim != 2 or not 0 < values.shape[1] <= 64:
        return ufunc.reduce(values, axis=1)
    out = values[:, 0].copy()
    for j in range(1, values.shape[1]):  # loop over columns (periods), not rows
        ufunc(out, values[:, j], out=out)
    return out


#: Rows per block of :func:`_gram`: small enough that BLAS multiplies each block on one thread.
GRAM_BLOCK = 64


def _gram(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """xᵀ y for tall (n × T) x and y, as a sum of products of 64-row blocks.

    One large product goes to BLAS on several threads, and on a shared, busy machine those
    threads wait for each other: 100 000 × 52 took anywhere from 0.02 s to 2.4 s. Each small
    block stays on one thread (numpy loops over the blocks in C), which costs about as much as
    the best case of the large product and never more.

    >>> x = np.arange(300.0).reshape(150, 2)
    >>> bool(np.allclose(_gram(x, x), x.T @ x))
    True
    """
    n, t = x.shape
    nb = n // GRAM_BLOCK
    head = nb * GRAM_BLOCK
    out = x[head:].T @ y[head:]
    if nb:
        out += np.matmul(x[:head].reshape(nb, GRAM_BLOCK, t).transpose(0, 2, 1),
                         y[:head].reshape(nb, GRAM_BLOCK, y.shape[1])).sum(axis=0)
    return out


def _bounds(hi: np.ndarray) -> np.ndarray:
    """Bounds [0, hi] for HiGHS, with scaled bounds beyond BIG_BOUND as infinite."""
    return np.column_stack([np.zeros(len(hi)), np.where(hi > BIG_BOUND, np.inf, hi)])


# --- step 1 ------------------------------------------------------------------------------------

def step1(
    requests: np.ndarray, currency: np.ndarray, capacity: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, str]:
    """Proportional LP: λ per account, shadow prices per period, u, s, the class count and
    the status (``"repaired"`` when λ had to be shrunk to fit the capacities).

    Parameters
    ----------
    requests : numpy.ndarray
        Requests r, accounts × periods (N × T).
    currency : numpy.ndarray
        Currency per account (N).
    capacity : numpy.ndarray
        Capacity per period (T).
    weights : numpy.ndarray
        Weight per period (T).

    Returns
    -------
    lam : numpy.ndarray
        Fulfilment λ per account.
    price : numpy.ndarray
        Shadow price of capacity per period.
    u : numpy.ndarray
        Entitlement cap per account.
    share : numpy.ndarray
        Entitlement share per account.
    classes : int
        Number of distinct account classes.
    status : str
        ``"optimal"`` or ``"repaired"``.

    Raises
    ------
    LPError
        HiGHS did not solve an LP.
    fairalloc.solvers.verify.SolverFailure
        An answer broke a limit beyond repair, naming the accounts or periods.
    """
    return _step1(requests, currency, capacity, weights, _group(currency, requests))


def _step1(requests, currency, capacity, weights, group: _Grouping):
    share, weighted, u = entitlements(requests, currency, capacity, weights)
    ids, n_cls = group.ids, len(group.sizes)
    w_cls = group.sum(weighted)  # Σ W over the class: objective coefficient of λ_c
    r_cls = group.sum(requests)  # (C, T) summed requests
    u_cls = group.min(u)
    lam_cls, price = _step1_classes(w_cls, r_cls, u_cls, capacity)
    lam, status = verify_step1(lam_cls[ids], u, requests, capacity)
    return lam, price, u, share, n_cls, status


def _step1_classes(w_cls, r_cls, u_cls, capacity) -> tuple[np.ndarray, np.ndarray]:
    """λ per class and the period prices, from the LP scaled per class and per period.

    Variable z_c = λ_c / v_c with v_c = min(u_c, min_t X_t / R_ct), the largest λ the class
    could take alone; row t is divided by X_t, the objective by its largest coefficient.
    """
    n_cls, n_t = r_cls.shape
    reach = np.minimum(u_cls, row_reduce(np.minimum, _ratio(capacity[None, :], r_cls))
                       if capacity.size else np.inf)
    live = (reach > 0) & np.isfinite(reach) & (w_cls > 0)
    lam = np.zeros(n_cls)
    price = np.zeros(n_t)
    k, rows = 0.0, np.zeros(0, dtype=np.int64)
    if live.any():
        v = reach[live]
        with np.errstate(under="ignore"):  # in place: (C, T) arrays are the large ones
            a = r_cls[live]
            a *= v[:, None]
            a /= np.where(capacity > 0, capacity, 1.0)[None, :]
            cost = w_cls[live] * v
        a, reserve = _without_tiny(a, axis=0)
        rows = np.flatnonzero((capacity > 0) & (a > 0).any(axis=0))
        rhs = reserve[rows]
        k = float(cost.max())
    if live.any() and k > 0 and rows.size:
        hi = _ratio(u_cls[live], v)
        if rows.size < a.shape[1]:  # (C, T) arrays are the large ones: copy only to drop
            a = np.take(a, rows, axis=1)  # in row order (see _columns)
        z, dual = _step1_lp(cost / k, a, rhs, hi)
        z = _max_min_tie_break(z, cost / k, a, rhs, dual, hi)
        lam[live] = np.minimum(z * v, u_cls[live])
        price[rows] = dual * k / capacity[rows]
    elif live.any() and k > 0:
        # every request is below SMALL of its period's capacity: no period can bind (the
        # removed coefficients add up to less than the capacity), so each class takes its cap
        # u; verify_step1 below still checks every period
        lam[live] = u_cls[live]
    # periods outside the LP: capacity 0 priced at the least that makes λ = 0 optimal for
    # every class asking for them (any larger price is optimal too); others are free (0)
    zero = np.flatnonzero(capacity <= 0)
    if zero.size:
        reduced = np.maximum(w_cls - rows_dot(r_cls, price), 0.0) * (u_cls > 0)
        need = np.where(r_cls[:, zero] > 0, _ratio(reduced[:, None], r_cls[:, zero]), 0.0)
        price[zero] = np.where(np.isfinite(need), need, 0.0).max(axis=0, initial=0.0)
    return lam, price


def _lp(step: str, cost, a, rhs, hi, method: str = "highs-ipm") -> tuple[np.ndarray, np.ndarray]:
    """max cost·z s.t. aᵀz ≤ rhs, 0 ≤ z ≤ hi (a dense, one row per variable) with HiGHS:
    z and the row prices (≥ 0)."""
    res = _solve(step, -cost, sp.csr_matrix(a.T), rhs, _bounds(hi), method=method)
    return np.clip(res.x, 0.0, hi), np.maximum(-res.ineqlin.marginals, 0.0)


def _step1_lp(cost, a, rhs, hi) -> tuple[np.ndarray, np.ndarray]:
    """The scaled step-1 LP, max cost·z s.t. aᵀz ≤ rhs, 0 ≤ z ≤ hi: z and the row prices.

    When every class fits at its upper bound, that is the optimum (prices 0). Otherwise, up
    to :data:`SIFT_MIN` classes the LP goes to HiGHS whole. Beyond, through its dual, a
    function of the T row prices μ alone: g(μ) = rhs·μ + Σ_c hi_c max(0, d_c) with the reduced
    costs d_c = cost_c − a_c·μ. At a vertex at most T classes lie strictly between their
    bounds; every other sits at the bound the sign of d_c picks. So:

    1. prices close to the optimal ones: the LP on an evenly spaced sample of the classes,
       then g smoothed (max(0, d) → ε softplus(d / ε), ε a share :data:`SMOOTHING` of each
       class's cost) and minimised over μ ≥ 0 (projected Newton steps, T × T Hessian);
    2. sifting, exact: the LP over the :data:`SIFT_WORK` classes nearest to d = 0, every other
       class fixed at the bound its d picks (hi where d > 0, else 0; a class that could not
       take hi alone is never fixed there) and its use taken off the rows (classes fixed at
       hi that overfill a row are freed, least useful first); the LP's prices price out every
       class; those fixed on the wrong side (beyond 1e-9 relative) join the LP, which is
       solved again. When none is left, z and the prices satisfy the optimality conditions of
       the whole LP: z is an optimum of it. The LP only grows, so the rounds end; after
       :data:`SIFT_ROUNDS` the whole LP is solved instead.
    """
    n = len(cost)
    if (hi <= 1.0).all() and (cols_dot(hi, a) <= rhs).all():
        # every class at its cap fits: the optimum (costs ≥ 0), with prices 0
        return hi.copy(), np.zeros(a.shape[1])
    if n <= SIFT_MIN:
        return _lp("step-1", cost, a, rhs, hi)
    sample = np.unique(np.linspace(0, n - 1, min(SIFT_SAMPLE, n)).astype(np.int64))
    _, mu = _lp("step-1", cost[sample], a[sample], rhs * (len(sample) / n), hi[sample],
                SIFT_METHOD)
    mu = _smoothed_prices(cost, a, rhs, hi, mu)
    tol = 1e-9 * cost + 1e-12
    d = cost - rows_dot(a, mu)
    work = np.zeros(n, dtype=bool)
    work[np.argpartition(np.abs(d) / (cost + tol), min(SIFT_WORK, n - 1))[:SIFT_WORK]] = True
    work |= (d > 0) & ~(hi <= 1.0)  # could not take hi alone (or hi is infinite)
    at_hi = (d > 0) & ~work
    for rounds in range(SIFT_ROUNDS):
        left = rhs - cols_dot(np.where(at_hi, hi, 0.0), a)
        while (left < 0).any():  # the fixed classes overfill a row: free the least useful
            t = int(np.argmin(left))
            cand = np.flatnonzero(at_hi & (a[:, t] > 0))
            cand = cand[np.argsort(d[cand], kind="stable")]
            need = np.searchsorted(np.cumsum(a[cand, t] * hi[cand]), -left[t], side="right")
            move = cand[:need + 1]
            work[move], at_hi[move] = True, False
            left = rhs - cols_dot(np.where(at_hi, hi, 0.0), a)
        idx = np.flatnonzero(work)
        z_w, mu = _lp("step-1", cost[idx], a[idx], left, hi[idx], SIFT_METHOD)
        d = cost - rows_dot(a, mu)
        wrong = ~work & np.where(at_hi, d < -tol, d > tol)
        log.debug("step-1 sifting round %d: %d classes in the LP, %d priced out wrongly",
                  rounds, len(idx), int(wrong.sum()))
        if not wrong.any():
            z = np.where(at_hi, hi, 0.0)
            z[idx] = z_w
            return z, mu
        work |= wrong
        at_hi &= ~work
    return _lp("step-1", cost, a, rhs, hi)  # did not settle: the whole LP


def _smoothed_prices(cost, a, rhs, hi, mu) -> np.ndarray:
    """Row prices near the optimal duals of the step-1 LP: its dual g(μ) smoothed with ε
    softplus(d / ε) per class (ε a shrinking share of the class's cost, :data:`SMOOTHING`)
    and minimised over μ ≥ 0 by projected Newton steps (the Hessian is T × T) from ``mu``.
    Only the classes with |d| within :data:`BAND` of their cost (5 × that at the first level)
    are smoothed; the others enter as the linear function they are on their side of d = 0. Only a
    starting point: the sifting that follows makes the answer exact whatever these prices are.
    """
    # hi beyond what the rows allow alone (a_ct z ≤ rhs_t ≤ 1) changes nothing in the LP
    top = row_reduce(np.maximum, a)
    h = np.minimum(hi, _ratio(np.ones_like(top), top))
    h = np.where(np.isfinite(h), h, 0.0)
    for level, eps in enumerate(SMOOTHING):
        # smooth near d = 0 only (a wide band for the coarse first level)
        d = cost - rows_dot(a, mu)
        near = np.abs(d) <= BAND * cost * (5.0 if level == 0 else 1.0)
        up = ~near & (d > 0)
        h_up = np.where(up, h, 0.0)
        lin_c, lin_a = cols_dot(h_up, cost), cols_dot(h_up, a)
        sel = np.flatnonzero(near)
        mu = _newton(cost[sel], a[sel], h[sel], eps * cost[sel] + 1e-300, rhs - lin_a, lin_c,
                     mu)
    return mu


def _newton(c, a, h, e, base, const, mu) -> np.ndarray:
    """Minimise base·μ + const + Σ h e softplus((c − a·μ) / e) over μ ≥ 0: projected Newton
    steps with backtracking (a convex, smooth function of T variables)."""

    def value(m):
        x = (c - rows_dot(a, m)) / e
        return base @ m + const + cols_dot(h, (np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x))))
                                           * e)

    f = value(mu)
    for _ in range(NEWTON_STEPS):
        x = (c - rows_dot(a, mu)) / e
        q = np.exp(-np.abs(x))
        sig = np.where(x >= 0, 1.0, q) / (1.0 + q)
        grad = base - cols_dot(h * sig, a)
        curv = h * sig * (1.0 - sig) / e
        hess = _gram(a * curv[:, None], a)
        move = ~((mu <= 0) & (grad > 0))  # a price at 0 the gradient pushes below stays
        step = np.zeros_like(mu)
        if move.any():
            sub = hess[np.ix_(move, move)]
            sub = sub + np.eye(len(sub)) * (1e-12 * np.trace(sub) + 1e-300)
            step[move] = -np.linalg.lstsq(sub, grad[move], rcond=None)[0]
        t = 1.0
        for _ in range(40):
            new = np.maximum(mu + t * step, 0.0)
            f_new = value(new)
            if f_new <= f + 1e-4 * (grad @ (new - mu)):
                break
            t *= 0.5
        else:
            return mu
        # converged: a negligible move, or one that no longer lowers the value at all (the
        # next step would only backtrack)
        done = (np.abs(new - mu).max() <= 1e-12 * max(np.abs(mu).max(), 1e-300)
                or f_new >= f)
        mu, f = new, f_new
        if done:
            break
    return mu


def _max_min_tie_break(z, cost, a, rhs, dual, hi) -> np.ndarray:
    """Among optimal z, maximise min λ_c / u_c over the classes with zero reduced cost.

    Works on the scaled step-1 LP (z = λ / v, ``a`` one row per class and one column per
    capacity row divided by its capacity, costs ≤ 1). The optimal face is described by
    complementary slackness with the step-1 duals: a class with nonzero reduced cost keeps
    its step-1 value (at a bound), and every period with a positive dual uses its whole
    capacity. Only the classes with zero reduced cost (the free ones) move; λ_c / u_c =
    z_c / hi_c. The LP is built over the free classes alone (the others' use is taken off the
    rows); beyond :data:`TIE_SIFT_MIN` free classes it is solved by sifting
    (:func:`_tie_break_sifted`). If it fails numerically, the step-1 optimum is kept.
    """
    reduced = cost - rows_dot(a, dual)
    free = (np.abs(reduced) <= 1e-9 * cost + 1e-12) & (hi > 0)
    k = int(free.sum())
    if k < 2:
        return z
    # the other classes stay where step 1 put them (snapped onto a bound within 1e-9 of it):
    # with costs spread over many orders of magnitude the duals are only as good as HiGHS'
    # tolerances, so a class is not pushed to a bound on the sign of its reduced cost alone
    fixed = np.where(np.abs(z - hi) <= 1e-9 * hi, hi, np.where(z <= 1e-9, 0.0, z))
    idx = np.flatnonzero(free)
    rest = ~free
    left = rhs - cols_dot(np.where(rest, fixed, 0.0), a)
    priced = dual > 1e-12
    a_free, h = a[idx], hi[idx]
    coef = np.minimum(h, TIE_COEF_CAP)
    if k > TIE_SIFT_MIN:
        got = _tie_break_sifted(a_free, h, coef, left, priced, z[idx])
    else:
        got = _tie_lp(a_free, h, coef, left, priced, np.arange(k), "highs-ipm")
    if got is None:  # keep the step-1 optimum: it is optimal, only less evenly tied
        return z
    out = fixed.copy()
    out[idx] = np.clip(got[0], 0.0, h)
    return out


def _tie_lp(a, h, coef, left, priced, work, method, quiet=False):
    """The tie-break LP with the classes ``work`` as variables and every other class tied
    to the smallest fulfilment (z_c = τ coef_c, in the τ column): max τ s.t. τ coef_c ≤ z_c
    (c in ``work``), the capacity rows (equalities where ``priced``), 0 ≤ z ≤ h, τ ≤ 1.

    Returns z for every class, and the prices of the capacity rows as HiGHS reports them
    (minimising −τ: ≤ 0 on inequalities, either sign on equalities), and τ; None if the LP
    failed (logged as a warning unless ``quiet``).
    """
    k, n_w = len(h), len(work)
    tied = np.ones(k, dtype=bool)
    tied[work] = False
    tau_col = cols_dot(np.where(tied, coef, 0.0), a)  # what the tied classes use per unit of τ
    tie = sp.csr_matrix(
        (np.concatenate([-np.ones(n_w), coef[work]]),
         (np.concatenate([np.arange(n_w), np.arange(n_w)]),
          np.concatenate([np.arange(n_w), np.full(n_w, n_w)]))),
        shape=(n_w, n_w + 1),
    )
    cap_rows = sp.hstack([sp.csr_matrix(a[work].T), sp.csr_matrix(tau_col[:, None])]).tocsr()
    c = np.zeros(n_w + 1)
    c[-1] = -1.0
    res = linprog(
        c,
        A_ub=sp.vstack([cap_rows[~priced], tie]).tocsr(),
        b_ub=np.concatenate([left[~priced], np.zeros(n_w)]),
        A_eq=cap_rows[priced] if priced.any() else None,
        b_eq=left[priced] if priced.any() else None,
        bounds=np.vstack([_bounds(h[work]), [[0.0, 1.0]]]),
        method=method, options=OPTIONS,
    )
    if res.status != 0:
        if quiet:
            return None
        log.warning("step-1 tie-break LP failed (%s); keeping the first optimum", res.message)
        return None
    tau = float(res.x[-1])
    z = coef * tau
    z[work] = res.x[:n_w]
    m = np.zeros(len(left))
    m[~priced] = res.ineqlin.marginals[:int((~priced).sum())]
    if priced.any():
        m[priced] = res.eqlin.marginals
    return z, m, tau


def _tie_break_sifted(a, h, coef, left, priced, z0):
    """The tie-break LP over many free classes by sifting, exact.

    At its optimum almost every free class sits at the smallest fulfilment (z_c = τ coef_c):
    only classes that the capacity rows need above it (at most a few per row at a vertex, and
    those at their cap) have their own value. So the LP is solved with a working set of
    classes as variables and every other class tied to τ (:func:`_tie_lp`); a tied class
    whose rise would raise τ at the LP's row prices (reduced cost −a_c·m < 0 beyond 1e-9
    relative, and room above τ coef_c) joins the working set, until none is left: the row
    prices then certify the whole LP's optimum. The first working set is the classes step 1
    left highest relative to their caps and an even sample (so the rows' equalities can be
    met); an infeasible working set is doubled. After :data:`SIFT_ROUNDS` rounds, or when the
    working set passes 50 000 classes, the whole LP is solved instead.
    """
    k = len(h)
    ratio = z0 / coef
    order = np.argsort(-ratio, kind="stable")  # classes are canonically ordered: stable
    size = min(SIFT_WORK, k)
    work = np.zeros(k, dtype=bool)
    work[order[:size]] = True
    work[np.unique(np.linspace(0, k - 1, min(SIFT_SAMPLE, k)).astype(np.int64))] = True
    for rounds in range(SIFT_ROUNDS):
        if work.sum() > 50_000:
            break
        idx = np.flatnonzero(work)
        got = _tie_lp(a, h, coef, left, priced, idx, SIFT_METHOD, quiet=True)
        if got is None:  # e.g. the tied classes cannot meet the rows' equalities: grow
            size = min(2 * size, k)
            work[order[:size]] = True
            continue
        z, m, tau = got
        d = -rows_dot(a, m)
        room = h - tau * coef > 1e-12 * h
        wrong = ~work & room & (d < -(1e-9 * rows_dot(a, np.abs(m)) + 1e-12))
        log.debug("step-1 tie-break sifting round %d: %d classes in the LP, %d priced out "
                  "wrongly", rounds, len(idx), int(wrong.sum()))
        if not wrong.any():
            return z, m, tau
        work |= wrong
    return _tie_lp(a, h, coef, left, priced, np.arange(k), "highs-ipm")


def verify_step1(lam: np.ndarray, u: np.ndarray, requests: np.ndarray, capacity: np.ndarray
                 ) -> tuple[np.ndarray, str]:
    """Check λ (0 ≤ λ ≤ u ≤ 1, so a = λ r ≤ r) and Σ_i λ_i r_it ≤ X_t; shrink λ if needed.

    λ above its cap u is set to u. An account's λ is then scaled by the smallest factor
    X_t / used_t over the over-full periods it asks for (then stepped down one float at a
    time until every period fits); either repair makes the status ``"repaired"``. NaN or
    negative λ raises :class:`SolverFailure` naming the accounts.

    Parameters
    ----------
    lam : numpy.ndarray
        λ per account, from the LP.
    u : numpy.ndarray
        Entitlement cap per account.
    requests : numpy.ndarray
        Requests r, accounts × periods (N × T).
    capacity : numpy.ndarray
        Capacity per period (T).

    Returns
    -------
    lam : numpy.ndarray
        λ, shrunk where it broke a limit.
    status : str
        ``"optimal"``, or ``"repaired"`` when λ was changed.

    Raises
    ------
    fairalloc.solvers.verify.SolverFailure
        NaN or negative λ (naming the accounts), or λ that cannot be shrunk within capacity.

    Examples
    --------
    >>> lam, status = verify_step1(np.array([1.0, 1.0]), np.ones(2), np.array([[3.0], [1.0]]),
    ...                            np.array([2.0]))
    >>> lam.tolist(), status
    ([0.5, 0.5], 'repaired')
    """
    check(CAPABILITY, Status.ERROR, "account", "fulfilment", lam)
    status = Status.REPAIRED if over(lam, u).any() else Status.OPTIMAL
    lam = np.minimum(lam, u)  # above its cap (or within RTOL of it): onto the cap
    for step in range(64):
        used = (lam[:, None] * requests).sum(axis=0)
        bad = over(used, capacity) if step == 0 else used > capacity
        if not bad.any():
            return lam, str(status)
        status = Status.REPAIRED
        factor = np.where(bad, np.minimum(_ratio(capacity, used), 1.0), 1.0)
        if step:
            factor = np.where(bad, np.nextafter(factor, 0.0), 1.0)
        per_account = np.where(requests > 0, factor[None, :], 1.0).min(axis=1)
        lam = lam * per_account
    raise SolverFailure(CAPABILITY, Status.ERROR, "step 1 could not be shrunk within capacity",
                        "period", np.flatnonzero(bad)[:10], "capacity")


# --- step 2 ------------------------------------------------------------------------------------

STEP2_SOLVERS = Registry("step-2 solver")


@STEP2_SOLVERS.register("max_flow")
def _step2_max_flow(upper, sizes, wp, remaining, ent_cap) -> np.ndarray:
    """Step 2 as a max-flow in weighted units y = w·b (integral, exactly scaled; paths among
    the periods, OR-Tools as the fallback).

    source → class (cap: entitlement × size) → period (w_t · gap · size) → sink
    (w_t · remaining). A class without an entitlement row has no node: its arcs run from the
    source straight to the periods. The network then falls apart into components (periods
    linked by the classes with entitlement rows), and each component is scaled by its own
    power of two so that its total is at most 2**52 before the capacities are floored to
    integers: every flow converts back to a float exactly and stays within its capacity.
    Precision: within a component, an arc below 2**-52 of the component's total is floored
    (to 0 if smaller than that), so the total is optimal to about 1e-15 relative per arc of
    the component; flows are never above a limit. A small period is scaled apart from a huge
    one unless an account with an entitlement row asks for both.

    When no class links two periods (one period, or no entitlement rows) the max flow is
    exact in closed form, without OR-Tools: each period gives every class the same fraction
    of its arc (:func:`_fill_periods`). Otherwise the integer network goes to
    :func:`fairalloc.solvers.transport.max_flow` (paths among the periods from a
    proportional fit), and to OR-Tools only when those give up (:data:`transport.WORK_PER_ARC
    <fairalloc.solvers.transport.WORK_PER_ARC>`).
    """
    n_cls, n_p = upper.shape
    g = upper * wp[None, :]  # (C, P) arrays are the large ones: updated in place
    g *= sizes[:, None]
    capped = np.isfinite(ent_cap)
    src_cap = ent_cap * sizes
    if not capped.all():  # a class without an entitlement row passes on what it asks
        src_cap[~capped] = row_reduce(np.add, g[~capped])
    sink_cap = wp * remaining
    # no arc can carry more than its tail receives or its head passes on: capping it there
    # leaves the max flow unchanged and keeps every capacity within its component's total
    np.minimum(g, src_cap[:, None], out=g)
    np.minimum(g, sink_cap[None, :], out=g)
    if not g.any():
        return fresh(upper.shape, zeros=True)  # pages zeroed lazily, not filled
    if n_p == 1 or not capped.any():
        # no class links two periods: each period on its own, in closed form
        return _fill_periods(g, sink_cap) / (wp[None, :] * sizes[:, None])
    # the class → period arcs are the positive cells of g, by class and period; they are
    # worked on as (C, P) masks of bytes and in place in g, and OR-Tools' input is filled by
    # blocks of classes: no array of arc positions and no per-arc temporary
    pos = g > 0
    has_arc = pos.any(axis=1)
    first_p = pos.argmax(axis=1)  # each class's first period (0 without arcs: unused)
    comp_p, n_comp = _period_components(pos[capped], first_p[capped])
    src_cls = np.flatnonzero(capped & has_arc)
    comp_src = comp_p[first_p[src_cls]]  # a class sits in any of its periods'
    # component totals: what can enter (class nodes + direct arcs) and leave (sinks)
    into = np.bincount(comp_src, weights=src_cap[src_cls], minlength=n_comp).astype(float)
    into += np.bincount(comp_p, weights=cols_dot((~capped).astype(np.float64), g),
                        minlength=n_comp)
    out = np.bincount(comp_p, weights=sink_cap, minlength=n_comp)
    total = np.maximum(into, out)
    # 2**52 per component; sum over components below 2**62 for OR-Tools' int64 totals
    spare = max(int(np.ceil(np.log2(n_comp))) - 10, 0)
    k = 52 - spare - np.frexp(np.where(total > 0, total, 1.0))[1]

    def ints(x: np.ndarray, kk: np.ndarray) -> np.ndarray:
        return np.floor(np.ldexp(x, kk)).astype(np.int64)

    k_per = k[comp_p]  # the scale of every arc into period p
    # a product with 2**k is exact and several times faster than ldexp, where 2**k and 2**-k
    # are normal floats; the cells that are not arcs are 0 and stay 0
    fast = np.abs(k_per).max(initial=0) < 1000
    if fast:
        g *= np.exp2(k_per.astype(np.float64))[None, :]
    else:
        np.ldexp(g, k_per[None, :], out=g)
    np.floor(g, out=g)
    # first by paths among the periods (exact, and several times faster than a general
    # max-flow with many classes); OR-Tools when those would take too long
    supply = np.zeros(n_cls, np.int64)
    supply[src_cls] = ints(src_cap[src_cls], k[comp_src])
    flows = transport.max_flow(g, supply, ints(sink_cap, k[comp_p]), capped)
    if flows is not None:
        del g, pos
        b = fresh((n_cls, n_p))
        for rows in row_blocks(n_cls, n_p):  # integers below 2**53: exact as floats
            b[rows] = flows[:, rows].T
        del flows
        return _unscale(b, k_per, fast, wp, sizes)
    np.greater(g, 0.0, out=pos)  # arcs floored to 0 are left out
    n_arc = int(np.count_nonzero(pos))
    # nodes: 0 source, 1 sink, 2 + c class c, 2 + C + p period p; the arcs: source → class,
    # class (or the source, for a class without an entitlement row) → period, period → sink,
    # each written into its slice of one array (no concatenated copies)
    n_src = len(src_cls)
    mid = slice(n_src, n_src + n_arc)
    per_cls = np.count_nonzero(pos, axis=1)
    arc_end = n_src + np.cumsum(per_cls)  # one past each class's last arc
    blocks = [(rows, slice(arc_end[rows.start - 1] if rows.start else n_src,
                           arc_end[min(rows.stop, n_cls) - 1]))
              for rows in row_blocks(n_cls, n_p)]  # (classes, their arcs' slice)
    caps = np.empty(n_src + n_arc + n_p, np.int64)
    caps[:n_src] = supply[src_cls]
    for rows, span in blocks:  # whole numbers below 2**53: exact as integers
        caps[span] = g[rows][pos[rows]]
    del g  # let go before the nodes are listed
    caps[mid.stop:] = ints(sink_cap, k[comp_p])
    tails = np.empty(len(caps), np.int32)
    heads = np.empty_like(tails)
    tails[:n_src] = 0
    heads[:n_src] = src_cls + 2
    tail_node = np.where(capped, np.arange(2, 2 + n_cls, dtype=np.int32), np.int32(0))
    head_node = np.arange(2 + n_cls, 2 + n_cls + n_p, dtype=np.int32)
    for rows, span in blocks:
        tails[span] = np.repeat(tail_node[rows], per_cls[rows])
        heads[span] = np.broadcast_to(head_node, pos[rows].shape)[pos[rows]]
    tails[mid.stop:] = head_node
    heads[mid.stop:] = 1
    flow = max_flow.SimpleMaxFlow()
    arcs = flow.add_arcs_with_capacity(tails, heads, caps)
    del tails, heads, caps
    status = flow.solve(0, 1)
    if status != flow.OPTIMAL:
        raise SolverFailure(CAPABILITY, str(status), "step-2 max-flow did not finish")
    b = fresh((n_cls, n_p), zeros=True)
    b[pos] = flow.flows(arcs[mid])  # integers below 2**53: exact as floats
    del arcs, pos
    return _unscale(b, k_per, fast, wp, sizes)


def _period_components(pos: np.ndarray, first: np.ndarray) -> tuple[np.ndarray, int]:
    """The components of the periods linked by classes (``pos``: (classes, P) arcs of the
    classes with an entitlement row; ``first``: each one's first period): every class links
    its first period with every other period it has an arc to. Returns each period's
    component and their number.

    >>> pos = np.array([[True, True, False], [False, False, True]])
    >>> comp, n = _period_components(pos, np.array([0, 2]))
    >>> comp.tolist(), n
    ([0, 0, 1], 2)
    """
    n_p = pos.shape[1]
    rows = cols = np.empty(0, np.int64)
    if len(first):
        order = np.argsort(first, kind="stable")
        by_first = first[order]
        starts = np.flatnonzero(np.diff(by_first, prepend=-1))
        # each first period's row: the periods any class starting there has an arc to (at
        # most classes × periods, like ``pos``: never periods × periods)
        row, cols = np.nonzero(np.logical_or.reduceat(pos[order], starts, axis=0))
        rows = by_first[starts][row]
    adjacent = sp.csr_matrix((np.ones(len(rows), np.int8), (rows, cols)), shape=(n_p, n_p))
    n_comp, comp = connected_components(adjacent, directed=False)
    return comp, n_comp


def _unscale(b: np.ndarray, k_per: np.ndarray, fast: bool, wp: np.ndarray,
             sizes: np.ndarray) -> np.ndarray:
    """Integer flows in ``b`` (C, P) back to amounts per account, in place, by blocks of
    classes (no (C, P) temporary): × 2**-k of the period's component (exact), then ÷ the
    arc's w_t · size (rounded once, as one float division of the two). Periods of weight 0
    carry no arc and stay 0."""
    scale = np.exp2(-k_per.astype(np.float64)) if fast else None
    live = wp > 0
    for rows in row_blocks(*b.shape):
        blk = b[rows]
        if fast:
            blk *= scale[None, :]
        else:
            blk[:] = np.ldexp(blk, -k_per[None, :])
        np.divide(blk, wp[None, :] * sizes[rows, None], out=blk, where=live[None, :])
    return b


def _fill_periods(g: np.ndarray, cap: np.ndarray) -> np.ndarray:
    """The max flow when no class links two periods (one period, or no entitlement rows):
    each period t gives every arc into it the same fraction min(1, cap_t / Σ_c g_ct) of its
    capacity g_ct, in floats, never more than cap_t in all: while rounding overfills a period
    its fraction shrinks by 2**-52, then 2**-51, … of itself (at most 53 times, to 0). ``g``
    is laid out by rows, so its column sums add row after row.

    >>> _fill_periods(np.array([[1.0, 4.0], [3.0, 1.0]]), np.array([2.0, 10.0])).tolist()
    [[0.5, 4.0], [1.5, 1.0]]
    """
    frac = np.minimum(_ratio(cap, g.sum(axis=0)), 1.0)
    for i in range(54):
        y = g * frac[None, :]
        full = y.sum(axis=0) > cap
        if not full.any():
            break
        frac = np.where(full, frac * (1.0 - 2.0 ** (i - 52)), frac)
    return y


def _sparse_rows(coef, row, col, shape) -> tuple[sp.csr_matrix, np.ndarray]:
    """Scaled rows from (value, row, column) triplets without the values ≤ :data:`SMALL`,
    and their right-hand sides 1 minus what the removed values could add (see
    :func:`_without_tiny`)."""
    tiny = coef <= SMALL
    reserve = np.bincount(row[tiny], weights=coef[tiny], minlength=shape[0])
    keep = ~tiny
    matrix = sp.csr_matrix((coef[keep], (row[keep], col[keep])), shape=shape)
    return matrix, np.maximum(1.0 - reserve, 0.0)


@STEP2_SOLVERS.register("lp")
def _step2_lp(upper, sizes, wp, remaining, ent_cap) -> np.ndarray:
    """Step 2 as an LP over b[class, period] (HiGHS interior point); exact but slow at scale.

    Scaled per variable by the most it can take alone, s = min(gap, R_t / size, ent / w_t),
    capacity rows by R_t and entitlement rows by the entitlement.
    """
    n_cls, n_p = upper.shape
    capped = np.isfinite(ent_cap)
    alone = np.minimum(upper, _ratio(remaining[None, :], sizes[:, None]))
    s = np.where(capped[:, None],
                 np.minimum(alone, _ratio(np.where(capped, ent_cap, 0.0)[:, None], wp[None, :])),
                 alone)
    live = np.flatnonzero((s > 0).ravel() & np.isfinite(s).ravel())
    b = fresh(n_cls * n_p, zeros=True)
    if not live.size:
        return b.reshape(n_cls, n_p)
    c_of, p_of = live // n_p, live % n_p
    sv = s.ravel()[live]
    n_v = len(live)
    with np.errstate(under="ignore"):
        cap_coef = sizes[c_of] * sv / remaining[p_of]
        rows, rhs = _sparse_rows(cap_coef, p_of, np.arange(n_v), (n_p, n_v))
        rows, rhs = [rows], [rhs]
        ent = capped[c_of]
        if ent.any():
            d_cls = np.flatnonzero(capped)
            row_of = np.full(n_cls, -1)
            row_of[d_cls] = np.arange(len(d_cls))
            coef = wp[p_of[ent]] * sv[ent] / ent_cap[c_of[ent]]
            more, more_rhs = _sparse_rows(coef, row_of[c_of[ent]], np.flatnonzero(ent),
                                          (len(d_cls), n_v))
            rows.append(more)
            rhs.append(more_rhs)
        obj = sizes[c_of] * wp[p_of] * sv
    if not obj.max() > 0:  # every coefficient underflowed: nothing representable to add
        return b.reshape(n_cls, n_p)
    hi = _ratio(upper.ravel()[live], sv)
    res = _solve("step-2", -obj / obj.max(), sp.vstack(rows).tocsr(), np.concatenate(rhs),
                 _bounds(hi))
    b[live] = np.clip(res.x, 0.0, hi) * sv
    return b.reshape(n_cls, n_p)


def verify_round(extra: np.ndarray, remaining: np.ndarray, gap: np.ndarray,
                 weights: np.ndarray, ent: np.ndarray, sizes: np.ndarray | None = None
                 ) -> tuple[np.ndarray, bool]:
    """Check one step-2 round b (N × P) and shrink it onto its limits where it breaks them.

    Limits: Σ_i b_it ≤ R_t per period, b ≤ gap (so a + b ≤ r), Σ_t w_t b_it ≤ ent_i per
    account with an entitlement row (+inf: none). Returns b and whether it was repaired.
    NaN or negative amounts raise :class:`SolverFailure` naming the accounts. With
    ``sizes``, each row stands for that many accounts with the same b, the same gap (the
    smallest of theirs) and the same entitlement (its rows are classes of accounts).

    Parameters
    ----------
    extra : numpy.ndarray
        The round's amounts b, accounts × leftover periods (N × P).
    remaining : numpy.ndarray
        Remaining capacity R_t per leftover period.
    gap : numpy.ndarray
        Unmet request r − a, N × P.
    weights : numpy.ndarray
        Weight per leftover period.
    ent : numpy.ndarray
        Entitlement cap per account (+inf: none).
    sizes : numpy.ndarray, optional
        Accounts per row (default: 1 each).

    Returns
    -------
    extra : numpy.ndarray
        b, shrunk onto its limits where it broke them.
    repaired : bool
        Whether anything was shrunk.

    Raises
    ------
    fairalloc.solvers.verify.SolverFailure
        NaN or negative amounts, naming the accounts.

    Examples
    --------
    >>> b, fixed = verify_round(np.array([[2.0], [2.0]]), np.array([3.0]),
    ...                         np.array([[5.0], [5.0]]), np.ones(1), np.full(2, np.inf))
    >>> b.sum() <= 3.0, fixed
    (np.True_, True)
    """
    check(CAPABILITY, Status.ERROR, "account", "request", extra)
    repaired = False
    # b ≤ max(gap, 0) (a request met within float noise has gap 0); cheap test first, as
    # these (N × P) arrays are the large ones
    if not ((extra <= gap) | (extra <= 0)).all():
        gap = np.maximum(gap, 0.0)
        if over(extra, gap).any():
            extra, repaired = np.minimum(extra, gap), True
    ent_rows = np.isfinite(ent)
    if ent_rows.any() and over(rows_dot(extra, weights)[ent_rows], ent[ent_rows]).any():
        weighted = shrink_to((extra[ent_rows] * weights[None, :]).T, ent[ent_rows])
        extra = extra.copy()
        extra[ent_rows] = np.minimum(weighted.T / weights[None, :], extra[ent_rows])
        repaired = True
    if sizes is None:
        if over(extra.sum(axis=0), remaining).any():
            extra, repaired = shrink_to(extra, np.maximum(remaining, 0.0)), True
    elif over(cols_dot(sizes, extra), remaining).any():
        total = shrink_to(extra * sizes[:, None], np.maximum(remaining, 0.0))
        extra, repaired = np.minimum(total / sizes[:, None], extra), True
    return extra, repaired


@dataclass
class _Leftover:
    """Step 2's state per class: every account of a class gets the same b each round, so
    the unmet request of account i in period t is gap0_it − B_ct (gap0 = r − a after step 1,
    B the class's step-2 total so far) and only the (C × T) arrays change from round to round.

    ``low`` / ``high`` are the smallest and largest gap0 over each class's accounts (they
    differ only by the class's rounding, :data:`IDENTICAL_TOL`); ``share_min`` /
    ``share_sum`` the smallest and summed entitlement share, ``count`` the accounts.
    """

    low: np.ndarray  # (C, T)
    high: np.ndarray  # (C, T)
    extra: np.ndarray  # (C, T) B
    used: np.ndarray  # (T,) Σ_i a_it after step 1
    share_min: np.ndarray  # (C,)
    share_sum: np.ndarray  # (C,)
    count: np.ndarray  # (C,) float

    @classmethod
    def after_step1(cls, group: _Grouping, requests: np.ndarray, first: np.ndarray,
                    share: np.ndarray) -> _Leftover:
        gap0 = requests - first
        low, high = group.min_max(gap0)
        return cls(low, high, np.zeros(low.shape), first.sum(axis=0), group.min(share),
                   group.sum(share), group.sizes.astype(np.float64))


def _columns(a: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """The columns ``cols`` of a (C, T) array, laid out by rows (C order) like every other
    (C, T) array here: ``a[:, cols]`` with an array of columns is laid out by columns, which
    every later pass by rows (``ravel``, BLAS blocks, flat positions) copied again: about
    0.5 s of copies and fresh pages in a many-class 10^5 × 52 round.

    >>> a = np.arange(6.0).reshape(2, 3)
    >>> b = _columns(a, np.array([0, 2]))
    >>> b.tolist(), b.flags["C_CONTIGUOUS"]
    ([[0.0, 2.0], [3.0, 5.0]], True)
    """
    return np.take(a, cols, axis=1)


def _unmet_counts(state: _Leftover, periods: np.ndarray, low: np.ndarray, threshold: float,
                  group: _Grouping, requests: np.ndarray, first: np.ndarray,
                  share: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per class: how many of its accounts are unmet (some unmet request above
    ``threshold`` in a leftover period), and their summed share. ``low`` is each class's
    smallest unmet request in the leftover ``periods``. A class whose largest gap says unmet
    and smallest says met (its accounts straddle the threshold within the class's rounding)
    is counted account by account."""
    every = row_reduce(np.logical_or, low > threshold)
    count = np.where(every, state.count, 0.0)
    shares = np.where(every, state.share_sum, 0.0)
    if state.high is state.low:  # one account per class: nothing to straddle
        return count, shares
    every_period = len(periods) == state.extra.shape[1]  # then the arrays as they are
    extra = state.extra if every_period else _columns(state.extra, periods)
    high = state.high if every_period else _columns(state.high, periods)
    some = row_reduce(np.logical_or, (high - extra) > threshold)
    mixed = np.flatnonzero(some & ~every)
    if mixed.size:
        rows = np.flatnonzero(np.isin(group.ids, mixed))
        cls_of = group.ids[rows]
        gap = (requests[np.ix_(rows, periods)] - first[np.ix_(rows, periods)]) - extra[cls_of]
        unmet = (gap > threshold).any(axis=1)
        count += np.bincount(cls_of[unmet], minlength=len(count))
        shares += np.bincount(cls_of[unmet], weights=share[rows[unmet]], minlength=len(count))
    return count, shares


def _add_columns(total: np.ndarray, periods: np.ndarray, b: np.ndarray) -> None:
    """``total[:, periods] += b`` in place, by blocks of rows when ``periods`` are some of
    the columns (numpy would gather, add and scatter whole (C × P) temporaries).

    >>> total = np.ones((2, 3))
    >>> _add_columns(total, np.array([0, 2]), np.array([[1.0, 2.0], [3.0, 4.0]]))
    >>> total.tolist()
    [[2.0, 1.0, 3.0], [4.0, 1.0, 5.0]]
    """
    if len(periods) == total.shape[1]:  # every column, in order
        total += b
        return
    for rows in row_blocks(*total.shape):
        total[rows, periods] += b[rows]


def step2_round(state: _Leftover, capacity: np.ndarray, weights: np.ndarray,
                convergence_threshold: float, demand_gap_threshold: float,
                strategy: str = "max_flow", *, mixed) -> tuple[np.ndarray, bool] | None:
    """One leftover round on the classes: the extra allocation b per class (C × T) and
    whether it had to be repaired, or None when a stopping rule holds.

    Every account of a class gets the class's b (at most the smallest unmet request among
    them), so identical accounts stay identical. The entitlement cap of an unmet account
    (only when at least two are unmet) is its share renormalised over the unmet accounts
    times the weighted remaining capacity.

    Parameters
    ----------
    state : _Leftover
        Per-class unmet requests and step-2 totals so far.
    capacity : numpy.ndarray
        Capacity per period (T).
    weights : numpy.ndarray
        Weight per period (T).
    convergence_threshold : float
        A period is a leftover one while its remaining capacity exceeds this share of it.
    demand_gap_threshold : float
        An account is unmet while its unmet request exceeds this in a leftover period.
    strategy : str, default "max_flow"
        ``"max_flow"`` or ``"lp"`` (:data:`STEP2_SOLVERS`).
    mixed : callable
        ``(periods, low) -> (count, shares)``: unmet accounts and their summed share per
        class, given each class's smallest unmet request ``low`` in the leftover periods
        (:func:`_unmet_counts`, which counts the accounts of a class that straddles the
        threshold one by one).

    Returns
    -------
    tuple of (numpy.ndarray, numpy.ndarray, bool) or None
        The extra allocation per class in the leftover periods (C × P), those periods (P)
        and whether it was repaired; None when no period is left over or no account is
        unmet.

    Raises
    ------
    LPError
        HiGHS did not solve an LP.
    fairalloc.solvers.verify.SolverFailure
        An answer broke a limit beyond repair, naming the classes or periods.
    """
    solver = STEP2_SOLVERS.get(strategy)
    sizes = state.count
    remaining = capacity - (state.used + cols_dot(sizes, state.extra))
    periods = np.flatnonzero(remaining > convergence_threshold * capacity)
    if periods.size == 0:
        return None
    cols = slice(None) if periods.size == len(capacity) else periods  # a view when all
    if isinstance(cols, slice):  # each class's smallest unmet request
        low = state.low - state.extra
    else:
        low = _columns(state.low, cols)
        low -= _columns(state.extra, cols)
    count, shares = mixed(periods, low)
    n_unmet = float(count.sum())
    if n_unmet == 0:
        return None
    upper = np.maximum(low, 0.0, out=low)  # (C, P)
    wp = weights[periods]
    ent_cap = np.full(len(sizes), np.inf)
    if n_unmet >= 2:
        budget = float(shares.sum())
        # renormalised shares over the unmet accounts; equal shares when none holds currency
        own = state.share_min / budget if budget > 0 else np.full(len(sizes), 1.0 / n_unmet)
        pool = float(wp @ remaining[periods])
        ent_cap = np.where(count > 0, own * pool, np.inf)
    b_cls = solver(upper, sizes, wp, remaining[periods], ent_cap)
    np.maximum(b_cls, 0.0, out=b_cls)  # onto [0, upper] in place (np.clip copies, slowly)
    np.minimum(b_cls, upper, out=b_cls)
    b, repaired = verify_round(b_cls, remaining[periods], upper, wp, ent_cap, sizes)
    return b, periods, repaired


def verify_allocation(alloc: np.ndarray, requests: np.ndarray, capacity: np.ndarray,
                      more: np.ndarray | None = None) -> None:
    """The final check: 0 ≤ a ≤ r per (account, period) and Σ_i a_it ≤ X_t per period.

    Raises :class:`SolverFailure` naming the accounts or periods (the rounds are repaired one
    by one, so this only fails on a defect of the method itself). With ``more``, a is
    ``alloc + more``, added by blocks of rows as it is checked (never held whole).

    Parameters
    ----------
    alloc : numpy.ndarray
        Final allocation a, N × T (or its first part).
    requests : numpy.ndarray
        Requests r, accounts × periods (N × T).
    capacity : numpy.ndarray
        Capacity per period (T).
    more : numpy.ndarray, optional
        The allocation's second part, N × T.

    Raises
    ------
    fairalloc.solvers.verify.SolverFailure
        A negative amount, an amount above its request, or a period over its capacity.
    """
    used = np.zeros(alloc.shape[1])
    for rows in row_blocks(*alloc.shape):
        a = alloc[rows] if more is None else alloc[rows] + more[rows]
        if not ((a >= 0) & (a <= requests[rows])).all():  # cheap test first
            whole = alloc if more is None else alloc + more
            check(CAPABILITY, Status.ERROR, "account", "request", whole, requests)
        used += a.sum(axis=0)
    check(CAPABILITY, Status.ERROR, "period", "capacity", used, capacity)


def solve_periods(
    requests: np.ndarray,
    currency: np.ndarray,
    capacity: np.ndarray,
    weights: np.ndarray,
    *,
    two_step: bool = True,
    convergence_threshold: float = 0.01,
    demand_gap_threshold: float = 0.1,
    max_iterations: int = 10,
    step2_strategy: str = "max_flow",
) -> PeriodSolution:
    """Both steps of the entitlement allocation, each answer verified (see the module doc).

    Parameters
    ----------
    requests : numpy.ndarray
        Requests r, accounts × periods (N × T).
    currency : numpy.ndarray
        Currency per account (N).
    capacity : numpy.ndarray
        Capacity per period (T).
    weights : numpy.ndarray
        Weight per period (T).
    two_step : bool, default True
        Run the leftover rounds of step 2.
    convergence_threshold : float, default 0.01
        A period is a leftover one while its remaining capacity exceeds this share of it.
    demand_gap_threshold : float, default 0.1
        An account is unmet while its unmet request exceeds this in a leftover period.
    max_iterations : int, default 10
        At most this many step-2 rounds.
    step2_strategy : str, default "max_flow"
        ``"max_flow"`` or ``"lp"``.

    Returns
    -------
    PeriodSolution
        Step-1 and step-2 allocations, λ, caps, shares, weights, prices, the number of rounds
        and classes, and the status.

    Raises
    ------
    LPError
        HiGHS did not solve an LP.
    fairalloc.solvers.verify.SolverFailure
        An answer broke a limit beyond repair, naming the accounts or periods.

    Examples
    --------
    >>> sol = solve_periods(np.full((4, 4), 50.0), np.array([400.0, 300, 200, 100]),
    ...                     np.full(4, 120.0), np.ones(4))
    >>> (sol.step1 + sol.step2)[:, 0].round(9).tolist(), sol.status
    ([48.0, 36.0, 24.0, 12.0], 'optimal')
    """
    settle_malloc()  # glibc's thresholds at their top (see there)
    requests = np.asarray(requests, dtype=np.float64)
    currency = np.asarray(currency, dtype=np.float64)
    capacity = np.asarray(capacity, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    # Step 1 gives every account of a class (currency, requests) the same λ, and every round
    # the same b, so the classes of step 2 (currency, requests, allocation) are those of step 1
    group = _group(currency, requests)
    lam, price, u, share, n_cls, status = _step1(requests, currency, capacity, weights, group)
    first = np.multiply(lam[:, None], requests, out=fresh(requests.shape))
    iterations = 0
    second = fresh(first.shape, zeros=True)
    if two_step and max_iterations > 0:
        # the rounds work on the classes (C × T), the accounts' arrays are read once here
        # and written once at the end
        state = _Leftover.after_step1(group, requests, first, share)

        def mixed(periods, low):
            return _unmet_counts(state, periods, low, demand_gap_threshold, group, requests,
                                 first, share)

        for _ in range(max_iterations):
            got = step2_round(state, capacity, weights, convergence_threshold,
                              demand_gap_threshold, step2_strategy, mixed=mixed)
            if got is None:
                break
            b, periods, repaired = got
            if repaired:
                status = str(Status.REPAIRED)
            added = np.zeros(len(capacity))
            added[periods] = cols_dot(state.count, b)
            gain = float(added @ weights)
            _add_columns(state.extra, periods, b)
            iterations += 1
            if gain < MIN_GAIN:
                break
        if iterations:
            # (mode="clip": the ids are rows of extra; "raise" would buffer a whole copy)
            second = np.take(state.extra, group.ids, axis=0, mode="clip",
                             out=fresh((len(group.ids), state.extra.shape[1])))
    verify_allocation(first, requests, capacity, second)
    if status != Status.OPTIMAL:
        log.warning("periods: a solver answer broke a limit and was shrunk onto it")
    return PeriodSolution(first, second, lam, u, share, weights, price, iterations,
                          n_cls, status)


def systematic_lottery(
    prob: np.ndarray, capacity: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Whole units by dependent (systematic) rounding, period by period (columns).

    Each period orders its accounts by a seeded random permutation, lays their probabilities
    end to end on [0, S) and picks the points U, U + 1, … for one uniform U: account i wins
    with probability exactly p_i (p_i ≤ 1), and the number of winners is floor(S + U), never
    more than ceil(S). Where S exceeds the integer capacity, probabilities are first scaled
    down to it (returned as ``scale``), so winners never exceed it.

    Parameters
    ----------
    prob : numpy.ndarray
        Win probability in [0, 1] per account (rows) and period (columns).
    capacity : numpy.ndarray
        Integer capacity per period.
    seed : int
        Seed of the random orders and offsets.

    Returns
    -------
    won : numpy.ndarray
        Boolean, accounts × periods.
    scale : numpy.ndarray
        Factor applied to each period's probabilities (1 where they fit the capacity).

    Examples
    --------
    >>> won, scale = systematic_lottery(np.array([[0.5], [0.5], [1.0]]), np.array([2]), 0)
    >>> int(won.sum()), won[2, 0], scale.tolist()
    (2, np.True_, [1.0])
    """
    prob = np.asarray(prob, dtype=np.float64)
    cap = np.asarray(capacity, dtype=np.float64)
    total = prob.sum(axis=0)
    scale = np.where(total > cap, np.divide(cap, total, out=np.zeros_like(cap),
                                            where=total > 0), 1.0)
    p = prob * scale
    rng = np.random.default_rng(seed)
    order = np.argsort(rng.random(p.shape), axis=0, kind="stable")
    ps = np.take_along_axis(p, order, axis=0)
    upper = np.minimum(np.cumsum(ps, axis=0), cap)  # float guard: the sum never passes cap
    lower = np.vstack([np.zeros((1, p.shape[1])), upper[:-1]])
    offset = rng.random(p.shape[1])
    won_sorted = np.floor(upper + offset) - np.floor(lower + offset) >= 1
    won = np.empty_like(won_sorted)
    np.put_along_axis(won, order, won_sorted, axis=0)
    return won, scale
