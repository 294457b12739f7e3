"""Every public function has a numpydoc docstring: summary, Parameters, Returns.

The checks and exclusions are the ``[tool.numpydoc_validation]`` section of pyproject.toml, the
one ``make lint`` gives to ``numpydoc lint``. Here they are applied twice: by
``numpydoc.validate.validate`` to each public function as imported (what a reader of ``help()``
sees), and by numpydoc's own file linter to the source of the same modules (exactly what
``make lint`` runs). numpydoc does not compare a Raises section with what a function raises:
that part of the standard is kept by hand.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest
from numpydoc.hooks.validate_docstrings import parse_config, process_file
from numpydoc.validate import validate

ROOT = Path(__file__).resolve().parents[1]
CONFIG = parse_config(ROOT)

#: The modules whose public functions follow the standard (the same globs as ``make lint``):
#: private modules (``transforms/_tables.py`` …) are left out.
PATTERNS = ("transforms/[!_]*.py", "solvers/[!_]*.py", "schemas/[!_]*.py",
            "pipelines/outputs.py", "cli/__init__.py", "service/[!_]*.py")
FILES = sorted({path.relative_to(ROOT).as_posix()
                for pattern in PATTERNS for path in ROOT.glob(pattern)})


def _module_name(file: str) -> str:
    folder, stem = file.removesuffix(".py").split("/")
    return f"fairalloc.{folder}" if stem == "__init__" else f"fairalloc.{folder}.{stem}"


def _lint_name(module: str, name: str) -> str:
    """The name ``numpydoc lint`` gives a function: its file's stem, a dot, its name."""
    stem = "__init__" if module.count(".") == 1 else module.rsplit(".", 1)[1]
    return f"{stem}.{name}"


def _public_functions(module_name: str) -> list[str]:
    module = importlib.import_module(module_name)
    names = []
    for name, obj in vars(module).items():
        if (inspect.isfunction(obj) and obj.__module__ == module_name
                and not (CONFIG["exclude"] and CONFIG["exclude"].search(
                    _lint_name(module_name, name)))):
            names.append(f"{module_name}.{name}")
    return sorted(names)


FUNCTIONS = [name for file in FILES for name in _public_functions(_module_name(file))]


def _errors(name: str) -> list[str]:
    report = validate(name)
    return [f"{code} {message}" for code, message in report["errors"]
            if code in CONFIG["checks"]]


def test_the_standard_is_configured_and_reaches_every_public_module():
    assert {"PR01", "PR02", "RT01", "SS01", "GL08"} <= CONFIG["checks"]
    assert {"transforms/sourcing.py", "solvers/verify.py", "schemas/periods.py",
            "pipelines/outputs.py", "cli/__init__.py"} <= set(FILES)
    assert not any("/_" in file and not file.endswith("__init__.py") for file in FILES)
    assert {"fairalloc.transforms.sourcing.proportional_sourcing",
            "fairalloc.transforms.errors.translated", "fairalloc.solvers.verify.check",
            "fairalloc.pipelines.outputs.load_output", "fairalloc.cli.main"} <= set(FUNCTIONS)
    assert not any(name.rsplit(".", 1)[1].startswith("_") for name in FUNCTIONS)


def _undocumented(amount: float, *, limit: float = 1.0) -> float:
    """Clip an amount to a limit, with neither parameter documented."""
    return min(amount, limit)


def test_a_missing_parameters_section_fails():
    errors = _errors(f"{__name__}._undocumented")
    assert any(e.startswith("PR01") for e in errors), errors
    assert any(e.startswith("RT01") for e in errors), errors


@pytest.mark.parametrize("name", FUNCTIONS)
def test_public_function_docstring(name):
    errors = _errors(name)
    assert not errors, f"{name}:\n  " + "\n  ".join(errors)


@pytest.mark.parametrize("file", FILES)
def test_numpydoc_lint(file):
    findings = process_file(ROOT / file, CONFIG)
    assert not findings, "\n".join(f"{where}: {code} {text}" for where, _, code, text in findings)


def test_methods_and_class_constructors_are_checked_too(tmp_path):
    source = tmp_path / "shop.py"
    source.write_text(
        '"""A shop."""\n\n\n'
        "class Shop:\n"
        '    """A shop."""\n\n'
        "    def __init__(self, stock: float):\n"
        "        self.stock = stock\n\n"
        "    def sell(self, amount: float) -> float:\n"
        '        """Sell some."""\n'
        "        return self.stock - amount\n\n\n"
        "def helper() -> None:\n"
        '    """Nothing."""\n\n'
        "    def nested(x):\n"
        "        return x\n"
    )
    found = {(name, code) for _, name, code, _ in process_file(source, CONFIG)}
    names = {name for name, _ in found}
    assert ("shop.Shop", "PR01") in found, found  # the constructor's parameter
    assert ("shop.Shop.sell", "PR01") in found and ("shop.Shop.sell", "RT01") in found, found
    assert not any(name.startswith("shop.helper.") for name in names), found  # nested: exempt
