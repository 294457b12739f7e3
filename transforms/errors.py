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

from collections.abc import Iterable, Sequence
from itertools import islice
from typing import Any

MAX_KEYS_SHOWN = 10


def format_keys(keys: Iterable[Any], total: int | None = None, limit: int = MAX_KEYS_SHOWN) -> str:
    """Render the first ``limit`` keys and the count in all, e.g. ``'a', 'b' … (12 in all)``.

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
    """Base class: bad input or an impossible request, naming the offending keys."""

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


class ConservationError(FairallocError):
    """A result breaks conservation (over capacity, over demand, negative)."""


class SolverError(FairallocError):
    """A solver failed or found the problem infeasible; the message carries its status."""


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
]
