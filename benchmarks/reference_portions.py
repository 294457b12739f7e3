"""Apportionment the way it is usually written, as the benchmark's reference.

* divisor methods: the sequential "highest averages" procedure on a heap — each portion goes to
  the key with the largest ``r / d(seats)``, which is then pushed back with its next value;
* Hamilton: floats, vectorised — floor of ``total · r / Σ r``, then the largest remainders;
* priority: the spec's two passes read literally, a loop over keys in priority order.

Float arithmetic throughout: fast where vectorised, but a near-tie can go the wrong way.
"""

from __future__ import annotations

import heapq
import math

import numpy as np

DIVISORS = {
    "jefferson": lambda j: j + 1.0,
    "webster": lambda j: j + 0.5,
    "adams": lambda j: float(j),
    "huntington_hill": lambda j: math.sqrt(j * (j + 1.0)),
}


def divisor_heap(r: np.ndarray, total: int, method: str) -> np.ndarray:
    d = DIVISORS[method]

    def value(x: float, j: int) -> float:
        dj = d(j)
        return math.inf if dj == 0 else x / dj

    ratios = r.tolist()
    seats = [0] * len(ratios)
    heap = [(-value(x, 0), i) for i, x in enumerate(ratios) if x > 0]
    heapq.heapify(heap)
    for _ in range(total):
        _, i = heap[0]
        seats[i] += 1
        heapq.heapreplace(heap, (-value(ratios[i], seats[i]), i))
    return np.array(seats, dtype=np.int64)


def hamilton_float(r: np.ndarray, total: int) -> np.ndarray:
    quota = total * r / r.sum()
    seats = np.floor(quota).astype(np.int64)
    left = total - int(seats.sum())
    order = np.argsort(-(quota - seats), kind="stable")
    seats[order[:left]] += 1
    return seats


def priority_loop(r: np.ndarray, total: int) -> np.ndarray:
    ratios = r.tolist()
    seats = [0] * len(ratios)
    share = math.ceil(total / sum(ratios))
    remain = total
    for i in sorted(range(len(ratios)), key=lambda i: (-ratios[i], i)):
        if ratios[i] <= 0 or remain == 0:
            break
        give = min(share, remain)
        seats[i] += give
        remain -= give
    top = max(ratios)
    tied = [i for i, x in enumerate(ratios) if x == top]
    each, extra = divmod(remain, len(tied))
    for k, i in enumerate(tied):
        seats[i] += each + (1 if k < extra else 0)
    return np.array(seats, dtype=np.int64)


def reference(r: np.ndarray, total: int, method: str) -> np.ndarray:
    if method == "hamilton":
        return hamilton_float(r, total)
    if method == "priority":
        return priority_loop(r, total)
    return divisor_heap(r, total, method)
