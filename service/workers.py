"""Where the ``/v1`` work runs: a worker thread, or a worker process for large bodies.

Everything after reading the body — validation, the transform, writing the response — runs
off the event loop. A thread is enough while the work gives the interpreter lock back often,
but pydantic validates a JSON body in one call that keeps the lock to the end: measured here,
a 27 MB sourcing body (10^6 matches) held it for 2 to 5 s, and no other request — not even
``GET /healthz`` — was answered meanwhile. So bodies above :data:`~fairalloc.service.settings.
PROCESS_BODY_BYTES` (1 MB, about 30 000 records: a few hundredths of a second of validation)
go to a small pool of worker processes instead (``spawn``: no fork of a threaded server),
started by the first large request (which waits a few seconds for their imports; a service
that only ever sees small bodies never starts them); smaller ones stay in the thread pool,
where they cost no copying.

Errors cross the process boundary as plain data and are raised again on the event loop side as
the same types (a :class:`~fairalloc.transforms.errors.FairallocError` subclass with its
message, keys and count; a validation failure as :class:`BodyValidationError`, a
:class:`fastapi.exceptions.RequestValidationError`), so one set of handlers answers for both.

Examples
--------
>>> outcome = work("portions", b'{"ratios": [{"key": "a", "ratio": -1}], "total": 2}')
>>> outcome[0], outcome[2]
('error', 'InvalidAmountError')
>>> reraise(outcome)
Traceback (most recent call last):
...
fairalloc.transforms.errors.InvalidAmountError: ratios has negative ratio: 'a' (1 in all)
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from fairalloc.service.capabilities import run
from fairalloc.transforms.errors import FairallocError

log = logging.getLogger(__name__)

#: Validation errors carried back and shown (a body may have a million; the count is kept).
ERRORS_SHOWN = 20


class BodyValidationError(RequestValidationError):
    """A body that failed validation: the first :data:`ERRORS_SHOWN` errors and the count.

    Parameters
    ----------
    errors : list
        The validation errors shown.
    count : int
        How many there were in all.
    """

    def __init__(self, errors: list, count: int) -> None:
        super().__init__(errors)
        self.count = count


def work(name: str, raw: bytes) -> tuple:
    """Run endpoint ``name`` on body ``raw``; the outcome as plain, picklable data.

    Parameters
    ----------
    name : str
        The endpoint (``"sourcing"`` …).
    raw : bytes
        The request body.

    Returns
    -------
    tuple
        ``("ok", response bytes)``; ``("invalid", first errors, count)`` for a body that fails
        validation;
        ``("error", module, type name, message, keys, count)`` for a library error.
    """
    try:
        return ("ok", run(name, raw))
    except ValidationError as exc:
        errors = exc.errors(include_input=False, include_context=False, include_url=False)
        return ("invalid", errors[:ERRORS_SHOWN], exc.error_count())
    except FairallocError as exc:
        return ("error", type(exc).__module__, type(exc).__name__, exc.message, exc.keys,
                exc.count)


def reraise(outcome: tuple) -> bytes:
    """The response bytes of an ``"ok"`` outcome of :func:`work`; else its error, raised.

    Parameters
    ----------
    outcome : tuple
        What :func:`work` returned.

    Returns
    -------
    bytes
        The response body.

    Raises
    ------
    BodyValidationError
        The body failed validation (the first fields under ``errors()``, the number on
        ``count``).
    fairalloc.transforms.errors.FairallocError
        The library error of the outcome, rebuilt with its type, message, keys and count.
    """
    kind = outcome[0]
    if kind == "ok":
        return outcome[1]
    if kind == "invalid":
        raise BodyValidationError(outcome[1], outcome[2])
    _, module, type_name, message, keys, count = outcome
    cls = getattr(importlib.import_module(module), type_name)
    raise cls(message, keys if count else None, count)


def _warm() -> None:
    """Import the transforms in a fresh worker process."""
    import fairalloc.transforms.assignment  # noqa: F401
    import fairalloc.transforms.coverage  # noqa: F401
    import fairalloc.transforms.periods  # noqa: F401
    import fairalloc.transforms.portions  # noqa: F401
    import fairalloc.transforms.sourcing  # noqa: F401


class ProcessWorkers:
    """A pool of worker processes for large bodies, started on first use (and again after a
    worker died).

    Parameters
    ----------
    processes : int, optional
        How many (default: up to 2, the cores there are).
    """

    def __init__(self, processes: int | None = None) -> None:
        self.processes = processes or min(2, os.cpu_count() or 1)
        self._pool: ProcessPoolExecutor | None = None

    def pool(self) -> ProcessPoolExecutor:
        """The pool, started (and warmed up) on first use.

        Returns
        -------
        concurrent.futures.ProcessPoolExecutor
            The pool.
        """
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.processes,
                                             mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_warm)
        return self._pool

    async def run(self, name: str, raw: bytes) -> tuple:
        """:func:`work` in a worker process; a pool whose worker died is replaced (the
        request that met it fails with a 500).

        Parameters
        ----------
        name : str
            The endpoint's name.
        raw : bytes
            The request body.

        Returns
        -------
        tuple
            What :func:`work` returns.
        """
        import asyncio

        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self.pool(), work, name, raw)
        except BrokenProcessPool:
            log.error("a worker process died (out of memory?); starting new ones")
            self.shutdown()
            raise

    def shutdown(self) -> None:
        """Stop the workers (pending work is cancelled)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
