"""Assets and asset checks, one module per capability."""

from pipelines.assets import sourcing

ASSETS = [*sourcing.assets]
CHECKS = [*sourcing.checks]
