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
    """Functions registered under names; looking up an unknown name lists the known ones.

    Parameters
    ----------
    what : str
        What the functions are (``"strategy"``, ``"method"``), for error messages.

    Examples
    --------
    >>> methods = Registry("method")
    >>> @methods.register("double")
    ... def double(x):
    ...     return 2 * x
    >>> methods.get("double")(2), methods.names()
    (4, ('double',))
    """

    def __init__(self, what: str):
        self.what = what
        self._entries: dict[str, Callable[..., Any]] = {}

    def register(self, name: str) -> Callable[[F], F]:
        """Decorator registering a function under ``name`` (a name may be registered once).

        Parameters
        ----------
        name : str
            The name callers choose the function by.

        Returns
        -------
        callable
            The decorator; it returns the function unchanged.
        """

        def deco(fn: F) -> F:
            if name in self._entries:
                raise KeyError(f"{self.what} {name!r} is registered already")
            self._entries[name] = fn
            return fn

        return deco

    def names(self) -> tuple[str, ...]:
        """The registered names, in registration order.

        Returns
        -------
        tuple of str
            The names.
        """
        return tuple(self._entries)

    def get(self, name: str) -> Callable[..., Any]:
        """The function registered under ``name``.

        Parameters
        ----------
        name : str
            A registered name.

        Returns
        -------
        callable
            The function.

        Raises
        ------
        KeyError
            No function has that name; the message lists the known names.
        """
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            known = ", ".join(repr(n) for n in self._entries)
            raise KeyError(f"unknown {self.what} {name!r}; known: {known}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries
