"""The ``fairalloc`` command line, end to end: the installed script in a subprocess.

Every capability runs on files in ``tmp_path`` (the sample data in ``data/`` or small hand-made
tables) and its output file is compared with the transform called in-process on the same
tables; conservation is checked on the output itself. Bad input must end in exactly one
``fairalloc: error:`` line and exit status 1 (usage errors: argparse's 2), never a traceback.
"""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from fairalloc.cli import main
from fairalloc.cli import parser as cli_parser

DATA = Path(__file__).resolve().parents[2] / "data"
SCRIPT = Path(sys.executable).parent / "fairalloc"
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "fairalloc"]
SUBCOMMANDS = ("sourcing", "periods", "assign", "coverage", "portions")
SLACK = 1 + 1e-9


def fairalloc(*args: object) -> subprocess.CompletedProcess:
    """Run the command line with ``args``; stdout and stderr captured as text."""
    return subprocess.run([*COMMAND, *map(str, args)], capture_output=True, text=True,
                          timeout=120, check=False)


def ok(*args: object) -> subprocess.CompletedProcess:
    proc = fairalloc(*args)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc


def flat(table: pd.DataFrame | pd.Series) -> pl.DataFrame:
    """A transform's result as the CLI writes it: index levels as leading columns."""
    frame = table.to_frame() if isinstance(table, pd.Series) else table
    return pl.from_pandas(frame.reset_index())


def sample(tmp_path: Path, capability: str, **renames: str) -> dict[str, Path]:
    """Copy ``data/<capability>/*.parquet`` to ``tmp_path``; ``stem="csv"`` stores it as CSV."""
    paths = {}
    for src in sorted((DATA / capability).glob("*.parquet")):
        ext = renames.get(src.stem, "parquet")
        dst = tmp_path / f"{src.stem}.{ext}"
        df = pl.read_parquet(src)
        if ext == "csv":
            df.write_csv(dst)
        else:
            df.write_parquet(dst)
        paths[src.stem] = dst
    return paths


def read(path: Path) -> pl.DataFrame:
    return pl.read_csv(path) if path.suffix == ".csv" else pl.read_parquet(path)


# --- one end-to-end run per capability -------------------------------------------------------

def test_direct_sourcing_by_groups_matches_the_transform(tmp_path):
    from fairalloc.transforms.sourcing import direct_sourcing

    p = sample(tmp_path, "sourcing", source_capacity="pq", sink_demand="csv")
    out = tmp_path / "direct.parquet"
    proc = ok("sourcing", "--matches", p["matches"], "--source-capacity", p["source_capacity"],
              "--sink-demand", p["sink_demand"], "--by", "commodity", "--by", "year",
              "--relative-tolerance", "0.1", "--output", out)
    assert proc.stdout == ""
    assert "fairalloc: wrote" in proc.stderr and "rows" in proc.stderr

    inputs = [read(p[k]) for k in ("matches", "source_capacity", "sink_demand")]
    src, snk = direct_sourcing(*inputs, relative_tolerance=0.1, by=["commodity", "year"])
    got = pl.read_parquet(out)
    assert_frame_equal(got, flat(pd.concat([src, snk], axis=1)))
    assert got.columns == ["commodity", "year", "source", "sink", "source_volume",
                           "sink_volume"]

    keys = ["commodity", "year"]
    used = got.group_by([*keys, "source"]).agg(pl.col("source_volume").sum())
    over = used.join(inputs[1], on=[*keys, "source"]).filter(
        pl.col("source_volume") > pl.col("capacity") * SLACK)
    received = got.group_by([*keys, "sink"]).agg(pl.col("sink_volume").sum())
    excess = received.join(inputs[2], on=[*keys, "sink"]).filter(
        pl.col("sink_volume") > pl.col("demand") * SLACK)
    assert over.height == 0 and excess.height == 0
    assert got["source_volume"].min() >= 0 and got["sink_volume"].min() >= 0


