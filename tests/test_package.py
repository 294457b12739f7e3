"""The project installs as one import package, ``fairalloc``, beside anything a user has.

A wheel is built from this checkout and installed (without dependencies: those are taken from
the test environment) into a fresh virtual environment that also holds a dummy package named
``pipelines`` — the name a user's own Dagster code location very often has. In that
environment, outside the repository, a transform runs through the curated API and
``dagster definitions validate`` loads the code location ``fairalloc.pipelines``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOP_LEVEL = ("transforms", "schemas", "solvers", "pipelines", "cli", "service")


def _run(*args: object, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # built from a copy, so neither a stale build/ folder in the checkout nor the build's own
    # leftovers can reach the wheel or the working tree
    src = tmp_path_factory.mktemp("src") / "fairalloc"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".wtvenv", "build", "*.egg-info", "dagster_home", "data", "__pycache__",
        ".hypothesis", "benchmarks"))
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", out, src, cwd=out)
    (found,) = out.glob("fairalloc-*.whl")
    return found


def test_the_wheel_holds_one_top_level_package(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"fairalloc"}
    for sub in TOP_LEVEL:
        assert f"fairalloc/{sub}/__init__.py" in names


@pytest.mark.slow
def test_installed_beside_a_package_named_pipelines(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", env_dir, cwd=tmp_path)
    py = env_dir / "bin" / "python"
    site = Path(_run(py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                     cwd=tmp_path).stdout.strip())
    # the dependencies come from the test environment, after the fresh site-packages
    deps = sysconfig.get_paths()["purelib"]
    (site / "zz_test_dependencies.pth").write_text(deps + "\n")
    _run(sys.executable, "-m", "pip", "--python", py, "install", "--no-deps", "-q", wheel,
         cwd=tmp_path)
    user = site / "pipelines"
    user.mkdir()
    (user / "__init__.py").write_text("WHOSE = 'the user'\n")
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DAGSTER_HOME")}
    env["DAGSTER_HOME"] = str(tmp_path / "home")
    (tmp_path / "home").mkdir()
    script = (
        "import fairalloc as fa, pipelines\n"
        "assert pipelines.WHOSE == 'the user', pipelines.__file__\n"
        f"assert fa.__file__.startswith({str(site)!r}), fa.__file__\n"
        "print(fa.apportion({1: 3, 2: 1}, 8).tolist(), fa.__version__)\n"
    )
    proc = _run(py, "-c", script, cwd=work, env=env)
    assert proc.stdout.split()[:2] == ["[6,", "2]"]
    dagster = Path(sys.executable).parent / "dagster"
    proc = _run(py, dagster, "definitions", "validate", "-m", "fairalloc.pipelines",
                cwd=work, env=env)
    assert "Validation successful" in proc.stdout + proc.stderr
