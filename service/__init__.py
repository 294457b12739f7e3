"""The fairalloc HTTP service: every capability as a JSON endpoint (``fairalloc serve``).

:func:`create_app` builds the ASGI application (FastAPI) for uvicorn or any other ASGI server,
:func:`serve` runs it with uvicorn. The service is thin: each endpoint validates its body
against a model derived from the table contracts and option vocabularies
(:mod:`fairalloc.service.models`) and calls the same transform as the command line and the
pipeline (:mod:`fairalloc.service.capabilities`). The product catalogue of the seed-compatible
``POST /portions/`` lives in :mod:`fairalloc.service.catalogue`, the defaults in
:mod:`fairalloc.service.settings`. Names load on first use, so importing the settings does not
import FastAPI.

Examples
--------
>>> from fairalloc.service import create_app
>>> create_app("sqlite://").title
'fairalloc'
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["create_app", "serve"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(import_module("fairalloc.service.app"), name)
    raise AttributeError(f"module 'fairalloc.service' has no attribute {name!r}")
