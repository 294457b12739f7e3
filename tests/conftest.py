"""Test settings: hypothesis without per-example deadlines (CI machines are noisy)."""

from hypothesis import HealthCheck, settings

settings.register_profile(
    "fairalloc", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile("fairalloc")
