"""Assets (input files observed as external assets, inputs, outputs with their checks), one
module per capability, collected by Dagster from the modules (a new asset in a capability module
is picked up without a hand-kept list). Checks are declared on their assets (``check_specs``)
and run before the asset is stored."""

import warnings

import dagster as dg

with warnings.catch_warnings():
    # observable source assets and backfill policies are "beta" in dagster 1.13: chosen
    # knowingly (dagster pinned), so the warning is not repeated on every import
    warnings.simplefilter("ignore", dg.BetaWarning)
    from fairalloc.pipelines.assets import assignment, coverage, periods, portions, sourcing

MODULES = (sourcing, periods, assignment, coverage, portions)
ASSETS = dg.load_assets_from_modules(list(MODULES))


def of(module) -> list:
    """The assets (observed files included) of one capability module (for materialising one
    group)."""
    return list(dg.load_assets_from_modules([module]))
