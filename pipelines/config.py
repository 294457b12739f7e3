"""Run-config fields from the capability vocabularies (:mod:`fairalloc.transforms.options`).

A field's default and description come from the option written once there; a closed choice
becomes a ``Literal`` type and a bounded number a :class:`Bounded` type, so Dagster's launchpad
offers the names and refuses any other choice or any number out of bounds before the run starts
(``dagster.DagsterInvalidConfigError`` at launch, nothing runs).

>>> from fairalloc.transforms.options import PORTIONS, SOURCING
>>> choices(PORTIONS, "method").__args__[:2]
('priority', 'hamilton')
>>> bounded(SOURCING, "relative_tolerance").given_name
'float in [0, 1)'
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any, Literal

from dagster._config.config_type import ConfigScalar, ConfigScalarKind
from dagster._config.errors import PostProcessingError
from pydantic import Field
from pydantic_core import core_schema

from fairalloc.transforms.options import Option, Vocabulary


def choices(vocabulary: Vocabulary, name: str) -> Any:
    """``Literal[...]`` of the option's allowed names."""
    return Literal[vocabulary.choices(name)]  # type: ignore[valid-type]


def option(vocabulary: Vocabulary, name: str) -> Any:
    """A pydantic field with the option's default and meaning."""
    opt = vocabulary.option(name)
    return Field(default=opt.default, description=opt.help)


class Bounded(ConfigScalar):
    """A number within bounds, as a Dagster config type and as a pydantic type at once.

    Dagster checks it while it validates the run config (the bounds are checked in the
    config type's post-processing, which runs at launch, before any step), pydantic when the
    ``Config`` object is built; the launchpad shows the type's name (``float in [0, 1)``).
    Dagster's config system has no public bounded-number type: this subclasses its scalar
    config type, the extension point its own float type uses.
    """

    def __init__(self, opt: Option):
        self.opt = opt
        kind = "int" if opt.whole else "float"
        lo = "" if opt.low is None else f"{'(' if opt.low_open else '['}{opt.low}"
        hi = "" if opt.high is None else f"{opt.high}{')' if opt.high_open else ']'}"
        rule = (f"in {lo}, {hi}" if lo and hi else
                f"{'>' if opt.low_open else '≥'} {opt.low}" if lo else
                f"{'<' if opt.high_open else '≤'} {opt.high}")
        super().__init__(
            key=f"fairalloc_{kind}_{opt.low}_{opt.low_open}_{opt.high}_{opt.high_open}",
            given_name=f"{kind} {rule}",
            scalar_kind=ConfigScalarKind.INT if opt.whole else ConfigScalarKind.FLOAT,
            description=f"a{'n' if opt.whole else ''} {kind} {rule}")

    def inside(self, value: Any) -> bool:
        """Whether ``value`` is within the bounds (and finite)."""
        o, x = self.opt, float(value)
        return math.isfinite(x) and not (
            (o.low is not None and (x <= o.low if o.low_open else x < o.low))
            or (o.high is not None and (x >= o.high if o.high_open else x > o.high)))

    def post_process(self, value: Any) -> Any:
        if not self.inside(value):
            raise PostProcessingError(f"{value!r} is not {self.given_name}")
        return int(value) if self.opt.whole else float(value)

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        o = self.opt
        bounds = {("gt" if o.low_open else "ge"): o.low, ("lt" if o.high_open else "le"): o.high}
        bounds = {k: v for k, v in bounds.items() if v is not None}
        if o.whole:
            return core_schema.int_schema(**bounds)
        return core_schema.float_schema(allow_inf_nan=False, **bounds)


@cache
def _bounded(opt: Option) -> Bounded:
    return Bounded(opt)


def bounded(vocabulary: Vocabulary, name: str) -> Bounded:
    """The bounded number type of a numeric option (its bounds from the vocabulary)."""
    opt = vocabulary.option(name)
    if opt.low is None and opt.high is None:
        raise KeyError(f"{vocabulary.capability} option {name!r} has no bounds")
    return _bounded(opt)


def bounded_value(opt: Option) -> Bounded:
    """The bounded number type of an option that belongs to no vocabulary (e.g. a run-config
    amount the transform takes as a required argument)."""
    return _bounded(opt)
