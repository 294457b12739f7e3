"""Timing harness: medians of repeated runs, peak memory, ratios against a reference.

Machines are noisy, so a benchmark reports the median of several runs and the ratio of the
reference's median to ours, both measured in the same process and run.
"""

from __future__ import annotations

import gc
import resource
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psutil

from fairalloc.solvers import blocks


@dataclass(frozen=True)
class Measurement:
    """Wall times of repeated calls, the largest rise in resident memory during one, and the
    page faults of each timed call (minor faults: fresh pages the kernel maps and zeroes; on
    the benchmark machine's VM each costs microseconds, so they are a figure of what a call
    costs beyond its own work)."""

    times: tuple[float, ...]
    peak_mb: float
    faults: tuple[int, ...] = ()

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def median_faults(self) -> float:
        """Median page faults per timed call (0 when none was timed)."""
        return statistics.median(self.faults) if self.faults else 0.0


def _faults() -> int:
    """Minor page faults of this process so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def _timed(fn: Callable[[], Any], times: list[float], faults: list[int]) -> None:
    """One call of ``fn`` with the cyclic collector off, as timeit does (else a full
    collection of whatever the process holds — references' graphs, imported modules — may
    land inside a millisecond call; it runs between calls). No forced collection per call:
    it returns memory to the system and every call would start cold."""
    gc.disable()
    try:
        before = _faults()
        start = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - start
        after = _faults()
        times.append(elapsed)
        faults.append(after - before)
    finally:
        gc.enable()


class _PeakSampler:
    """Samples this process's resident memory every few milliseconds in a thread."""

    def __init__(self, interval: float = 0.005):
        self.interval = interval
        self.proc = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(self.interval)

    def __enter__(self) -> _PeakSampler:
        self.base = self.proc.memory_info().rss
        self.peak = self.base
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)


def measure(fn: Callable[[], Any], repeats: int, *, memory: bool = False) -> Measurement:
    """Call ``fn`` ``repeats`` times: the median wall time, and with ``memory`` the peak rise in
    resident memory, sampled in one extra untimed call first (so the sampling thread never
    competes with a timed call), after the maps ``blocks.fresh`` keeps for reuse are let go
    (kept, they would hide the call's own memory from the rise)."""
    peak = 0.0
    if memory:
        gc.collect()
        blocks.trim()
        with _PeakSampler() as sampler:
            fn()
        peak = (sampler.peak - sampler.base) / 2**20
    times: list[float] = []
    faults: list[int] = []
    gc.collect()
    for _ in range(repeats):
        _timed(fn, times, faults)
    return Measurement(tuple(times), peak, tuple(faults))


def measure_together(fns: Sequence[Callable[[], Any]], repeats: int, *, memory: bool = False
                     ) -> list[Measurement]:
    """:func:`measure` for several functions compared with each other, their timed calls
    interleaved (one call of each per repeat), so that a busy spell of a shared machine
    slows them alike instead of one of them; peak memory as :func:`measure`.

    Each repeat starts one function further along (repeat r calls them in the order
    r, r + 1, …, wrapping around), so no function always runs right after the same other
    one: a call's time depends on the memory the call before it freed or left behind."""
    peaks = [measure(fn, 0, memory=True).peak_mb if memory else 0.0 for fn in fns]
    times: list[list[float]] = [[] for _ in fns]
    faults: list[list[int]] = [[] for _ in fns]
    gc.collect()
    for r in range(repeats):
        for turn in ((r + i) % len(fns) for i in range(len(fns))):
            _timed(fns[turn], times[turn], faults[turn])
    return [Measurement(tuple(t), p, tuple(f))
            for t, p, f in zip(times, peaks, faults, strict=True)]


def fmt_seconds(s: float) -> str:
    return f"{s * 1000:.1f} ms" if s < 1 else f"{s:.2f} s"


def markdown(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
