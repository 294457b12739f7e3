"""Apportionment kernels: whole portions per key from ratios (SPEC §5), on arrays in key order.

Every function takes ``ratios`` (finite, ≥ 0 float64, one per key, keys in sorted order so that
"key order" is array order) and an integer ``total``, and returns int64 portions summing to
``total`` (all zeros when every ratio is 0). Keys with ratio 0 always get 0.

How the classic methods are computed
    Every method here is "the ``total`` largest values": key ``i``'s ``j``-th portion
    (j = 0, 1, …) has a value, decreasing in ``j``, and a method hands out the ``total`` largest
    values, equal values to the lower key first.

    * divisor methods: value ``r_i / d(j)`` with ``d(j) = j + 1`` (Jefferson, D'Hondt),
      ``j + 1/2`` (Webster, Sainte-Laguë), ``j`` (Adams) or ``sqrt(j (j + 1))``
      (Huntington-Hill). ``d(0) = 0`` makes a first portion worth more than any other, so Adams
      and Huntington-Hill give every positive key one portion when ``total`` allows; when it
      does not, first portions go by ratio descending, then key (the limit of ``d(0) → 0``).
    * Hamilton (largest remainders): value ``q_i - j`` with the exact quota
      ``q_i = total r_i / Σ r``. The values ≥ 1 are the ``floor(q_i)`` whole portions, and
      the values in [0, 1) are the remainders, so the ``total`` largest values are exactly
      "floors, then the largest remainders".

    Floats find the threshold value ``t`` (the ``total``-th largest) with vectorised counts and
    one partial sort; portions whose float value lies within ``2**-46`` of ``t`` (relative to
    ``t`` for divisor methods, to the largest quota for Hamilton) are then ranked exactly, with
    :class:`fractions.Fraction` on the exact values of the float ratios, one evaluation per
    distinct (ratio, j) pair. So float rounding never flips a
    portion, and the exact work stays proportional to the number of near-ties.

The two-pass ``priority`` rule is integer arithmetic throughout; its minimum share
``ceil(total / Σ r)`` uses the exact sum of the float ratios (:func:`exact_sum`).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from fractions import Fraction

import numpy as np

from fairalloc.solvers.registry import Registry
from fairalloc.solvers.verify import SolverFailure, Status

METHODS = Registry("apportionment method")

#: Largest total accepted: counts stay exact in float64 with room for the ±1 corrections.
MAX_TOTAL = 2**50

#: Float values within this relative distance of the threshold are ranked exactly. Every float
#: value is within 2**-50 (relative) of its true value, so the band is 16 times the error; near
#: total = 2**50 Hamilton's band holds most remainders and the exact work grows with the keys.
BAND = 2.0**-46

_CHUNK = 2**25  # float64 sums of 27-bit integers stay exact for this many terms


def apportion(ratios: np.ndarray, total: int, method: str = "priority") -> np.ndarray:
    """Whole portions per key summing to ``total`` (zeros if every ratio is 0).

    Parameters
    ----------
    ratios : numpy.ndarray
        Ratio per key code, finite and ≥ 0.
    total : int
        Whole number of portions to hand out, ≥ 0.
    method : str, default "priority"
        A name registered in :data:`METHODS`.

    Returns
    -------
    numpy.ndarray
        int64 portions per key code.

    Raises
    ------
    KeyError
        An unknown ``method`` (the message lists the known ones).
    fairalloc.solvers.verify.SolverFailure
        The portions fail :func:`verify_portions`.

    Examples
    --------
    >>> apportion(np.array([3.0, 1.0]), 8).tolist()
    [6, 2]
    >>> apportion(np.array([5.0, 0.0, 3.0]), 7, "jefferson").tolist()
    [5, 0, 2]
    """
    fn = METHODS.get(method)
    ratios = np.ascontiguousarray(ratios, dtype=np.float64)
    out = np.zeros(len(ratios), dtype=np.int64)
    positive = np.flatnonzero(ratios > 0)
    if total and len(positive):
        out[positive] = fn(ratios[positive], int(total))
    verify_portions(ratios, int(total), out, method)
    return out


def verify_portions(ratios: np.ndarray, total: int, portions: np.ndarray,
                    method: str = "") -> None:
    """Raise :class:`~fairalloc.solvers.verify.SolverFailure` unless ``portions`` are an
    apportionment of ``total``: whole numbers ≥ 0, 0 for every key of ratio 0, summing exactly to
    ``total`` (to 0 when no ratio is positive). Integer arithmetic, O(keys); ``codes`` index the
    keys.

    Parameters
    ----------
    ratios : numpy.ndarray
        Ratio per key code.
    total : int
        The number of portions handed out.
    portions : numpy.ndarray
        The portions to check, per key code.
    method : str, default ""
        The method's name, shown in the message.

    Raises
    ------
    fairalloc.solvers.verify.SolverFailure
        Negative portions, portions to a key of ratio 0 (``codes`` name the keys), or a wrong
        sum.

    Examples
    --------
    >>> verify_portions(np.array([1.0, 0.0]), 3, np.array([2, 1]))
    Traceback (most recent call last):
    ...
    fairalloc.solvers.verify.SolverFailure: portions: status optimal, but 1 key(s) of ratio 0 get \
