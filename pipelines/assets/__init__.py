"""Assets and asset checks, one module per capability, collected by Dagster from the modules
(a new asset or check in a capability module is picked up without a hand-kept list)."""

import dagster as dg

from fairalloc.pipelines.assets import assignment, coverage, periods, portions, sourcing

MODULES = (sourcing, periods, assignment, coverage, portions)
ASSETS = dg.load_assets_from_modules(list(MODULES))
CHECKS = dg.load_asset_checks_from_modules(list(MODULES))


def of(module) -> list:
    """The assets and asset checks of one capability module (for materialising one group)."""
    return [*dg.load_assets_from_modules([module]),
            *dg.load_asset_checks_from_modules([module])]
