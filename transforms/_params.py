"""Checks of scalar parameters, shared by every transform: one rule for what a flag, a number
or a choice is.

Booleans are not numbers (``True`` is refused where a number is wanted), strings and numbers
are not booleans (``"no"`` and ``1`` are refused where a flag is wanted), and numpy scalars
are ordinary numbers and flags. A refused value raises :class:`ParameterError` naming the
parameter and the value.

Examples
--------
>>> flag("two_step", np.True_)
True
>>> flag("two_step", "no")
Traceback (most recent call last):
...
fairalloc.transforms.errors.ParameterError: two_step must be True or False: 'no' (1 in all)
>>> number("tol", np.float32(0.5), low=0, high=1, high_open=True)
0.5
>>> whole("max_iterations", np.int64(3), low=0)
3
>>> number("tol", True)
Traceback (most recent call last):
...
fairalloc.transforms.errors.ParameterError: tol must be a number, not a bool: True (1 in all)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection
from typing import Any

import numpy as np

from fairalloc.transforms.errors import ParameterError


def flag(name: str, value: Any) -> bool:
    """``value`` as a bool; only ``True``/``False`` (or numpy's) are flags."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    raise ParameterError(f"{name} must be True or False", [value])


def _range_text(low, high, low_open, high_open) -> str:
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '≥'} {low}")
    if high is not None:
        parts.append(f"{'<' if high_open else '≤'} {high}")
    return " and ".join(parts)


def number(name: str, value: Any, *, low: float | None = None, high: float | None = None,
           low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a finite float within the bounds given (open or closed)."""
    if isinstance(value, bool | np.bool_):
        raise ParameterError(f"{name} must be a number, not a bool", [value])
    if not isinstance(value, numbers.Real):
        raise ParameterError(f"{name} must be a number", [value])
    x = float(value)
    rule = _range_text(low, high, low_open, high_open)
    if not math.isfinite(x) or (low is not None and (x <= low if low_open else x < low)) or (
            high is not None and (x >= high if high_open else x > high)):
        raise ParameterError(f"{name} must be a finite number" + (f" {rule}" if rule else ""),
                             [value])
    return x


def whole(name: str, value: Any, *, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an int: Python or numpy integers only (no bools, no floats)."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral):
        raise ParameterError(f"{name} must be a whole number", [value])
    x = int(value)
    if (low is not None and x < low) or (high is not None and x > high):
        raise ParameterError(f"{name} must be a whole number {_range_text(low, high, 0, 0)}",
                             [value])
    return x


def choice(name: str, value: Any, known: Collection[str]) -> str:
    """``value`` if it is one of the ``known`` names (a registry or a tuple of names)."""
    names = known.names() if hasattr(known, "names") else tuple(known)
    if not isinstance(value, str) or value not in names:
        raise ParameterError(f"{name} must be one of {', '.join(map(repr, names))}", [value])
    return value