def test_proportional_sourcing_matches_the_transform(tmp_path):
    from fairalloc.transforms.sourcing import proportional_sourcing

    p = sample(tmp_path, "sourcing")
    out = tmp_path / "proportional.csv"
    ok("sourcing", "--method", "proportional", "--on-zero-capacity", "zero",
       "--matches", p["matches"], "--source-capacity", p["source_capacity"],
       "--sink-demand", p["sink_demand"], "--by", "commodity", "--by", "year", "-o", out)
    inputs = [read(p[k]) for k in ("matches", "sink_demand", "source_capacity")]
    volume = proportional_sourcing(*inputs, on_zero_capacity="zero", by=["commodity", "year"])
    got = pl.read_csv(out)
    assert_frame_equal(got, flat(volume))
    # every matched sink asks for at most its demand in all
    asked = got.group_by("commodity", "year", "sink").agg(pl.col("volume").sum())
    assert asked.join(inputs[1], on=["commodity", "year", "sink"]).filter(
        pl.col("volume") > pl.col("demand") * SLACK).height == 0


def test_periods_lottery_by_scenario_matches_the_transform(tmp_path):
    from fairalloc.transforms.periods import allocate_period_groups, lottery_groups

    p = sample(tmp_path, "periods", capacities="csv")
    out = tmp_path / "seats.parquet"
    ok("periods", "--requests", p["requests"], "--accounts", p["accounts"],
       "--capacities", p["capacities"], "--by", "scenario", "--lottery", "--seed", 7,
       "--output", out)
    capacities = read(p["capacities"])
    res = allocate_period_groups(read(p["requests"]), read(p["accounts"]), capacities,
                                 by="scenario")
    draw = lottery_groups(res.allocation, capacities, by="scenario", seed=7)
    got = pl.read_parquet(out)
    assert_frame_equal(got, flat(draw))
    assert set(got["won"].unique()) <= {0, 1}
    winners = got.group_by("scenario", "period").agg(pl.col("won").sum())
    assert winners.join(capacities, on=["scenario", "period"]).filter(
        pl.col("won") > pl.col("capacity").floor()).height == 0


def test_periods_published_example_to_csv(tmp_path):
    from fairalloc.transforms.periods import allocate_periods

    tables = {name: read(path).filter(pl.col("scenario") == "published").drop("scenario")
              for name, path in sample(tmp_path, "periods").items()}
    for name, df in tables.items():
        df.write_csv(tmp_path / f"{name}.csv")
    out = tmp_path / "allocation.csv"
    ok("periods", "--requests", tmp_path / "requests.csv", "--accounts",
       tmp_path / "accounts.csv", "--capacities", tmp_path / "capacities.csv", "-o", out)
    got = pl.read_csv(out)
    res = allocate_periods(tables["requests"], tables["accounts"], tables["capacities"])
    assert_frame_equal(got, flat(res.allocation))
    per_account = got.filter(pl.col("period") == 1).sort("account")
    assert np.allclose(per_account["allocation"].to_numpy(), [48, 36, 24, 12])
    used = got.group_by("period").agg(pl.col("allocation").sum())
    assert (used["allocation"] <= 120 * SLACK).all()
    assert (got["allocation"] <= got["request"] * SLACK).all()


def test_assign_rank_maximal_matches_the_transform(tmp_path):
    from fairalloc.transforms.assignment import assign_preferences

    p = sample(tmp_path, "assignment")
    out = tmp_path / "assignment.parquet"
    ok("assign", "--preferences", p["preferences"], "--capacities", p["capacities"],
       "--by", "campaign", "--strategy", "rank_maximal", "--seed", 3, "--output", out)
    prefs, caps = read(p["preferences"]), read(p["capacities"])
    res = assign_preferences(prefs, caps, strategy="rank_maximal", seed=3, by="campaign")
    got = pl.read_parquet(out)
    assert_frame_equal(got, flat(res.allocation))
    assert got.height == prefs.select("campaign", "user").n_unique()
    placed = got.filter(pl.col("item").is_not_null())
    load = placed.group_by("campaign", "item").len().join(caps, on=["campaign", "item"])
    assert load.filter(pl.col("len") > pl.col("capacity")).height == 0
    # every placement is one of the user's ranked items, at the rank they gave it
    listed = placed.join(prefs, on=["campaign", "user", "item"], how="left",
                         suffix="_given")
    assert (listed["rank"] == listed["rank_given"]).all()


