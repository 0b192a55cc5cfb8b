"""No module under tests/ takes a name off a test module (`test_*.py`) or a conftest.py.

A fixture imported by name into another module makes the reader hunt for it, needs a
`noqa: F401`, and ties one test module to another's internals; a whole test module imported
(`from tests.web import test_pages`, then `test_pages.web`) does the same with one more step,
and a fixture taken off it that way is a second copy with a cache of its own. A conftest.py is
pytest's, not a helper module: what it defines is found by pytest, never imported. A fixture
that several modules share lives in the conftest.py of the folder that uses it (or in a fixture
module that tests/conftest.py registers, for several folders); a plain helper in a
`*_helpers.py` module beside the others.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
# Folders of tests/ not held to this yet (their shared fixtures are still being moved out of
# their test modules); each is taken off this list once it is done.
NOT_YET: tuple[str, ...] = ()


def _refused_module(name: str) -> bool:
    """A dotted module name whose last part is a test module or a conftest."""
    last = name.rsplit(".", 1)[-1]
    return last.startswith("test_") or last == "conftest"


def names_from_test_modules(source: str) -> list[str]:
    """`line: module.name` for each name the source takes off a test module or a conftest: a
    name imported from one, or the module itself imported whole, at any depth of the code (in
    a function too) and however the module is spelled (absolute or relative)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"{node.lineno}: {a.name}" for a in node.names if _refused_module(a.name)]
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            if node.module is not None and _refused_module(node.module):
                found += [f"{node.lineno}: {module}.{alias.name}" for alias in node.names]
            else:  # `from tests.web import test_pages`, `from . import conftest`
                package = module if node.module is None else f"{module}."
                found += [
                    f"{node.lineno}: {package}{alias.name}"
                    for alias in node.names
                    if _refused_module(alias.name)
                ]
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
        "from tests.web import test_browser",
        "from tests.web import test_review28_upload_repeats_browser as review28",
        "from . import test_browser",
        "import tests.web.test_browser",
        "import tests.web.test_browser as browser_tests",
        "from .conftest import free_port",
        "from tests.training.conftest import write_toy_manifest",
        "from . import conftest as ls",
        "import tests.serving.conftest",
        "def f():\n    from tests.training import conftest\n",
    ],
    ids=[
        "absolute",
        "relative",
        "in_a_function",
        "whole_module_absolute",
        "whole_module_aliased",
        "whole_module_relative",
        "import_statement",
        "import_statement_aliased",
        "from_conftest_relative",
        "from_conftest_absolute",
        "whole_conftest_relative",
        "whole_conftest_import_statement",
        "whole_conftest_in_a_function",
    ],
)
def test_an_import_from_a_test_module_or_a_conftest_is_found(source):
    assert len(names_from_test_modules(source)) == 1


def test_what_is_found_names_the_line_and_the_module():
    source = "import os\nfrom tests.web import helpers, test_browser\nfrom . import conftest\n"
    assert names_from_test_modules(source) == ["2: tests.web.test_browser", "3: .conftest"]


@pytest.mark.parametrize(
    "source",
    [
        "from tests.web.heatmap_model_helpers import SIGNS",
        "from tests.serving.helpers import started",
        "from . import helpers",
        "import tests.training.leak_guard_helpers",
        "from tests.web import live, browser_helpers",
        "from tests.annotation.label_studio_server_helpers import free_port",
        "from . import conftest_helpers",
        "from __future__ import annotations",
    ],
)
def test_an_import_from_a_helper_module_is_not_refused(source):
    assert names_from_test_modules(source) == []


def test_no_module_imports_a_name_from_a_test_module_or_a_conftest():
    modules = _checked_modules()
    assert len(modules) > 100  # the tree was found
    refused = [
        f"{path.relative_to(TESTS.parent)}:{where}"
        for path in modules
        for where in names_from_test_modules(path.read_text(encoding="utf-8"))
    ]
    assert refused == [], (
        "shared fixtures belong in a conftest.py (pytest finds them there: never imported), "
        "shared helpers in a *_helpers.py module:\n" + "\n".join(refused)
    )
