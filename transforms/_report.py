"""The small report every transform returns next to its allocation."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from fairalloc.solvers.verify import Status


@dataclass(frozen=True)
class Report:
    """Base of every transform's report: plain values, shown by the pipeline as asset metadata.

    In the spirit of ``scipy.optimize.OptimizeResult``: ``status`` is a
    :class:`~fairalloc.solvers.verify.Status` (a ``str``, so ``report.status == "optimal"``
    works) and ``message`` says in words what it means for this answer (by default, the
    status's own description).

    >>> r = Report(status="repaired", wall_time_s=0.0)
    >>> r.status is Status.REPAIRED, r.message
    (True, 'the solver broke a limit beyond float noise; its answer was scaled back onto the limit')
    >>> r.to_dict()["status"]
    'repaired'
    """

    status: Status
    wall_time_s: float
    message: str = field(default="", kw_only=True)

    def __post_init__(self) -> None:
        status = Status(self.status)  # an unknown word is a bug in the transform: ValueError
        object.__setattr__(self, "status", status)
        if not self.message:
            object.__setattr__(self, "message", status.describe)

    def to_dict(self) -> dict[str, Any]:
        """The report as a dict of plain Python values (JSON-friendly)."""
        plain = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}
        plain["status"] = str(self.status)
        return plain


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


def worst_status(statuses: Iterable[str]) -> Status:
    """The worst of several statuses (of independent groups), in the declaration order of
    :class:`~fairalloc.solvers.verify.Status` (optimal < repaired < iteration_limit < …).

    >>> worst_status(["optimal", "repaired", "optimal"])
    'repaired'
    """
    order = list(Status)
    return max((Status(s) for s in statuses), key=order.index)