def test_coverage_with_audit_matches_the_transform(tmp_path):
    from fairalloc.transforms.coverage import allocate_coverage

    p = sample(tmp_path, "coverage", supply="csv")
    out, audit = tmp_path / "coverage.parquet", tmp_path / "audit.csv"
    ok("coverage", "--groups", p["groups"], "--eligibility", p["eligibility"],
       "--supply", p["supply"], "--loss", "power:3", "--output", out, "--audit", audit)
    groups, supply = read(p["groups"]), read(p["supply"])
    res = allocate_coverage(groups, read(p["eligibility"]), supply, loss=("power", 3.0))
    got = pl.read_parquet(out)
    assert_frame_equal(got, flat(res.allocation))
    used = got.group_by("resource").agg(pl.col("amount").sum()).join(supply, on="resource")
    assert (used["amount"] <= used["supply"] * SLACK).all()
    covered = got.group_by("group").agg(pl.col("amount").sum()).join(groups, on="group")
    coverage = covered["prior"] + covered["amount"] / covered["population"]
    assert (coverage <= SLACK).all()
    complaints = pl.read_csv(audit)
    assert complaints.height == 0 and "complainant" in complaints.columns


def test_portions_inline_prints_the_table():
    proc = ok("portions", "--ratios", "1=3,2=1", "--total", 8)
    lines = [line.split() for line in proc.stdout.splitlines() if line.strip()]
    assert lines[0] == ["key", "portions"]
    assert {int(k): int(v) for k, v in lines[1:]} == {1: 6, 2: 2}
    assert "fairalloc:" not in proc.stdout and "fairalloc:" in proc.stderr


@pytest.mark.parametrize("ext", ["csv", "parquet"])
def test_portions_from_a_table_matches_the_transform(tmp_path, ext):
    from fairalloc.transforms.portions import apportion

    ratios = pl.DataFrame({"key": ["c", "a", "b", "d"], "ratio": [5.0, 3.0, 1.5, 0.0]})
    src = tmp_path / f"ratios.{ext}"
    if ext == "csv":
        ratios.write_csv(src)
    else:
        ratios.write_parquet(src)
    out = tmp_path / f"portions.{ext}"
    ok("portions", "--ratios", src, "--total", 19, "--method", "hamilton", "-o", out)
    got = read(out)
    assert_frame_equal(got, flat(apportion(ratios, 19, method="hamilton")))
    assert got["key"].to_list() == ["a", "b", "c", "d"] and got["portions"].sum() == 19


# --- output formats, atomic writes, quiet -------------------------------------------------------

def _readme_sourcing(tmp_path: Path) -> list[object]:
    """The README's example: sources A=300, B=150; sinks X=Y=300; all four matches."""
    pl.DataFrame({"source": ["A", "A", "B", "B"], "sink": ["X", "Y", "X", "Y"]}).write_csv(
        tmp_path / "m.csv")
    pl.DataFrame({"source": ["A", "B"], "capacity": [300, 150]}).write_parquet(
        tmp_path / "c.parquet")
    pl.DataFrame({"sink": ["X", "Y"], "demand": [300, 300]}).write_csv(tmp_path / "d.csv")
    return ["sourcing", "--matches", tmp_path / "m.csv", "--source-capacity",
            tmp_path / "c.parquet", "--sink-demand", tmp_path / "d.csv"]


@pytest.mark.parametrize("ext", ["csv", "parquet", "pq"])
def test_output_round_trips(tmp_path, ext):
    out = tmp_path / f"direct.{ext}"
    proc = ok(*_readme_sourcing(tmp_path), "--quiet", "--output", out)
    assert proc.stdout == "" and proc.stderr == ""
    expected = pl.DataFrame({"source": ["A", "A", "B", "B"], "sink": ["X", "Y", "X", "Y"],
                             "source_volume": [150.0, 150.0, 75.0, 75.0],
                             "sink_volume": [150.0, 150.0, 75.0, 75.0]})
    assert_frame_equal(read(out), expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["m.csv", "c.parquet", "d.csv", out.name])  # no temporary file left behind


