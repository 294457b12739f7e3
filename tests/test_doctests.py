"""The examples in every module's docstrings run, imported by their ``fairalloc.`` names.

(pytest's ``--doctest-modules`` would import the folders under their bare names — a second
copy of every module, whose exception types differ from the installed ones.)
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

#: The subpackages of the namespace (each maps a top-level folder of the repository).
PACKAGES = ("transforms", "solvers", "schemas", "pipelines", "cli", "service")


def _modules() -> list[str]:
    names = ["fairalloc"]
    for sub in PACKAGES:
        package = importlib.import_module(f"fairalloc.{sub}")
        names.append(package.__name__)
        names += [m.name for m in pkgutil.walk_packages(package.__path__, f"{package.__name__}.")
                  if not m.name.endswith("__main__")]
    return sorted(names)


MODULES = _modules()
FLAGS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS


def test_every_module_is_walked():
    assert {"fairalloc.transforms.errors", "fairalloc.solvers.verify", "fairalloc.cli.io",
            "fairalloc.pipelines.assets.sourcing", "fairalloc.schemas.sourcing"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    for test in finder.find(module, name):  # each example sees a copy of its module's globals
        runner.run(test)
    failed, attempted = runner.summarize(verbose=False)
    assert failed == 0, f"{failed} of {attempted} docstring examples failed in {name}"
