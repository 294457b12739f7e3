"""Typed run config: a wrong choice or a number out of bounds is refused at launch (a
``DagsterInvalidConfigError`` before any step runs), with the bounds of the one option
vocabulary (fairalloc.transforms.options)."""

from __future__ import annotations

import dagster as dg
import pytest

from fairalloc.pipelines.assets import assignment, coverage, of, periods, portions, sourcing
from fairalloc.pipelines.config import Bounded
from fairalloc.pipelines.io_manager import ParquetIOManager
from fairalloc.pipelines.resources import DataDir
from fairalloc.transforms.options import VOCABULARIES
from tests import ROOT

CONFIGS = {sourcing.DirectSourcingConfig: (sourcing, "direct_sourcing"),
           periods.PeriodAllocationConfig: (periods, "period_tables"),
           periods.LotteryConfig: (periods, "seat_lottery"),
           assignment.AssignmentConfig: (assignment, "assignments"),
           coverage.CoverageConfig: (coverage, "coverage_tables"),
           portions.PortionsConfig: (portions, "portions")}

#: (config class, field, refused value, accepted boundary value)
BAD = [
    (sourcing.DirectSourcingConfig, "relative_tolerance", 1.0, 0.0),
    (sourcing.DirectSourcingConfig, "relative_tolerance", -0.1, 0.999),
    (periods.PeriodAllocationConfig, "convergence_threshold", -1e-3, 0.0),
    (periods.PeriodAllocationConfig, "demand_gap_threshold", -1.0, 0.0),
    (periods.PeriodAllocationConfig, "max_iterations", -1, 0),
    (periods.PeriodAllocationConfig, "step2_strategy", "simplex", "lp"),
    (periods.LotteryConfig, "seed", -5, 0),
    (assignment.AssignmentConfig, "strategy", "greedy", "rank_maximal"),
    (assignment.AssignmentConfig, "unassigned_cost", -1, 0),
    (coverage.CoverageConfig, "loss", "cubic", "exp"),
    (portions.PortionsConfig, "method", "websterr", "webster"),
    (portions.PortionsConfig, "total", -3, 0),
]


@pytest.mark.parametrize(("config", "field", "bad", "good"), BAD,
                         ids=[f"{c.__name__}.{f}={b}" for c, f, b, _ in BAD])
def test_a_bad_value_is_refused_at_launch(tmp_path, config, field, bad, good):
    module, node = CONFIGS[config]
    with pytest.raises(dg.DagsterInvalidConfigError, match=field):
        dg.materialize(
            of(module),
            resources={"io_manager": ParquetIOManager(base_dir=str(tmp_path / "out")),
                       "data_dir": DataDir(path=str(ROOT / "data"))},
            run_config={"ops": {node: {"config": {field: bad}}}})
    assert not (tmp_path / "out").exists()  # nothing ran, nothing was stored
    assert getattr(config(**{field: good}), field) == good  # the boundary itself is fine


@pytest.mark.parametrize("config", list(CONFIGS), ids=lambda c: c.__name__)
def test_every_closed_choice_is_a_literal_and_every_bounded_number_is_bounded(config):
    for name, field in config.model_fields.items():
        for vocabulary in VOCABULARIES.values():
            if name not in vocabulary.names() or field.description != \
                    vocabulary.option(name).help:
                continue
            opt = vocabulary.option(name)
            if opt.choices:
                assert field.annotation.__args__ == opt.choices, name
            if opt.low is not None or opt.high is not None:
                assert isinstance(field.annotation, Bounded), name
                assert field.annotation.opt == opt, name
