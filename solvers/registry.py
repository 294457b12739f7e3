"""A small name → function registry: every back-end for one problem sits behind one name.

Examples
--------
>>> policies = Registry("zero-capacity policy")
>>> @policies.register("zero")
... def _zero(x):
...     return 0 * x
>>> policies.get("zero")(3)
0
>>> policies.get("nope")
Traceback (most recent call last):
...
KeyError: "unknown zero-capacity policy 'nope'; known: 'zero'"
>>> policies.names()
('zero',)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class Registry:
    """Functions registered under names; looking up an unknown name lists the known ones."""

    def __init__(self, what: str):
        self.what = what
        self._entries: dict[str, Callable[..., Any]] = {}

    def register(self, name: str) -> Callable[[F], F]:
        """Decorator registering ``fn`` under ``name`` (a name may be registered once)."""

        def deco(fn: F) -> F:
            if name in self._entries:
                raise KeyError(f"{self.what} {name!r} is registered already")
            self._entries[name] = fn
            return fn

        return deco

    def names(self) -> tuple[str, ...]:
        """The registered names, in registration order."""
        return tuple(self._entries)

    def get(self, name: str) -> Callable[..., Any]:
        """The function registered under ``name``; ``KeyError`` listing the known names if none."""
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            known = ", ".join(repr(n) for n in self._entries)
            raise KeyError(f"unknown {self.what} {name!r}; known: {known}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries
