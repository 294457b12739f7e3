"""Checking every solver answer before it is returned, and the one status vocabulary.

A solver answer is never trusted: each capability's kernel calls :func:`check` on what it is
about to return (amounts per resource against capacity, per claimant against its request,
non-negativity). A breach beyond float noise either is repaired exactly by the kernel (for
example :func:`shrink_to`, which scales the offending flows down so that their sum is at most
the limit) and the answer is reported with status ``"repaired"``, or it raises
:class:`SolverFailure`, which the transforms turn into a
:class:`~fairalloc.transforms.errors.SolverError` naming the capability, the status and the
offending keys.

The tolerance is relative to the limit itself (``amount <= limit * (1 + RTOL)``), never to a
global maximum, so a period of capacity 0.5 is held to 0.5 however large the other periods are.

Examples
--------
>>> check("periods", "optimal", "period", "capacity", np.array([1.0, 0.6]), np.array([1.0, 0.5]))
Traceback (most recent call last):
...
fairalloc.solvers.verify.SolverFailure: periods: status optimal, but the answer exceeds period \
capacity \
at 1 of them (codes [1])
>>> used = shrink_to(np.array([[0.4, 0.2]]), np.array([0.3, 1.0]))
>>> used.tolist()
[[0.3, 0.2]]
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

import numpy as np

#: Relative tolerance of every check: an amount may exceed its limit by this fraction of the
#: limit (float noise of sums of non-negative terms is far below it).
RTOL = 1e-9


class Status(StrEnum):
    """How a solve ended; reports carry it as a plain string.

    >>> Status.REPAIRED == "repaired", Status.REPAIRED
    (True, 'repaired')
    """

    OPTIMAL = "optimal"
    REPAIRED = "repaired"
    ITERATION_LIMIT = "iteration_limit"
    SUBOPTIMAL = "suboptimal"
    INFEASIBLE = "infeasible"
    ERROR = "error"

    def __repr__(self) -> str:  # shown as the plain word it equals, e.g. in result tuples
        return repr(self.value)

    @property
    def describe(self) -> str:  # numpydoc ignore=RT01
        """What the status means for the answer, in one sentence (a report's default message).

        >>> Status("repaired").describe
        'the solver broke a limit beyond float noise; its answer was scaled back onto the limit'
        """
        return _MEANING[self]


_MEANING = {
    Status.OPTIMAL: "solved to optimality; every limit verified",
    Status.REPAIRED: "the solver broke a limit beyond float noise; its answer was scaled back "
                     "onto the limit",
    Status.ITERATION_LIMIT: "stopped at the iteration limit; the answer is feasible and verified "
                            "but may not be maximal",
    Status.SUBOPTIMAL: "every limit holds, but the answer is known to miss the optimum: the "
                       "method reached the end of what float64 lets it resolve",
    Status.INFEASIBLE: "the problem has no feasible answer",
    Status.ERROR: "the solver failed",
}


class SolverFailure(RuntimeError):
    """A solver failed, or its answer broke an invariant that could not be repaired.

    Parameters
    ----------
    capability : str
        The problem (``"periods"``, ``"coverage"``, …).
    status : str
        The solver's word for how it ended (a :class:`Status` or the back-end's own).
    message : str
        What went wrong, in one sentence.
    what : str, default ""
        The kind of key the ``codes`` index (``"period"``, ``"resource"``, …; empty when the
        failure names no key).
    codes : sequence of int, default ()
        Codes of the offending keys.
    limit : str, default ""
        The invariant broken.
    """

    def __init__(self, capability: str, status: str, message: str, what: str = "",
                 codes: Sequence[int] = (), limit: str = ""):
        self.capability, self.status, self.what, self.limit = capability, str(status), what, limit
        self.codes = [int(c) for c in codes]
        self.detail = message
        super().__init__(f"{capability}: {message}")


def over(amount: np.ndarray, limit: np.ndarray, rtol: float = RTOL) -> np.ndarray:
    """Where ``amount`` exceeds ``limit`` by more than ``rtol`` of the limit (NaN counts).

    Parameters
    ----------
    amount : numpy.ndarray
        Amounts.
    limit : numpy.ndarray
        Limits, aligned with (or broadcast to) ``amount``.
    rtol : float, default RTOL
        Relative slack of each limit.

    Returns
    -------
    numpy.ndarray
        Boolean mask of the breaches.

    Examples
    --------
    >>> over(np.array([1.0 + 1e-12, 2.0, np.nan]), np.array([1.0, 1.0, 1.0])).tolist()
    [False, True, True]
    """
    amount = np.asarray(amount, dtype=np.float64)
    limit = np.asarray(limit, dtype=np.float64)
    return ~(amount <= limit + rtol * np.abs(limit))


def negative(amount: np.ndarray) -> np.ndarray:
    """Where an amount is negative or NaN.

    Parameters
    ----------
    amount : numpy.ndarray
        Amounts.

    Returns
    -------
    numpy.ndarray
        Boolean mask of the negative or NaN amounts.

    Examples
    --------
    >>> negative(np.array([0.0, -1e-300, np.nan])).tolist()
    [False, True, True]
    """
    return ~(np.asarray(amount, dtype=np.float64) >= 0)


def check(capability: str, status: str, what: str, limit_name: str, amount: np.ndarray,
          limit: np.ndarray | None = None, rtol: float = RTOL) -> None:
    """Raise :class:`SolverFailure` where ``amount`` is negative or NaN, or over ``limit``.

    ``amount`` and ``limit`` are aligned arrays over the keys of kind ``what`` (a 2-D amount
    is checked cell by cell and reported by row).

    Parameters
    ----------
    capability : str
        The capability the failure names.
    status : str
        The solver status reported with it.
    what : str
        The kind of key the rows are (``"source"``, ``"period"`` …).
    limit_name : str
        The name of the limit (``"capacity"`` …).
    amount : numpy.ndarray
        Amounts per key (1-D), or per key and cell (2-D).
    limit : numpy.ndarray, optional
        Limits aligned with ``amount``; None checks the sign only.
    rtol : float, default RTOL
        Relative slack of each limit.

    Raises
    ------
    SolverFailure
        Naming up to 10 offending rows by code.
    """
    amount = np.asarray(amount, dtype=np.float64)
    bad = negative(amount)
    word = "is negative or NaN"
    if not bad.any() and limit is not None:
        bad = over(amount, limit, rtol)
        word = f"exceeds {what} {limit_name}"
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=tuple(range(1, bad.ndim))) if bad.ndim > 1 else bad)
        raise SolverFailure(
            capability, status,
            f"status {status}, but the answer {word} at {len(rows)} of them "
            f"(codes {rows[:10].tolist()})",
            what, rows[:10], limit_name,
        )


def shrink_keyed(values: np.ndarray, key: np.ndarray, limit: np.ndarray,
                 only: np.ndarray | None = None, capability: str = "repair",
                 what: str = "") -> np.ndarray:
    """Scale the values of every key whose sum exceeds its limit so that the float sum fits.

    The factor is limit / sum, then stepped down one float at a time until the recomputed sum
    fits, so the result holds in float64, not only in exact arithmetic. Keys within their
    limit (or outside ``only``) keep their values unchanged.

    Parameters
    ----------
    values : numpy.ndarray
        Non-negative contributions (flows on arcs, cells of a matrix), 1-D.
    key : numpy.ndarray
        The key (limit index) of each value.
    limit : numpy.ndarray
        Limit per key.
    only : numpy.ndarray, optional
        Boolean per key: only these keys may be scaled (default: every key).
    capability : str, default "repair"
        Named by the failure.
    what : str, default ""
        The kind of key, named by the failure.

    Returns
    -------
    numpy.ndarray
        A scaled copy of ``values``.

    Raises
    ------
    SolverFailure
        The sums do not fit after 64 steps.

    Examples
    --------
    >>> shrink_keyed(np.array([0.4, 0.2, 0.5]), np.array([0, 1, 0]), np.array([0.6, 1.0]))
    array([0.26666667, 0.2       , 0.33333333])
    """
    values = np.array(values, dtype=np.float64, copy=True)
    limit = np.asarray(limit, dtype=np.float64)
    n = len(limit)
    allowed = np.ones(n, dtype=bool) if only is None else np.asarray(only, dtype=bool)
    for step in range(64):  # after the first exact ratio, one ulp down per round
        total = np.bincount(key, weights=values, minlength=n)
        bad = allowed & (total > limit)
        if not bad.any():
            return values
        factor = np.divide(limit, total, out=np.ones(n), where=bad & (total > 0))
        if step:
            factor = np.where(bad, np.nextafter(factor, 0.0), 1.0)
        values *= np.minimum(factor, 1.0)[key]
    raise SolverFailure(capability, Status.ERROR, "could not scale flows below their limit",
                        what, np.flatnonzero(bad))


def shrink_to(parts: np.ndarray, limit: np.ndarray) -> np.ndarray:
    """:func:`shrink_keyed` on a dense matrix: scale the columns of ``parts`` (rows:
    contributors, columns: limits) whose sum exceeds ``limit`` so that the sum fits.

    Parameters
    ----------
    parts : numpy.ndarray
        Contributions, rows × limits (a 1-D array is one row).
    limit : numpy.ndarray
        Limit per column.

    Returns
    -------
    numpy.ndarray
        A scaled copy, 2-D.
    """
    parts = np.array(parts, dtype=np.float64, ndmin=2)
    columns = np.broadcast_to(np.arange(parts.shape[1]), parts.shape).ravel()
    return shrink_keyed(parts.ravel(), columns, limit).reshape(parts.shape)
