"""Test settings: hypothesis without per-example deadlines (CI machines are noisy).

Under CI (``CI=true``) hypothesis runs a fixed, derandomized set of examples, so a landing never
depends on luck; local runs keep exploring new random examples and report any failure with the
seed to reproduce it.
"""

import os

from hypothesis import HealthCheck, settings

# OR-Tools before anything that may load cvxpy (see benchmarks/reference_coverage.py)
from ortools.graph.python import max_flow  # noqa: F401

settings.register_profile(
    "fairalloc", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.register_profile("fairalloc-ci", parent=settings.get_profile("fairalloc"),
                          derandomize=True)
settings.load_profile("fairalloc-ci" if os.environ.get("CI") else "fairalloc")
