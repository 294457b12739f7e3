"""The small report every transform returns next to its allocation."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Report:
    """Base of every transform's report: plain values, shown by the pipeline as asset metadata."""

    status: str
    wall_time_s: float

    def to_dict(self) -> dict[str, Any]:
        """The report as a dict of plain Python values (JSON-friendly)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}


class Stopwatch:
    """Wall time of a ``with`` block, read from ``.seconds``."""

    seconds: float = 0.0


@contextmanager
def stopwatch() -> Iterator[Stopwatch]:
    """Measure the wall time of a block.

    >>> with stopwatch() as sw:
    ...     pass
    >>> sw.seconds >= 0
    True
    """
    sw = Stopwatch()
    start = time.perf_counter()
    try:
        yield sw
    finally:
        sw.seconds = time.perf_counter() - start
