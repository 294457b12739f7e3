"""Benchmarks: every capability against a reference implementation, ratios from one run."""
