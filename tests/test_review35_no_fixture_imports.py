"""No module under tests/ imports a name from a test module (`test_*.py`).

A fixture imported by name into another module makes the reader hunt for it, needs a
`noqa: F401`, and ties one test module to another's internals. A fixture that several modules
share lives in the conftest.py of the folder that uses it (or of tests/, for several folders);
a plain helper in a `*_helpers.py` module beside the others.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
# Folders of tests/ not held to this yet (their shared fixtures are still being moved out of
# their test modules); each is taken off this list once it is done.
NOT_YET = ("welfare",)


def names_from_test_modules(source: str) -> list[str]:
    """`line: module.name` for each name the source imports from a module named test_*,
    at any depth of the code (in a function too) and however the module is spelled."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ImportFrom) or node.module is None:
            continue
        if node.module.rsplit(".", 1)[-1].startswith("test_"):
            module = "." * node.level + node.module
            found += [f"{node.lineno}: {module}.{alias.name}" for alias in node.names]
    return found


def _checked_modules() -> list[Path]:
    return [
        path
        for path in sorted(TESTS.rglob("*.py"))
        if path.relative_to(TESTS).parts[0] not in NOT_YET
    ]


@pytest.mark.parametrize(
    "source",
    [
        "from tests.web.test_pages import web",
        "from .test_leak_guard import artifact as artifact",
        "def f():\n    from tests.annotation.test_cli import pool\n",
    ],
    ids=["absolute", "relative", "in_a_function"],
)
def test_an_import_from_a_test_module_is_found(source):
    assert len(names_from_test_modules(source)) == 1


@pytest.mark.parametrize(
    "source",
    [
        "from tests.web.heatmap_model_helpers import SIGNS",
        "from tests.serving.helpers import started",
        "from . import helpers",
        "import tests.training.leak_guard_helpers",
    ],
)
def test_an_import_from_a_helper_module_is_not_refused(source):
    assert names_from_test_modules(source) == []


def test_no_module_imports_a_name_from_a_test_module():
    modules = _checked_modules()
    assert len(modules) > 100  # the tree was found
    refused = [
        f"{path.relative_to(TESTS.parent)}:{where}"
        for path in modules
        for where in names_from_test_modules(path.read_text(encoding="utf-8"))
    ]
    assert refused == [], (
        "shared fixtures belong in a conftest.py, shared helpers in a *_helpers.py module:\n"
        + "\n".join(refused)
    )
