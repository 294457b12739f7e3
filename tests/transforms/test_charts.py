"""Charts: what each figure draws (bars, their lengths, labels, the "other" bar at scale).

Speed is measured in benchmarks/bench_charts.py, not here; at 10^6 rows these tests check
that the figure stays legible: a fixed number of bars, the rest summed into one "other" bar.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest

import fairalloc as fa
from benchmarks.bench_charts import large_results
from fairalloc.transforms import charts
from fairalloc.transforms.coverage import AUDIT_COLUMNS
from fairalloc.transforms.errors import InputTypeError

PNG = b"\x89PNG\r\n\x1a\n"


def _widths(ax) -> list[float]:
    return [round(float(p.get_width()), 9) for p in ax.patches]


def _heights(ax) -> list[float]:
    return [round(float(p.get_height()), 9) for p in ax.patches]


def _ylabels(ax) -> list[str]:
    return [t.get_text() for t in ax.get_yticklabels()]


def _xlabels(ax) -> list[str]:
    return [t.get_text() for t in ax.get_xticklabels()]


# --- small, hand-checked results ------------------------------------------------------------------

def _grouped_sourcing():
    matches = pl.DataFrame({"g": ["g1", "g2"], "source": ["A", "B"], "sink": ["X", "Y"]})
    capacity = pl.DataFrame({"g": ["g1", "g2"], "source": ["A", "B"], "capacity": [5.0, 10.0]})
    demand = pl.DataFrame({"g": ["g1", "g2"], "sink": ["X", "Y"], "demand": [20.0, 4.0]})
    return fa.direct_sourcing(matches, capacity, demand, by="g"), demand, capacity


def test_sourcing_chart_stacks_allocated_and_unmet_per_group():
    result, demand, capacity = _grouped_sourcing()
    fig = fa.sourcing_chart(result, demand, capacity)
    groups, sources, sinks = fig.axes
    # largest demand first: g1 (5 allocated + 15 unmet = 20), then g2 (4 + 0)
    assert _ylabels(groups) == ["g1", "g2"]
    assert _widths(groups) == [5.0, 4.0, 15.0, 0.0]
    assert [t.get_text() for t in groups.get_legend().get_texts()] == ["allocated",
                                                                       "unmet demand"]
    # A uses 5 / 5 (the 90–100 % bin), B 4 / 10 (30–40 %): half the sources each
    heights = _heights(sources)
    assert len(heights) == 11 and heights[9] == heights[3] == 0.5 and sum(heights) == 1.0
    assert _xlabels(sources)[-1] == ">100"
    # X receives 5 / 20 (20–30 %), Y 4 / 4 (90–100 %)
    assert _heights(sinks)[2] == _heights(sinks)[9] == 0.5
    assert "direct sourcing: 2 matches" in fig._suptitle.get_text()


def test_utilisation_float_noise_is_shown_as_full_not_over_capacity():
    index = pd.MultiIndex.from_tuples([("A", "X")], names=["source", "sink"])
    volume = pd.Series([1.0000000000000075], index=index, name="volume")
    fig = charts.sourcing_chart(volume, {"X": 2.0}, {"A": 1.0})
    assert _heights(fig.axes[1])[9] == 1.0 and _heights(fig.axes[1])[10] == 0.0


def test_sourcing_chart_without_inputs_says_what_to_pass():
    result, _, _ = _grouped_sourcing()
    fig = charts.sourcing_chart(result)
    assert _widths(fig.axes[0]) == [5.0, 4.0]
    assert "pass source_capacity" in fig.axes[1].texts[0].get_text()


def test_periods_chart_stacks_steps_under_the_capacity_mark():
    req = pd.DataFrame({"account": ["A", "B", "A", "B"], "period": [1, 1, 2, 2],
                        "request": [9.0, 9.0, 1.0, 1.0]})
    res = fa.allocate_periods(req, {"A": 1, "B": 1}, {1: 10.0, 2: 5.0})
    fig = fa.plot(res)
    use, lam = fig.axes
    assert _ylabels(use) == ["1", "2"]
    step1 = _widths(use)[:2]
    step2 = _widths(use)[2:]
    used = res.periods["used"].to_numpy()
    np.testing.assert_allclose(np.add(step1, step2), used, rtol=1e-9)
    marks = use.collections[0].get_offsets()  # the capacity marks
    np.testing.assert_allclose(np.asarray(marks)[:, 0], [10.0, 5.0])
    legend = [t.get_text() for t in lam.get_legend().get_texts()]
    assert any(t.startswith("full (") for t in legend)


def test_assignment_chart_counts_choices_per_strategy_and_fill_rates():
    prefs = pd.DataFrame({"user": ["a", "a", "b", "b", "c"], "item": ["X", "Y", "X", "Y", "X"],
                          "rank": [1, 2, 1, 2, 1]})
    caps = {"X": 1, "Y": 1}
    runs = {s: fa.assign_preferences(prefs, caps, strategy=s)
            for s in ("min_cost_flow", "rank_maximal")}
    fig = fa.plot(runs, caps)
    ranks, fill = fig.axes
    assert _xlabels(ranks) == ["1st", "2nd", "none"]
    # two strategies × three bars: one user gets a 1st choice, one a 2nd, one none
    assert _heights(ranks) == [1.0, 1.0, 1.0] * 2
    assert [t.get_text() for t in ranks.get_legend().get_texts()] == list(runs)
    assert _widths(fill) == [1.0, 1.0]  # both items full


def test_assignment_chart_of_groups_reads_items_per_group():
    # the same item names in two campaigns are different items with their own capacities
    prefs = pd.DataFrame({"campaign": ["c1", "c1", "c2", "c2"], "user": ["a", "b", "a", "b"],
                          "item": ["X", "X", "X", "Y"], "rank": [1, 1, 1, 1]})
    caps = pd.DataFrame({"campaign": ["c1", "c2", "c2"], "item": ["X", "X", "Y"],
                         "capacity": [2, 4, 1]})
    res = fa.assign_preferences(prefs, caps, by="campaign")
    fig = fa.plot(res, caps)
    ranks, fill = fig.axes
    assert _xlabels(ranks) == ["1st", "none"] and _heights(ranks) == [4.0, 0.0]
    fills = dict(zip(_ylabels(fill), _widths(fill), strict=True))
    assert fills == {"c1 / X": 1.0, "c2 / X": 0.25, "c2 / Y": 1.0}


def test_coverage_chart_marks_scarce_resources_and_prices():
    groups = pd.DataFrame({"group": ["old", "young", "few"], "population": [100, 300, 10],
                           "prior": [0.0, 0.0, 0.0], "weight": [3.0, 1.0, 1.0]})
    elig = pd.DataFrame({"group": ["old", "young", "few"], "resource": ["A", "A", "B"]})
    res = fa.allocate_coverage(groups, elig, {"A": 150, "B": 1000})
    audit = fa.audit_fairness(groups, res.allocation, elig)
    fig = fa.plot(res, audit)
    cov, use, price = fig.axes
    assert _xlabels(cov) == ["1", "3"]
    assert _ylabels(use) == ["B", "A"]  # by supply
    legend = [t.get_text() for t in use.get_legend().get_texts()]
    assert legend == ["supply", "used", "used up (scarce)"]
    assert _ylabels(price)[0] == "A" and _widths(price)[0] == pytest.approx(1.5)
    assert "0 justified complaint(s)" in fig._suptitle.get_text()


def test_portions_chart_marks_the_exact_quota():
    result = fa.apportion({"a": 3, "b": 1}, 8)
    fig = fa.plot(result, {"a": 3, "b": 1})
    bars, rounding = fig.axes
    assert _ylabels(bars) == ["a", "b"] and _widths(bars) == [6.0, 2.0]
    np.testing.assert_allclose(np.asarray(bars.collections[0].get_offsets())[:, 0], [6.0, 2.0])
    assert sum(_heights(rounding)) == 2  # both keys, rounding 0


def test_audit_and_lottery_charts():
    assert "no justified complaint" in fa.plot(pd.DataFrame(columns=AUDIT_COLUMNS)) \
        .axes[0].get_title()
    audit = pd.DataFrame({"complainant": ["a", "a", "b"], "other": ["c", "d", "c"],
                          "resource": ["R", "R", "S"], "complainant_weight": 1.0,
                          "other_weight": 1.0, "complainant_coverage": 0.1,
                          "other_coverage": 0.5, "amount": 1.0,
                          "definition": ["higher_weight", "lower_coverage", "higher_weight"]})
    ax = fa.plot(audit).axes[0]
    assert _ylabels(ax) == ["R", "S"] and _widths(ax) == [1.0, 1.0, 1.0, 0.0]
    draw = pd.DataFrame({"probability": [0.5, 0.5, 1.0], "won": [1, 0, 1]},
                        index=pd.MultiIndex.from_tuples([("A", 1), ("B", 1), ("A", 2)],
                                                        names=["account", "period"]))
    ax = fa.plot(draw).axes[0]
    assert _ylabels(ax) == ["1", "2"] and _widths(ax) == [1.0, 1.0]


def test_png_bytes_and_key_labels():
    data = charts.png_bytes(fa.plot(fa.apportion({1: 3, 2: 1}, 8)))
    assert data.startswith(PNG) and len(data) > 5_000
    assert charts.key_label(("cocoa", 2024, "T020")) == "cocoa / 2024 / T020"


def test_plot_refuses_what_it_cannot_draw():
    with pytest.raises(InputTypeError, match="no chart for a int"):
        fa.plot(3)
    with pytest.raises(InputTypeError, match="PeriodAllocation"):
        charts.periods_chart(pd.DataFrame())


# --- 10^6 rows: the same number of bars, the rest in "other" --------------------------------------

@pytest.fixture(scope="module")
def large():
    return large_results(1_000_000)


@pytest.mark.slow
def test_large_sourcing_chart_stays_legible(large):
    fig = fa.plot(*large["sourcing"])
    groups, sources, sinks = fig.axes
    assert len(_ylabels(groups)) == 6 and len(groups.patches) == 12  # 6 groups × 2 stacks
    assert len(sources.patches) == 11 and len(sinks.patches) == 10
    assert "1,000,000 matches" in fig._suptitle.get_text()


@pytest.mark.slow
def test_large_periods_chart_samples_accounts(large):
    fig = fa.plot(*large["periods"])
    use, lam = fig.axes
    assert len(_ylabels(use)) == 4
    assert sum(len(c.get_offsets()) for c in lam.collections) == charts.SAMPLE
    assert "5,000 of 250,000 accounts" in lam.get_title()


@pytest.mark.slow
def test_large_assignment_chart_bins_fill_rates(large):
    fig = fa.plot(*large["assignment"])
    ranks, fill = fig.axes
    assert _xlabels(ranks) == ["1st", "2nd", "3rd", "4th", "5th", "6th", "7th", "8th", "9th",
                               "10th+", "none"]
    assert sum(_heights(ranks)) == 1_000_000
    assert len(fill.patches) == 10 and "1,000 items" in fill.get_ylabel()


@pytest.mark.slow
def test_large_coverage_chart_has_top_resources_and_other(large):
    fig = fa.plot(*large["coverage"])
    cov, use, price = fig.axes
    assert len(_xlabels(cov)) == 5
    labels = _ylabels(use)
    assert len(labels) == charts.TOP + 1 and labels[-1] == "other (988 resources)"
    supply = large["coverage"][0].resources["supply"]
    assert _widths(use)[charts.TOP] == pytest.approx(supply.sum() - supply.nlargest(12).sum())
    assert len(_ylabels(price)) == charts.TOP


@pytest.mark.slow
def test_large_portions_chart_has_top_keys_and_other(large):
    fig = fa.plot(*large["portions"])
    bars, rounding = fig.axes
    labels = _ylabels(bars)
    assert len(labels) == charts.TOP + 1 and labels[-1] == "other (999,988 keys)"
    assert sum(_widths(bars)) == large["portions"][0].sum()
    assert len(rounding.patches) == 20