def test_failed_run_leaves_existing_output_alone(tmp_path):
    out = tmp_path / "direct.csv"
    out.write_text("previous,result\n1,2\n")
    pl.DataFrame({"source": ["A"], "capacity": [-1.0]}).write_csv(tmp_path / "neg.csv")
    args = _readme_sourcing(tmp_path)
    args[args.index("--source-capacity") + 1] = tmp_path / "neg.csv"
    proc = fairalloc(*args, "-o", out)
    assert proc.returncode == 1
    assert out.read_text() == "previous,result\n1,2\n"


# --- errors ------------------------------------------------------------------------------------

def _bad_inputs(tmp_path: Path) -> dict[str, list[object]]:
    base = _readme_sourcing(tmp_path)

    def replace(option: str, value: object) -> list[object]:
        args = list(base)
        args[args.index(option) + 1] = value
        return args

    (tmp_path / "m.txt").write_text("source,sink\nA,X\n")
    (tmp_path / "broken.parquet").write_text("not a parquet file")
    pl.DataFrame({"sink": ["X", "Y"], "amount": [300, 300]}).write_csv(tmp_path / "nod.csv")
    pl.DataFrame({"key": [1, 2], "weight": [3, 1]}).write_csv(tmp_path / "r.csv")
    (tmp_path / "periods").mkdir()
    periods = sample(tmp_path / "periods", "periods")
    pl.read_parquet(periods["requests"]).with_columns(request=-pl.col("request")).write_csv(
        tmp_path / "neg_requests.csv")
    (tmp_path / "assignment").mkdir()
    assignment = sample(tmp_path / "assignment", "assignment")
    pl.DataFrame({"user": ["u1", "u1"], "item": ["I01", "I02"], "rank": [1, 1]}).write_csv(
        tmp_path / "same_rank.csv")
    (tmp_path / "coverage").mkdir()
    coverage = sample(tmp_path / "coverage", "coverage")
    pl.DataFrame({"group": ["nowhere"], "resource": ["mRNA"]}).write_csv(
        tmp_path / "stranger.csv")
    (tmp_path / "latin1.json").write_bytes(b"\xff\xfe{}")
    return {
        "negative request": ["periods", "--requests", tmp_path / "neg_requests.csv",
                             "--accounts", periods["accounts"], "--capacities",
                             periods["capacities"], "--by", "scenario"],
        "one rank twice": ["assign", "--preferences", tmp_path / "same_rank.csv",
                           "--capacities", assignment["capacities"]],
        "constraints not UTF-8": ["assign", "--preferences", assignment["preferences"],
                                  "--capacities", assignment["capacities"], "--strategy", "milp",
                                  "--constraints", tmp_path / "latin1.json"],
        "unknown group": ["coverage", "--groups", coverage["groups"], "--eligibility",
                          tmp_path / "stranger.csv", "--supply", coverage["supply"]],
        "output is the audit": ["coverage", "--groups", coverage["groups"], "--eligibility",
                                coverage["eligibility"], "--supply", coverage["supply"],
                                "-o", tmp_path / "x.csv", "--audit", tmp_path / "x.csv"],
        "total not whole": ["portions", "--ratios", "1=3,2=1", "--total", "8.5"],
        "negative ratio": ["portions", "--ratios", "1=-3,2=1", "--total", 8],
        "malformed ratio": ["portions", "--ratios", "1=3,2", "--total", 8],
        "ratio not a number": ["portions", "--ratios", "1=three", "--total", 8],
        "ratios table missing a column": ["portions", "--ratios", tmp_path / "r.csv",
                                          "--total", 8],
        "missing file": replace("--matches", tmp_path / "missing.parquet"),
        "unknown input extension": replace("--matches", tmp_path / "m.txt"),
        "unknown output extension": [*base, "--output", tmp_path / "out.json"],
        "table missing a column": replace("--sink-demand", tmp_path / "nod.csv"),
        "unreadable parquet": replace("--source-capacity", tmp_path / "broken.parquet"),
        "tolerance out of range": [*base, "--relative-tolerance", 1.5],
    }