portions (codes [1])
    """
    portions = np.asarray(portions)
    word = f" ({method})" if method else ""
    checks = (
        (portions < 0, "get negative portions"),
        ((ratios <= 0) & (portions != 0), "of ratio 0 get portions"),
    )
    for bad, text in checks:
        if bad.any():
            codes = np.flatnonzero(bad)
            raise SolverFailure("portions", Status.OPTIMAL,
                                f"status optimal, but {len(codes)} key(s){word} {text} "
                                f"(codes {codes[:10].tolist()})", "key", codes[:10], "portions")
    expected = total if (ratios > 0).any() else 0
    got = int(portions.sum(dtype=np.int64))
    if got != expected:
        raise SolverFailure("portions", Status.OPTIMAL,
                            f"status optimal, but the portions{word} sum to {got}, not "
                            f"{expected}", "", (), "total")


def exact_sum(r: np.ndarray) -> Fraction:
    """The exact sum of float64 values ≥ 0 (no rounding), vectorised.

    Each value is ``m 2**e`` with a 53-bit integer ``m``; the high and low halves of ``m`` are
    summed per exponent (float64 sums of 27-bit integers are exact), and only the distinct
    exponents — at most about 2 100 — are combined in Python integers.

    Parameters
    ----------
    r : numpy.ndarray
        float64 values ≥ 0.

    Returns
    -------
    fractions.Fraction
        Their exact sum.

    Examples
    --------
    >>> exact_sum(np.array([0.1, 0.2])) == Fraction(0.1) + Fraction(0.2)
    True
    """
    mant, exp = np.frexp(r)
    m = np.ldexp(mant, 53).astype(np.int64)
    e = exp.astype(np.int64) - 53
    if not len(r):
        return Fraction(0)
    emin = int(e.min())
    acc = 0
    for start in range(0, len(r), _CHUNK):  # exponents span at most ~2 100 values
        ms, es = m[start:start + _CHUNK], e[start:start + _CHUNK] - emin
        hi = np.bincount(es, weights=(ms >> 26).astype(np.float64))
        lo = np.bincount(es, weights=(ms & (2**26 - 1)).astype(np.float64))
        for x in np.flatnonzero((hi != 0) | (lo != 0)).tolist():
            acc += (int(hi[x]) << (x + 26)) + (int(lo[x]) << x)
    return Fraction(acc) * Fraction(2) ** emin


def _first(r: np.ndarray, k: int) -> np.ndarray:
    """The first ``k`` keys by ratio descending, then key (no full sort: a partition first).

    >>> _first(np.array([1.0, 3.0, 1.0, 3.0]), 3).tolist()
    [1, 3, 0]
    """
    kth = np.partition(-r, k - 1)[k - 1]
    near = np.flatnonzero(-r <= kth)  # every key at least as high as the k-th, in key order
    return near[np.argsort(-r[near], kind="stable")[:k]]


@METHODS.register("priority")
def _priority(r: np.ndarray, total: int) -> np.ndarray:
    """The two-pass rule: minimum shares in priority order, then the rest to the top ratio."""
    n = len(r)
    share = min(math.ceil(Fraction(total) / exact_sum(r)), total)
    full = total // share  # keys that get a whole minimum share
    if full >= n:
        out = np.full(n, share, dtype=np.int64)
    else:
        out = np.zeros(n, dtype=np.int64)
        order = _first(r, full + 1)
        out[order[:full]] = share
        out[order[full]] = total - full * share  # less than a share: portions ran out
    rest = total - int(out.sum())
    top = np.flatnonzero(r == r.max())  # in key order
    out[top] += rest // len(top)
    out[top[: rest % len(top)]] += 1
    return out


class _Values(ABC):
    """Key ``i``'s ``j``-th portion value: float approximation, count and exact value."""

    total: int

    @abstractmethod
    def value(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Float values of portions ``j`` of keys ``i`` (within 2**-50 of the true ones)."""

    @abstractmethod
    def approx_count(self, x: float) -> np.ndarray:
        """Roughly how many portions of each key are worth ≥ x (may be off by one)."""

    @abstractmethod
    def exact(self, r: float, j: int) -> Fraction:
        """A number ordered exactly like the true value of a portion (ratio ``r``, index j)."""

    def fractions(self, r: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """For whole-number ratios (< 2**52): int64 numerators and positive denominators of
        numbers ordered like the true values, reduced; None when they would overflow."""
        return None

    def band(self, t: float) -> float:
        return BAND * abs(t)


class _Divisor(_Values):
    def __init__(self, r: np.ndarray, total: int, offset: float, geometric: bool = False):
        self.r, self.total = r, total
        self.offset, self.geometric = offset, geometric  # d(j) = j + offset, or sqrt(j (j + 1))
        # ratios rescaled by a power of two for the float values only (exact ranking uses r)
        self.rs = np.ldexp(r, -int(np.frexp(r.max())[1]))

    def _d(self, j: np.ndarray) -> np.ndarray:
        jf = j.astype(np.float64)
        return np.sqrt(jf * (jf + 1.0)) if self.geometric else jf + self.offset

    def value(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        d = self._d(j)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = self.rs[i] / d
        out[d == 0.0] = np.inf  # a first portion under d(0) = 0, even for an underflowed ratio
        return out

    def approx_count(self, x: float) -> np.ndarray:
        y = np.minimum(self.rs / x, float(self.total) + 2.0)
        if self.geometric:  # j (j + 1) ≤ y², j ≥ 0
            c = np.floor((np.sqrt(1.0 + 4.0 * y * y) - 1.0) / 2.0) + 1.0
        else:  # j + offset ≤ y
            c = np.floor(y - self.offset) + 1.0
        return np.maximum(c, 0.0).astype(np.int64)

    def fractions(self, r: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        m = r.astype(np.int64)
        if self.geometric:  # compared through squares: r² / (j (j + 1))
            if r.max() >= 2.0**31 or j.max() >= 2**31:
                return None
            num, den = m * m, j * (j + 1)
        elif self.offset == 0.5:  # r / (j + 1/2) = 2r / (2j + 1)
            num, den = 2 * m, 2 * j + 1
        else:
            num, den = m, j + int(self.offset)
        g = np.gcd(num, den)
        return num // g, den // g

    def exact(self, r: float, j: int) -> Fraction:
        if self.geometric:
            return Fraction(r) ** 2 / (j * (j + 1))
        return Fraction(r) / (j + Fraction(self.offset))


class _Quota(_Values):
    def __init__(self, r: np.ndarray, total: int):
        self.total = total
        self.exact_sum = exact_sum(r)
        shift = int(np.frexp(r.max())[1])
        rs = np.ldexp(r, -shift)  # no overflow in the float sum, whatever the magnitudes
        self.q = rs * (total / float(self.exact_sum / Fraction(2) ** shift))
        self.tol = BAND * (float(self.q.max()) + 1.0)

    def value(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        return self.q[i] - j

    def approx_count(self, x: float) -> np.ndarray:
        c = np.floor(np.minimum(self.q - x, float(self.total) + 2.0)) + 1.0
        return np.maximum(c, 0.0).astype(np.int64)

    def fractions(self, r: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        s = self.exact_sum  # value = (total r - j s) / s, whole when every ratio is whole
        if s.denominator != 1 or self.total * int(r.max()) >= 2**62 or int(j.max()) * s >= 2**62:
            return None
        num = self.total * r.astype(np.int64) - j * int(s)
        return num, np.full(len(num), int(s), dtype=np.int64)

    def exact(self, r: float, j: int) -> Fraction:
        return self.total * Fraction(r) / self.exact_sum - j

    def band(self, t: float) -> float:
        return self.tol


def _count(v: _Values, x: float) -> np.ndarray:
    """How many portions of each key have float value ≥ x (at most total + 1), consistent
    with ``v.value``."""
    # no key needs more than total + 1: a larger count changes no decision, and it keeps
    # counts at tiny x finite
    cap = v.total + 1
    c = np.minimum(v.approx_count(x), cap)
    idx = np.arange(len(c))
    for _ in range(4):
        down = (c > 0) & (v.value(idx, np.maximum(c - 1, 0)) < x)
        up = (c < cap) & (v.value(idx, c) >= x)
        if not (down.any() or up.any()):
            return c
        c = c - down + up
    raise ArithmeticError(f"portion counts at {x!r} did not settle")


def _between(base: np.ndarray, top: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(key, j) of every portion with base[key] ≤ j < top[key], key-major."""
    lens = top - base
    idx = np.repeat(np.arange(len(base)), lens)
    starts = np.cumsum(lens) - lens
    return idx, base[idx] + np.arange(len(idx)) - starts[idx]


def _exact_ranks(v: _Values, r: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Dense ranks (ascending) of the exact values of portions (ratio ``r``, index ``j``).

    Whole-number ratios give each value as a reduced integer fraction (``v.fractions``), so
    equal values are found with numpy, and a common denominator orders them outright; other
    ratios are evaluated once per distinct (ratio, j) with :class:`fractions.Fraction`.
    """
    fractions = v.fractions(r, j) if (r == np.floor(r)).all() and r.max() < 2.0**52 else None
    if fractions is not None and (fractions[1] == fractions[1][0]).all():
        return np.unique(fractions[0], return_inverse=True)[1].ravel()
    if fractions is not None:
        nums, dens, inv = _distinct_pairs(*fractions)
        exact = [Fraction(a, b) for a, b in zip(nums.tolist(), dens.tolist(), strict=True)]
    else:
        ratios, js, inv = _distinct_pairs(r, j)
        exact = [v.exact(x, jj) for x, jj in zip(ratios.tolist(), js.tolist(), strict=True)]
    order = sorted(range(len(exact)), key=exact.__getitem__)
    new = [pos == 0 or exact[u] != exact[order[pos - 1]] for pos, u in enumerate(order)]
    rank = np.empty(len(exact), dtype=np.int64)
    rank[order] = np.cumsum(new) - 1  # equal exact values share a rank
    return rank[inv]


def _distinct_pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct (a, b) pairs and each element's pair: two 1-d uniques and one on codes.

    >>> _distinct_pairs(np.array([2.0, 1.0, 2.0]), np.array([5, 5, 5]))
    (array([1., 2.]), array([5, 5]), array([1, 0, 1]))
    """
    ua, ia = np.unique(a, return_inverse=True)
    ub, ib = np.unique(b, return_inverse=True)
    codes, inv = np.unique(ia.astype(np.int64) * len(ub) + ib, return_inverse=True)
    return ua[codes // len(ub)], ub[codes % len(ub)], inv


def _largest(v: _Values, r: np.ndarray, total: int, lo: float, hi: float,
             counts: dict[float, np.ndarray] | None = None) -> np.ndarray:
    """Portions per key: the ``total`` largest values, equal values to the lower key first.

    ``lo`` and ``hi`` bracket the threshold: at least ``total`` portions are worth ≥ lo and
    fewer than ``total`` are worth ≥ hi. ``counts`` holds per-key counts already computed.
    """
    counts = counts or {}
    base = counts[hi] if hi in counts else _count(v, hi)
    top = counts[lo] if lo in counts else _count(v, lo)
    idx, j = _between(base, top)
    k = total - int(base.sum())  # the threshold is the k-th largest value in [lo, hi)
    if not 1 <= k <= len(idx):
        raise ArithmeticError("the threshold bracket does not hold the total-th value")
    vals = v.value(idx, j)
    t = float(np.partition(vals, len(vals) - k)[len(vals) - k])
    # every float value is within far less than the band of its true value, and so is t of
    # the true threshold: above the band is surely in, below it surely out
    tol = v.band(t)
    sure, maybe = _count(v, t + tol), _count(v, t - tol)
    slots = total - int(sure.sum())
    idx, j = _between(sure, maybe)
    if not 0 <= slots <= len(idx):
        raise ArithmeticError("the exact band does not hold the threshold")
    if slots in (0, len(idx)):
        return sure if slots == 0 else maybe
    rank = _exact_ranks(v, r[idx], j)
    chosen = np.lexsort((idx, -rank))[:slots]
    return sure + np.bincount(idx[chosen], minlength=len(r))


def _divisor_method(r: np.ndarray, total: int, offset: float, geometric: bool = False
                    ) -> np.ndarray:
    n = len(r)
    if offset == 0.0 and total <= n:
        # d(0) = 0: first portions only, by ratio descending, then key
        out = np.zeros(n, dtype=np.int64)
        out[_first(r, total)] = 1
        return out
    v = _Divisor(r, total, offset, geometric)
    counts: dict[float, np.ndarray] = {}

    def above(x: float) -> int:  # portions worth ≥ x, per-key counts kept for _largest
        if x not in counts:
            counts[x] = _count(v, x)
        return int(counts[x].sum())

    s = float(v.rs.sum())
    # about S / x + n (1/2 - offset) portions are worth ≥ x; a few Newton steps on that model
    x = s / (total + n * (offset - 0.5))
    for _ in range(2):
        x = s / max(s / x + (total - above(x)), 0.5)
    lo = hi = None
    step = 1.0 + max((n + 2.0) / total, 2.0**-30)
    while lo is None or hi is None:
        if above(x) >= total:
            lo = x
            x = x * step
        else:
            hi = x
            x = x / step
        step = min(step * step, 2.0)
    # narrow until the bracket holds few portions
    while above(lo) - above(hi) > 2 * n + 64 and hi > lo * (1.0 + 2.0**-45):
        mid = math.sqrt(lo * hi)
        if above(mid) >= total:
            lo = mid
        else:
            hi = mid
    return _largest(v, r, total, lo, hi, counts)


@METHODS.register("hamilton")
def _hamilton(r: np.ndarray, total: int) -> np.ndarray:
    """Largest remainders: floor of the exact quota, then the largest remainders."""
    # values ≥ 1 are whole quotas, the threshold is a remainder in [0, 1]: a bracket just
    # wider than the float error holds about one portion per key
    v = _Quota(r, total)
    return _largest(v, r, total, -4.0 * v.tol, 1.0 + 4.0 * v.tol)


@METHODS.register("jefferson")
def _jefferson(r: np.ndarray, total: int) -> np.ndarray:
    """D'Hondt: divisors 1, 2, 3, …"""
    return _divisor_method(r, total, 1.0)


@METHODS.register("webster")
def _webster(r: np.ndarray, total: int) -> np.ndarray:
    """Sainte-Laguë: divisors 1/2, 3/2, 5/2, … (the same order as 1, 3, 5, …)."""
    return _divisor_method(r, total, 0.5)


@METHODS.register("adams")
def _adams(r: np.ndarray, total: int) -> np.ndarray:
    """Divisors 0, 1, 2, …: every positive key first gets one portion."""
    return _divisor_method(r, total, 0.0)


@METHODS.register("huntington_hill")
def _huntington_hill(r: np.ndarray, total: int) -> np.ndarray:
    """Divisors sqrt(j (j + 1)): 0, √2, √6, …"""
    return _divisor_method(r, total, 0.0, geometric=True)
