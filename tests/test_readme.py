"""The README's Python examples run as written (from the repository root)."""

from __future__ import annotations

import re

import pytest

from tests import ROOT

BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)


@pytest.mark.parametrize("code", [b for b in BLOCKS if "load_output" not in b])
def test_readme_example_runs(code, monkeypatch):
    monkeypatch.chdir(ROOT)
    exec(compile(code, "README.md", "exec"), {})


def test_readme_notebook_example_runs(tmp_path, monkeypatch):
    """The notebook example, against outputs materialised into a temporary DAGSTER_HOME."""
    import dagster as dg

    from fairalloc.pipelines.assets import ASSETS, CHECKS
    from fairalloc.pipelines.io_manager import ParquetIOManager
    from fairalloc.pipelines.resources import DataDir

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    assert dg.materialize([*ASSETS, *CHECKS], resources={
        "io_manager": ParquetIOManager(base_dir=str(tmp_path / "storage")),
        "data_dir": DataDir()}).success
    (code,) = [b for b in BLOCKS if "load_output" in b]
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["table"].index.names == ["commodity", "year", "source", "sink"]
