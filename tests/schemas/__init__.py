"""Tests of the pandera contracts: they accept what the transforms accept and reject what they
reject, naming the rule."""

from __future__ import annotations

import pandera.errors
import pytest

from fairalloc.transforms.errors import FairallocError


def failed_checks(schema, frame) -> list[str]:
    """The names of the checks ``frame`` fails under ``schema`` (lazy validation)."""
    with pytest.raises(pandera.errors.SchemaErrors) as info:
        schema.validate(frame, lazy=True)
    return [str(c) for c in info.value.failure_cases["check"].to_list()]


def assert_both_refuse(schema, frame, rule: str, transform) -> None:
    """``schema`` refuses ``frame`` naming ``rule`` (a check name, or its start) and
    ``transform()`` (the transform on the same input) raises a FairallocError."""
    checks = failed_checks(schema, frame)
    assert any(c.startswith(rule) for c in checks), checks
    with pytest.raises(FairallocError):
        transform()
