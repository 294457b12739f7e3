"""Assets and asset checks, one module per capability."""

from pipelines.assets import assignment, periods, sourcing

ASSETS = [*sourcing.assets, *periods.assets, *assignment.assets]
CHECKS = [*sourcing.checks, *periods.checks, *assignment.checks]
