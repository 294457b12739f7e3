"""Apportionment written the textbook way, in exact rational arithmetic, for the tests.

One portion at a time for the divisor methods (the sequential "highest averages" procedure),
floors then sorted remainders for Hamilton, and the spec's two passes read literally for the
priority rule. Keys are handled in sorted order; ties go to the lower key. Slow on purpose:
nothing here is shared with :mod:`fairalloc.solvers.portions`.
"""

from __future__ import annotations

import math
from fractions import Fraction


def _sorted(ratios: dict) -> tuple[list, list[Fraction]]:
    keys = sorted(ratios)
    return keys, [Fraction(ratios[k]) for k in keys]


def priority(ratios: dict, total: int) -> dict:
    keys, r = _sorted(ratios)
    out = dict.fromkeys(keys, 0)
    positive = [k for k, x in zip(keys, r, strict=True) if x > 0]
    if not positive or not total:
        return out
    share = math.ceil(Fraction(total) / sum(r))
    remain = total
    for k in sorted(positive, key=lambda k: (-Fraction(ratios[k]), k)):
        give = min(share, remain)
        out[k] += give
        remain -= give
    top = max(r)
    tied = [k for k, x in zip(keys, r, strict=True) if x == top]
    each, extra = divmod(remain, len(tied))
    for i, k in enumerate(tied):
        out[k] += each + (1 if i < extra else 0)
    return out


def hamilton(ratios: dict, total: int) -> dict:
    keys, r = _sorted(ratios)
    s = sum(r)
    if not s or not total:
        return dict.fromkeys(keys, 0)
    quota = [total * x / s for x in r]
    out = {k: math.floor(q) for k, q in zip(keys, quota, strict=True)}
    left = total - sum(out.values())
    by_remainder = sorted(range(len(keys)), key=lambda i: (-(quota[i] - math.floor(quota[i])), i))
    for i in by_remainder[:left]:
        out[keys[i]] += 1
    return out


def _divisor(d0_zero: bool, value) -> callable:
    def method(ratios: dict, total: int) -> dict:
        keys, r = _sorted(ratios)
        seats = [0] * len(keys)
        if not any(r):
            return dict.fromkeys(keys, 0)
        for _ in range(total):
            best, best_claim = None, None
            for i, x in enumerate(r):
                if x == 0:
                    continue
                # a first portion under d(0) = 0 outranks everything, by ratio then key
                claim = (1, x) if d0_zero and seats[i] == 0 else (0, value(x, seats[i]))
                if best is None or claim > best_claim:  # strict: the lower key keeps a tie
                    best, best_claim = i, claim
            seats[best] += 1
        return dict(zip(keys, seats, strict=True))

    return method


jefferson = _divisor(False, lambda x, a: x / (a + 1))
webster = _divisor(False, lambda x, a: x / (a + Fraction(1, 2)))
adams = _divisor(True, lambda x, a: x / a)
# compared through squares: x / sqrt(a (a + 1)) orders like x² / (a (a + 1))
huntington_hill = _divisor(True, lambda x, a: x * x / (a * (a + 1)))

METHODS = {
    "priority": priority, "hamilton": hamilton, "jefferson": jefferson, "webster": webster,
    "adams": adams, "huntington_hill": huntington_hill,
}
