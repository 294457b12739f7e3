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


@pytest.mark.slow
def test_readme_notebook_example_runs(tmp_path, monkeypatch):
    """The notebook example, against outputs materialised (as ``make run`` does: every job of
    allocate_all over all partitions) into a temporary DAGSTER_HOME."""
    import dagster as dg

    from fairalloc.pipelines.assets import ASSETS
    from fairalloc.pipelines.io_manager import ParquetIOManager
    from fairalloc.pipelines.jobs import ALLOCATE_ALL
    from fairalloc.pipelines.resources import DataDir
    from fairalloc.pipelines.run import run_all

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    definitions = dg.Definitions(assets=ASSETS, jobs=ALLOCATE_ALL, resources={
        "io_manager": ParquetIOManager(base_dir=str(tmp_path / "storage")),
        "data_dir": DataDir(path=str(ROOT / "data"))})
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        results = run_all(instance, definitions=definitions)
    assert [r.success for r in results] == [True] * 4
    (code,) = [b for b in BLOCKS if "load_output" in b]
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["table"].index.names == ["commodity", "year", "source", "sink"]
