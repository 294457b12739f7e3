"""Assets and asset checks, one module per capability."""

from pipelines.assets import assignment, coverage, periods, sourcing

ASSETS = [*sourcing.assets, *periods.assets, *assignment.assets, *coverage.assets]
CHECKS = [*sourcing.checks, *periods.checks, *assignment.checks, *coverage.checks]
