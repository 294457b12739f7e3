"""The command line never harms its inputs and cleans up after itself.

- An output path naming one of the inputs (the same path, another spelling of it, or a link to
  it) is refused before anything is read, for every command, and the input stays as it was.
- Temporary files carry the ``.fairalloc-tmp-`` prefix beside their target and are removed
  when a run ends by SIGTERM (a real signal sent to the process) or by an exception.
- Whatever fails underneath a command, the run ends in one ``fairalloc: error:`` line.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pandas as pd
import polars as pl
import pytest

from fairalloc.cli import exit_on_signals, main
from fairalloc.transforms import portions as portions_module
from fairalloc.transforms._files import TMP_PREFIX, write_atomic
from tests.cli.test_cli import SUBCOMMANDS, fairalloc, sample


def _command(tmp_path: Path, name: str) -> tuple[list[object], Path]:
    """A valid run of ``name`` and the input file an ``-o`` will collide with."""
    if name == "portions":
        ratios = tmp_path / "ratios.csv"
        pl.DataFrame({"key": [1, 2], "ratio": [3.0, 1.0]}).write_csv(ratios)
        return ["portions", "--ratios", ratios, "--total", 8], ratios
    folder = {"assign": "assignment"}.get(name, name)
    p = sample(tmp_path, folder)
    options = {
        "sourcing": ["--matches", p.get("matches"), "--source-capacity",
                     p.get("source_capacity"), "--sink-demand", p.get("sink_demand"),
                     "--by", "commodity", "--by", "year"],
        "periods": ["--requests", p.get("requests"), "--accounts", p.get("accounts"),
                    "--capacities", p.get("capacities"), "--by", "scenario"],
        "assign": ["--by", "campaign", "--preferences", p.get("preferences"), "--capacities",
                   p.get("capacities")],
        "coverage": ["--groups", p.get("groups"), "--eligibility", p.get("eligibility"),
                     "--supply", p.get("supply")],
    }[name]
    victim = Path(options[-1] if name in ("assign", "coverage") else options[1])
    return [name, *options], victim


@pytest.mark.parametrize("spelling", ["same", "dotted", "link"])
@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_output_naming_an_input_is_refused(tmp_path, name, spelling):
    args, victim = _command(tmp_path, name)
    before = victim.read_bytes()
    if spelling == "same":
        out = victim
    elif spelling == "dotted":
        out = victim.parent / "." / victim.name
    else:
        out = tmp_path / f"link{victim.suffix}"
        out.symlink_to(victim)
    proc = fairalloc(*args, "-o", out)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("fairalloc: error: output") and "is also an input" in lines[-1]
    assert "Traceback" not in proc.stderr
    assert victim.read_bytes() == before


def test_sigterm_during_a_write_removes_the_temporary_file(tmp_path):
    target = tmp_path / "out.parquet"
    target.write_text("previous")

    def write(tmp: Path) -> None:
        assert tmp.name.startswith(TMP_PREFIX) and tmp.parent == tmp_path
        tmp.write_text("half a table")
        os.kill(os.getpid(), signal.SIGTERM)  # a real signal, delivered to this process

    with pytest.raises(SystemExit) as info, exit_on_signals():
        write_atomic(target, write)
    assert info.value.code == 128 + signal.SIGTERM
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.parquet"]
    assert target.read_text() == "previous"


def test_signal_handlers_are_restored():
    before = signal.getsignal(signal.SIGTERM)
    with exit_on_signals():
        assert signal.getsignal(signal.SIGTERM) is not before
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_failure_underneath_is_one_error_line(monkeypatch, capsys):
    def broken(*args, **kwargs):
        return {}["no such key"]  # a bug or a library error deep inside the transform

    monkeypatch.setattr(portions_module, "apportion", broken)
    status = main(["portions", "--ratios", "1=3,2=1", "--total", "8"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 1
    assert err == ["fairalloc: error: portions: cannot use the input (KeyError: 'no such key')"]


def test_successful_write_leaves_no_temporary_files(tmp_path):
    out = tmp_path / "p.csv"
    assert main(["-q", "portions", "--ratios", "1=3,2=1", "--total", "8", "-o", str(out)]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["p.csv"]
    assert pd.read_csv(out)["portions"].tolist() == [6, 2]