#: what each bad input's message must say (so the run fails for the reason intended)
SAYS = {
    "negative request": "negative request: ('team01', 1)",
    "one rank twice": "same rank to two items: ('u1', 1)",
    "constraints not UTF-8": "latin1.json: not valid JSON",
    "unknown group": "missing from the group table: 'nowhere'",
    "output is the audit": "name the same file",
    "total not whole": "'8.5' is not a whole number",
    "negative ratio": "negative ratio: 1 ",
    "malformed ratio": "malformed item '2'",
    "ratio not a number": "ratio 'three' of key '1'",
    "ratios table missing a column": "lacks column(s) ratio",
    "missing file": "missing.parquet: no such file",
    "unknown input extension": "unknown extension '.txt'",
    "unknown output extension": "unknown extension '.json'",
    "table missing a column": "'demand'",
    "unreadable parquet": "cannot read source capacity",
    "tolerance out of range": "relative_tolerance must be a finite number ≥ 0 and < 1",
}


@pytest.mark.parametrize("case", ["negative request", "one rank twice", "constraints not UTF-8",
                                  "unknown group", "output is the audit", "total not whole",
                                  "negative ratio", "malformed ratio", "ratio not a number",
                                  "ratios table missing a column", "missing file",
                                  "unknown input extension", "unknown output extension",
                                  "table missing a column", "unreadable parquet",
                                  "tolerance out of range"])
def test_bad_input_is_one_error_line(tmp_path, case):
    proc = fairalloc(*_bad_inputs(tmp_path)[case], "--quiet")
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("fairalloc: error: "), proc.stderr
    assert SAYS[case] in lines[0]
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out.json").exists()


@pytest.mark.parametrize("case", ["missing file", "tolerance out of range"])
def test_bad_input_after_progress_ends_with_the_error(tmp_path, case):
    """Without --quiet the progress lines come first; the one error line is the last."""
    proc = fairalloc(*_bad_inputs(tmp_path)[case])
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert all(line.startswith("fairalloc: ") for line in lines), proc.stderr
    assert [line for line in lines if "error" in line] == lines[-1:]
    assert lines[-1].startswith("fairalloc: error: ")


