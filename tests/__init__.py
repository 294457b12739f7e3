"""fairalloc's test suite; ``ROOT`` is the repository the tests run from (its sample data,
README and Makefile)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
