"""The exceptions every fairalloc transform raises.

All of them derive from :class:`FairallocError`, itself a :class:`ValueError`, so callers can
catch bad input with ``except ValueError``. Each error names the offending keys (at most the
first :data:`MAX_KEYS_SHOWN`, plus how many there are in all) and keeps them on ``.keys``.

Examples
--------
>>> err = UnknownKeyError("matches name sources with no capacity", ["a", "b"])
>>> str(err)
"matches name sources with no capacity: 'a', 'b' (2 in all)"
>>> isinstance(err, ValueError)
True
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from itertools import islice
from typing import Any, TypeVar

MAX_KEYS_SHOWN = 10


def format_keys(keys: Iterable[Any], total: int | None = None, limit: int = MAX_KEYS_SHOWN) -> str:
    """Render the first ``limit`` keys and the count in all, e.g. ``'a', 'b' … (12 in all)``.

    Parameters
    ----------
    keys : iterable
        The offending keys (numpy scalars are shown as plain values).
    total : int, optional
        How many keys there are in all; without it, ``keys`` is read whole and counted.
    limit : int, default MAX_KEYS_SHOWN
        How many keys to show at most.

    Returns
    -------
    str
        The keys' reprs joined by commas, ``…`` when some are left out, then the count.

    Examples
    --------
    >>> format_keys(range(12), limit=3)
    '0, 1, 2 … (12 in all)'
    """
    keys = list(keys) if total is None else keys
    shown = list(islice(iter(keys), limit))
    n = len(keys) if total is None else total  # type: ignore[arg-type]
    text = ", ".join(repr(_plain(k)) for k in shown)
    more = " …" if n > len(shown) else ""
    return f"{text}{more} ({n} in all)"


def _plain(key: Any) -> Any:
    """numpy scalars and tuples of them shown as plain Python values."""
    if isinstance(key, tuple):
        return tuple(_plain(k) for k in key)
    item = getattr(key, "item", None)
    return item() if callable(item) else key


class FairallocError(ValueError):
    """Base class: bad input or an impossible request, naming the offending keys.

    Parameters
    ----------
    message : str
        What is wrong, in one sentence.
    keys : sequence, optional
        The offending keys (the first few are kept in ``.keys`` and shown).
    total : int, optional
        How many keys offend in all, when ``keys`` lists only some.
    """

    def __init__(self, message: str, keys: Sequence[Any] | None = None, total: int | None = None):
        self.keys = [] if keys is None else [_plain(k) for k in islice(iter(keys), MAX_KEYS_SHOWN)]
        self.count = (len(keys) if keys is not None else 0) if total is None else total
        self.message = message
        text = message if keys is None else f"{message}: {format_keys(keys, total)}"
        super().__init__(text)


class UnknownKeyError(FairallocError):
    """A table names keys (sources, sinks, accounts…) that the table defining them lacks."""


class DuplicateKeyError(FairallocError):
    """The same key is given two different values."""


class InvalidAmountError(FairallocError):
    """An amount is NaN, infinite, negative or otherwise outside its allowed range."""


class EmptyInputError(FairallocError):
    """A required table has no rows."""


class InputTypeError(FairallocError):
    """An input has the wrong type, columns or dtypes (keys must be str or int)."""


class ParameterError(FairallocError):
    """A parameter (tolerance, option name, …) is outside its allowed values."""


class ZeroCapacityError(FairallocError):
    """Every source matched to a sink has capacity 0 and ``on_zero_capacity="raise"``."""


class SolverError(FairallocError):
    """A solver failed, found the problem infeasible, or gave an answer that broke an
    invariant and could not be repaired; the message carries the capability and the status
    (also on ``.status``)."""

    status: str = "error"


class ConservationError(SolverError):
    """A solver's answer broke conservation (over a capacity or a request, negative) beyond
    what scaling it back could repair: nothing is returned. ``.limit`` names the limit."""

    limit: str = ""


F = TypeVar("F", bound=Callable[..., Any])

#: Exceptions of the libraries underneath (numpy, pandas, polars, arrow, scipy, OR-Tools) that
#: bad input can provoke; they leave a public function as :class:`InputTypeError`.
_INPUT_ERRORS: tuple[type[BaseException], ...] = (
    TypeError, ValueError, AttributeError, LookupError, ArithmeticError,
)


def _foreign_input_errors() -> tuple[type[BaseException], ...]:
    """polars' and arrow's exception bases, when those libraries are loaded."""
    import sys

    found: list[type[BaseException]] = []
    pl = sys.modules.get("polars")
    if pl is not None:
        found.append(pl.exceptions.PolarsError)
    pa = sys.modules.get("pyarrow")
    if pa is not None:
        found.append(pa.ArrowException)
    return tuple(found)


def translate(exc: BaseException, capability: str,
              labels: Mapping[str, Sequence[Any]] | None = None) -> FairallocError | None:
    """The :class:`FairallocError` an exception from below leaves a public function as.

    A solver failure (``fairalloc.solvers.verify.SolverFailure``, or any exception carrying
    ``status``) becomes a :class:`SolverError` naming the capability, the status and — through
    ``labels``, a mapping from the failure's key kind to the keys in code order — the offending
    keys; one whose answer broke a limit (``limit`` set, the problem not infeasible) becomes
    the :class:`ConservationError` kind of :class:`SolverError`. Errors of the libraries
    underneath become :class:`InputTypeError`. ``None`` means: let it through unchanged (a
    :class:`FairallocError` already; not an ``Exception``, such as ``KeyboardInterrupt``; or a
    failure of the machine rather than the input: ``OSError``, ``MemoryError``).

    Parameters
    ----------
    exc : BaseException
        The exception raised below the public function.
    capability : str
        The capability the message names (``"sourcing"``, ``"periods"`` …).
    labels : mapping of str to sequence, optional
        For each key kind a solver failure may name (``"period"``, ``"source"`` …), the keys
        in code order.

    Returns
    -------
    FairallocError or None
        The error to raise instead (from ``exc``), or None to let ``exc`` through.

    Examples
    --------
    >>> from fairalloc.solvers.verify import SolverFailure
    >>> err = translate(SolverFailure("periods", "optimal", "over capacity", "period", [1]),
    ...                 "periods", {"period": ["p1", "p2"]})
    >>> type(err).__name__, str(err)
    ('SolverError', "periods: over capacity (status optimal): 'p2' (1 in all)")
    >>> err = translate(SolverFailure("periods", "error", "step 1 could not be shrunk", "period",
    ...                               [0], "capacity"), "periods", {"period": ["p1"]})
    >>> type(err).__name__, err.limit, isinstance(err, SolverError)
    ('ConservationError', 'capacity', True)
    >>> str(translate(TypeError("'NoneType' object is not iterable"), "lottery"))
    "lottery: cannot use the input (TypeError: 'NoneType' object is not iterable)"
    """
    if isinstance(exc, FairallocError) or not isinstance(exc, Exception):
        return None
    if isinstance(exc, MemoryError | RecursionError | OSError):  # the machine, not the input
        return None
    status = getattr(exc, "status", None)
    if status is not None and isinstance(exc, RuntimeError):
        what = getattr(exc, "what", "")
        codes = getattr(exc, "codes", ())
        detail = getattr(exc, "detail", str(exc))
        message = f"{capability}: {detail} (status {status})"
        keys = None
        if labels and what in labels and len(codes):
            names = labels[what]
            keys = [names[c] for c in codes]
        limit = getattr(exc, "limit", "")
        broke = bool(limit) and str(status) != "infeasible"  # an answer, but a broken one
        err = (ConservationError if broke else SolverError)(message, keys)
        err.status = str(status)
        if broke:
            err.limit = limit
        return err
    if isinstance(exc, _INPUT_ERRORS + _foreign_input_errors()):
        return InputTypeError(f"{capability}: cannot use the input "
                              f"({type(exc).__name__}: {exc})")
    err = SolverError(f"{capability}: the solver failed ({type(exc).__name__}: {exc})")
    err.status = "error"
    return err


@contextmanager
def translated(capability: str, labels: Mapping[str, Sequence[Any]] | None = None
               ) -> Iterator[None]:
    """Run a block whose exceptions leave as :class:`FairallocError` (see :func:`translate`).

    Parameters
    ----------
    capability : str
        The capability the messages name.
    labels : mapping of str to sequence, optional
        Keys in code order per key kind, as for :func:`translate`.

    Yields
    ------
    None
        Control to the block.

    Raises
    ------
    FairallocError
        The translation of any exception of the block that :func:`translate` translates,
        chained to it; other exceptions pass unchanged.

    Examples
    --------
    >>> with translated("sourcing"):
    ...     {}["k"]
    Traceback (most recent call last):
    ...
    fairalloc.transforms.errors.InputTypeError: sourcing: cannot use the input (KeyError: 'k')
    """
    try:
        yield
    except Exception as exc:
        err = translate(exc, capability, labels)
        if err is None:
            raise
        raise err from exc


def public(capability: str) -> Callable[[F], F]:
    """Decorator for a public entry: every exception leaves it as a :class:`FairallocError`.

    Parameters
    ----------
    capability : str
        The capability the error messages name.

    Returns
    -------
    callable
        A decorator that wraps a function (keeping its name, docstring and signature) in
        :func:`translated`.
    """

    def deco(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with translated(capability):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return deco


__all__ = [
    "MAX_KEYS_SHOWN",
    "ConservationError",
    "DuplicateKeyError",
    "EmptyInputError",
    "FairallocError",
    "InputTypeError",
    "InvalidAmountError",
    "ParameterError",
    "SolverError",
    "UnknownKeyError",
    "ZeroCapacityError",
    "format_keys",
    "public",
    "translate",
    "translated",
]
