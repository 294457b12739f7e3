"""Each capability's options are written once (fairalloc.transforms.options) and every entry
reads them: the transform signatures, the solver registries, the Dagster run config and the
command line."""

from __future__ import annotations

import inspect

import dagster as dg
import pytest

import fairalloc as fa
from fairalloc.cli.parser import build_parser
from fairalloc.pipelines.assets import assignment, coverage, periods, portions, sourcing
from fairalloc.pipelines.io_manager import ParquetIOManager
from fairalloc.pipelines.resources import DataDir
from fairalloc.solvers import assignment as assign_kernels
from fairalloc.solvers import periods as period_kernels
from fairalloc.solvers import portions as portion_kernels
from fairalloc.solvers import sourcing as sourcing_kernels
from fairalloc.transforms.options import (
    ASSIGNMENT,
    COVERAGE,
    PERIODS,
    PORTIONS,
    SOURCING,
    VOCABULARIES,
)

#: (vocabulary, option) → the registry whose names the option chooses from.
REGISTRIES = [
    (SOURCING, "on_zero_capacity", sourcing_kernels.ZERO_CAPACITY_POLICIES),
    (PERIODS, "step2_strategy", period_kernels.STEP2_SOLVERS),
    (ASSIGNMENT, "strategy", assign_kernels.STRATEGIES),
    (PORTIONS, "method", portion_kernels.METHODS),
]

#: The public functions and which vocabulary their keyword defaults come from.
FUNCTIONS = [
    (fa.proportional_sourcing, SOURCING), (fa.direct_sourcing, SOURCING),
    (fa.allocate_periods, PERIODS), (fa.allocate_resource, PERIODS), (fa.lottery, PERIODS),
    (fa.assign_preferences, ASSIGNMENT), (fa.allocate_coverage, COVERAGE),
    (fa.audit_fairness, COVERAGE), (fa.apportion, PORTIONS),
]


@pytest.mark.parametrize(("vocabulary", "name", "registry"), REGISTRIES)
def test_choices_are_the_registry_names(vocabulary, name, registry):
    assert vocabulary.choices(name) == registry.names()


@pytest.mark.parametrize(("fn", "vocabulary"), FUNCTIONS, ids=lambda x: getattr(x, "__name__", ""))
def test_signature_defaults_come_from_the_vocabulary(fn, vocabulary):
    params = inspect.signature(fn).parameters
    shared = [n for n in params if n in vocabulary.names()]
    assert shared, fn.__name__
    for n in shared:
        assert params[n].default == vocabulary.option(n).default, (fn.__name__, n)


@pytest.mark.parametrize("config", [sourcing.DirectSourcingConfig, periods.PeriodAllocationConfig,
                                    periods.LotteryConfig, assignment.AssignmentConfig,
                                    coverage.CoverageConfig, portions.PortionsConfig],
                         ids=lambda c: c.__name__)
def test_run_config_defaults_and_choices_come_from_the_vocabulary(config):
    fields = config.model_fields
    matched = 0
    for vocabulary in VOCABULARIES.values():
        for name in set(fields) & set(vocabulary.names()):
            if fields[name].description != vocabulary.option(name).help:
                continue  # the same name in another capability
            matched += 1
            assert fields[name].default == vocabulary.option(name).default
            if vocabulary.option(name).choices:
                assert fields[name].annotation.__args__ == vocabulary.choices(name)
    assert matched


def test_command_line_defaults_and_choices_come_from_the_vocabulary():
    _, parsers = build_parser()
    actions = {(cmd, a.dest): a for cmd, p in parsers.items() for a in p._actions}
    expect = [("periods", "max_iterations", PERIODS), ("periods", "step2_strategy", PERIODS),
              ("assign", "strategy", ASSIGNMENT), ("assign", "unassigned_cost", ASSIGNMENT),
              ("portions", "method", PORTIONS), ("sourcing", "method", SOURCING)]
    for cmd, dest, vocabulary in expect:
        action = actions[(cmd, dest)]
        assert action.default == vocabulary.option(dest).default
        if vocabulary.option(dest).choices:
            assert tuple(action.choices) == vocabulary.choices(dest)


def test_a_wrong_choice_is_refused_before_the_run_starts(tmp_path):
    with pytest.raises(dg.DagsterInvalidConfigError, match="websterr"):
        dg.materialize(
            [*dg.load_assets_from_modules([portions])],
            run_config={"ops": {"portions": {"config": {"method": "websterr"}}}},
            instance=dg.DagsterInstance.ephemeral(), raise_on_error=True,
            selection=["portions"],
            resources={"data_dir": DataDir(path=str(tmp_path)),
                       "io_manager": ParquetIOManager(base_dir=str(tmp_path))})
