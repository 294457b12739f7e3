"""fairalloc: divide scarce, capacity-limited resources among competing claimants.

The public API, one import away (``import fairalloc as fa``): the transforms of every
capability, their result and report types, their charts (``plot`` and one function per
capability), the error types and ``load_output`` for tables the pipeline stored. Names load
on first use, so ``import fairalloc`` (and the ``fairalloc`` command's ``--help``) stays fast
and imports no data library until a transform is used.

Examples
--------
>>> import fairalloc as fa
>>> fa.apportion({1: 3, 2: 1}, 8).tolist()
[6, 2]
>>> issubclass(fa.FairallocError, ValueError)
True
"""

from __future__ import annotations

from importlib import import_module, metadata
from typing import TYPE_CHECKING, Any

try:
    __version__ = metadata.version("fairalloc")
except metadata.PackageNotFoundError:  # pragma: no cover - running from an uninstalled tree
    __version__ = "0+unknown"

#: Public name → the module that defines it.
_API: dict[str, str] = {
    # sourcing
    "proportional_sourcing": "fairalloc.transforms.sourcing",
    "direct_sourcing": "fairalloc.transforms.sourcing",
    "conservation_violations": "fairalloc.transforms.sourcing",
    "SourcingReport": "fairalloc.transforms.sourcing",
    # multi-period entitlements
    "allocate_periods": "fairalloc.transforms.periods",
    "allocate_period_groups": "fairalloc.transforms.periods",
    "allocate_resource": "fairalloc.transforms.periods",
    "lottery": "fairalloc.transforms.periods",
    "lottery_groups": "fairalloc.transforms.periods",
    "PeriodAllocation": "fairalloc.transforms.periods",
    "PeriodReport": "fairalloc.transforms.periods",
    "ResourceAllocation": "fairalloc.transforms.periods",
    # ranked preferences
    "assign_preferences": "fairalloc.transforms.assignment",
    "PreferenceAssignment": "fairalloc.transforms.assignment",
    "AssignmentReport": "fairalloc.transforms.assignment",
    # fair coverage
    "allocate_coverage": "fairalloc.transforms.coverage",
    "audit_fairness": "fairalloc.transforms.coverage",
    "CoverageAllocation": "fairalloc.transforms.coverage",
    "CoverageReport": "fairalloc.transforms.coverage",
    # integer portions
    "apportion": "fairalloc.transforms.portions",
    # charts (matplotlib figures, Agg canvas)
    "plot": "fairalloc.transforms.charts",
    "sourcing_chart": "fairalloc.transforms.charts",
    "periods_chart": "fairalloc.transforms.charts",
    "lottery_chart": "fairalloc.transforms.charts",
    "assignment_chart": "fairalloc.transforms.charts",
    "coverage_chart": "fairalloc.transforms.charts",
    "audit_chart": "fairalloc.transforms.charts",
    "portions_chart": "fairalloc.transforms.charts",
    # stored pipeline outputs
    "load_output": "fairalloc.pipelines.outputs",
    # statuses and errors
    "Status": "fairalloc.solvers.verify",
    "FairallocError": "fairalloc.transforms.errors",
    "ConservationError": "fairalloc.transforms.errors",
    "DuplicateKeyError": "fairalloc.transforms.errors",
    "EmptyInputError": "fairalloc.transforms.errors",
    "InputTypeError": "fairalloc.transforms.errors",
    "InvalidAmountError": "fairalloc.transforms.errors",
    "ParameterError": "fairalloc.transforms.errors",
    "SolverError": "fairalloc.transforms.errors",
    "UnknownKeyError": "fairalloc.transforms.errors",
    "ZeroCapacityError": "fairalloc.transforms.errors",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'fairalloc' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from fairalloc.pipelines.outputs import load_output  # noqa: F401
    from fairalloc.solvers.verify import Status  # noqa: F401
    from fairalloc.transforms.assignment import (  # noqa: F401
        AssignmentReport,
        PreferenceAssignment,
        assign_preferences,
    )
    from fairalloc.transforms.charts import (  # noqa: F401
        assignment_chart,
        audit_chart,
        coverage_chart,
        lottery_chart,
        periods_chart,
        plot,
        portions_chart,
        sourcing_chart,
    )
    from fairalloc.transforms.coverage import (  # noqa: F401
        CoverageAllocation,
        CoverageReport,
        allocate_coverage,
        audit_fairness,
    )
    from fairalloc.transforms.errors import (  # noqa: F401
        ConservationError,
        DuplicateKeyError,
        EmptyInputError,
        FairallocError,
        InputTypeError,
        InvalidAmountError,
        ParameterError,
        SolverError,
        UnknownKeyError,
        ZeroCapacityError,
    )
    from fairalloc.transforms.periods import (  # noqa: F401
        PeriodAllocation,
        PeriodReport,
        ResourceAllocation,
        allocate_period_groups,
        allocate_periods,
        allocate_resource,
        lottery,
        lottery_groups,
    )
    from fairalloc.transforms.portions import apportion  # noqa: F401
    from fairalloc.transforms.sourcing import (  # noqa: F401
        SourcingReport,
        conservation_violations,
        direct_sourcing,
        proportional_sourcing,
    )
