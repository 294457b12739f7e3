"""Assets and asset checks, one module per capability."""

from pipelines.assets import periods, sourcing

ASSETS = [*sourcing.assets, *periods.assets]
CHECKS = [*sourcing.checks, *periods.checks]