@pytest.mark.parametrize("args", [
    ["assign", "--preferences", "p.csv", "--capacities", "c.csv", "--strategy", "greedy"],
    ["coverage", "--groups", "g.csv", "--eligibility", "e.csv", "--supply", "s.csv",
     "--loss", "cubic"],
    ["periods", "--requests", "r.csv", "--accounts", "a.csv", "--capacities", "c.csv",
     "--seed", "3"],
    ["portions", "--ratios", "1=3"],
    [],
])
def test_usage_errors_exit_2(args, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "error:" in err.splitlines()[-1] and "Traceback" not in err


# --- help, version, lazy imports ---------------------------------------------------------------

def test_main_help_lists_subcommands_and_version():
    proc = ok("--help")
    for name in SUBCOMMANDS:
        assert any(line.split()[:1] == [name] for line in proc.stdout.splitlines()), name
    assert ok("--version").stdout.split() == ["fairalloc", metadata.version("fairalloc")]


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_subcommand_help_has_an_example(name, capsys):
    assert main([name, "--help"]) == 0
    out = capsys.readouterr().out
    assert "Example" in out and f"fairalloc {name} --" in out


def test_help_imports_no_data_libraries():
    code = ("import sys; from cli import main; main(['sourcing', '--help']); "
            "heavy = {'polars', 'pandas', 'fairalloc.transforms.sourcing'} & set(sys.modules); "
            "sys.exit(f'imported {heavy}' if heavy else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr


def test_choices_follow_the_transforms():
    from fairalloc.solvers import assignment, periods, sourcing
    from fairalloc.transforms.portions import METHODS

    assert cli_parser.ASSIGN_STRATEGIES == assignment.STRATEGIES.names()
    assert cli_parser.ZERO_CAPACITY_POLICIES == sourcing.ZERO_CAPACITY_POLICIES.names()
    assert cli_parser.STEP2_STRATEGIES == periods.STEP2_SOLVERS.names()
    assert cli_parser.PORTION_METHODS == tuple(METHODS)


PNG = b"\x89PNG\r\n\x1a\n"

#: Per capability, the arguments of a run on the sample data (paths under data/).
PLOT_RUNS = {
    "sourcing": ["--matches", DATA / "sourcing/matches.parquet",
                 "--source-capacity", DATA / "sourcing/source_capacity.parquet",
                 "--sink-demand", DATA / "sourcing/sink_demand.parquet",
                 "--by", "commodity", "--by", "year"],
    "periods": ["--requests", DATA / "periods/requests.parquet",
                "--accounts", DATA / "periods/accounts.parquet",
                "--capacities", DATA / "periods/capacities.parquet", "--by", "scenario"],
    "assign": ["--preferences", DATA / "assignment/preferences.parquet",
               "--capacities", DATA / "assignment/capacities.parquet", "--by", "campaign"],
    "coverage": ["--groups", DATA / "coverage/groups.parquet",
                 "--eligibility", DATA / "coverage/eligibility.parquet",
                 "--supply", DATA / "coverage/supply.parquet"],
    "portions": ["--ratios", DATA / "portions/ratios.parquet", "--total", 75],
}


@pytest.mark.slow
@pytest.mark.parametrize("command", list(PLOT_RUNS))
def test_plot_writes_the_chart_as_png(tmp_path, command):
    chart = tmp_path / "chart.png"
    proc = ok(command, *PLOT_RUNS[command], "--output", tmp_path / "out.parquet",
              "--plot", chart)
    data = chart.read_bytes()
    assert data.startswith(PNG) and len(data) > 20_000
    assert f"wrote chart {chart}" in proc.stderr
    assert not list(tmp_path.glob(".fairalloc-tmp-*"))


@pytest.mark.parametrize(("plot", "message"), [
    ("chart.svg", "use a .png path"),
    ("{ratios}", "is also an input or output"),
    ("missing/chart.png", "does not exist"),
])
def test_plot_path_is_refused_before_anything_runs(tmp_path, capsys, plot, message):
    ratios = tmp_path / "ratios.png"  # an input that happens to end in .png
    output = tmp_path / "out.csv"
    path = plot.format(ratios=ratios)
    if not path.startswith(str(tmp_path)):
        path = str(tmp_path / path)
    args = ["portions", "--ratios", "a=1,b=2", "--total", "3", "--output", str(output),
            "--plot", path]
    if plot == "{ratios}":
        pl.DataFrame({"key": ["a"], "ratio": [1.0]}).write_csv(ratios)
        args[2] = str(ratios)
    assert main(args) == 1
    assert message in capsys.readouterr().err
    assert not output.exists()


@pytest.mark.parametrize(("command", "by"), [("sourcing", "--by commodity --by year"),
                                             ("periods", "--by scenario"),
                                             ("assign", "--by campaign")])
def test_repeated_keys_that_group_columns_separate_suggest_by(capsys, command, by):
    args = [a for a in PLOT_RUNS[command] if not str(a).startswith("--by")]
    args = [str(a) for a in args if str(a) not in ("commodity", "year", "scenario", "campaign")]
    assert main([command, *args, "-q"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("fairalloc: error:")
    assert f"allocate each group on its own with {by}" in err


def test_assignment_report_separates_rank_cost_from_unassigned_penalty(tmp_path, capsys):
    assert main(["assign", *map(str, PLOT_RUNS["assign"]), "--unassigned-cost", "500",
                 "--output", str(tmp_path / "out.csv")]) == 0
    # the summary line: rank cost of the placed users, then the penalty of the others
    from fairalloc.transforms.assignment import assign_preferences

    res = assign_preferences(pl.read_parquet(DATA / "assignment/preferences.parquet"),
                             pl.read_parquet(DATA / "assignment/capacities.parquet"),
                             unassigned_cost=500, by="campaign")
    err = capsys.readouterr().err
    r = res.report
    assert (f"rank cost {r.rank_cost:,}; {r.unassigned:,} unassigned × 500 = "
            f"{r.unassigned * 500:,} penalty (objective {r.total_cost:,})") in err
    assert r.rank_cost + r.unassigned_penalty == r.total_cost and r.unassigned > 0
