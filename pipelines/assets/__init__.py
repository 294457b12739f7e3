"""Assets and asset checks, one module per capability."""

from pipelines.assets import assignment, coverage, periods, portions, sourcing

ASSETS = [*sourcing.assets, *periods.assets, *assignment.assets, *coverage.assets,
          *portions.assets]
CHECKS = [*sourcing.checks, *periods.checks, *assignment.checks, *coverage.checks,
          *portions.checks]
