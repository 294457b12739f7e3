"""Run-config fields from the capability vocabularies (:mod:`fairalloc.transforms.options`).

A field's default and description come from the option written once there; a closed choice
becomes a ``Literal`` type, so Dagster's launchpad offers the names and refuses any other
before the run starts.

>>> from fairalloc.transforms.options import PORTIONS
>>> choices(PORTIONS, "method").__args__[:2]
('priority', 'hamilton')
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from fairalloc.transforms.options import Vocabulary


def choices(vocabulary: Vocabulary, name: str) -> Any:
    """``Literal[...]`` of the option's allowed names."""
    return Literal[vocabulary.choices(name)]  # type: ignore[valid-type]


def option(vocabulary: Vocabulary, name: str) -> Any:
    """A pydantic field with the option's default and meaning."""
    opt = vocabulary.option(name)
    return Field(default=opt.default, description=opt.help)
