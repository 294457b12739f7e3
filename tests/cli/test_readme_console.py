"""The README's command-line examples run as written, and print what the README shows."""

from __future__ import annotations

import re
import shlex
import subprocess

import pytest

from tests import ROOT
from tests.cli.test_cli import COMMAND


def _commands() -> list[tuple[list[str], list[str]]]:
    """(argv, expected stdout lines) for every ``$ fairalloc …`` in a console block."""
    out = []
    for block in re.findall(r"```console\n(.*?)```", (ROOT / "README.md").read_text(), re.S):
        text = block.replace("\\\n", " ")  # join continued lines
        for cmd, shown in re.findall(r"^\$ (.*)\n((?:(?!\$ ).*\n)*)", text, flags=re.M):
            out.append((shlex.split(cmd), [line for line in shown.splitlines() if line]))
    return out


EXAMPLES = _commands()


def test_readme_has_an_example_per_subcommand():
    assert {argv[1] for argv, _ in EXAMPLES} == {"sourcing", "periods", "assign", "coverage",
                                                 "portions"}


@pytest.mark.parametrize(("argv", "shown"), EXAMPLES, ids=[" ".join(a[:2]) for a, _ in EXAMPLES])
def test_readme_console_example(argv, shown, tmp_path):
    (tmp_path / "data").symlink_to(ROOT / "data")
    assert argv[0] == "fairalloc"
    proc = subprocess.run([*COMMAND, *argv[1:]], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == shown
    for flag in ("--output", "-o", "--audit"):
        if flag in argv:
            assert (tmp_path / argv[argv.index(flag) + 1]).stat().st_size > 0
