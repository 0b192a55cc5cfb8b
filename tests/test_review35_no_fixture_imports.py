"""No module under tests/ takes a name off a test module (`test_*.py`) or a conftest.py.

A fixture imported by name into another module makes the reader hunt for it, needs a
`noqa: F401`, and ties one test module to another's internals; a whole test module imported
(`from tests.web import test_pages`, then `test_pages.web`) does the same with one more step,
and a fixture taken off it that way is a second copy with a cache of its own. A conftest.py is
pytest's, not a helper module: what it defines is found by pytest, never imported. A fixture
that several modules share lives in the conftest.py of the folder that uses it (or in a fixture
module that tests/conftest.py registers, for several folders); a plain helper in a
`*_helpers.py` module beside the others. Nor is a fixture imported by name from a helper or
fixture module (`from tests.serving.scoring_fixtures import model_dir  # noqa: F401`): it
is the same second copy, found by pytest only because the name was imported.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fixture_source_helpers import (
    TESTS,
    excuses_outlived,
    fixtures_defined,
    module_imported_from,
    read_tests_module,
    refused_in,
)

# Folders of tests/ not held to this yet (their shared fixtures are still being moved out of
# their test modules); each is taken off this list once it is done.
NOT_YET: tuple[str, ...] = ()
# Fixtures a module still imports by name from a helper module (module -> fixture -> why).
IMPORTED_ON_PURPOSE: dict[str, dict[str, str]] = {}


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


def fixtures_imported(
    source: str, package: str, read: Callable[[str], str | None] = read_tests_module
) -> list[str]:
    """`line: module.fixture` for each fixture that the source (a module of `package`) imports
    by name from a helper or fixture module of tests/, at any depth of the code and however
    the module is spelled; a fixture is a function that the module's source (as `read` gives
    it) decorates with pytest.fixture. Test modules and conftests are left to
    names_from_test_modules, which refuses any name taken off them."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ImportFrom) or node.module is None:
            continue
        module = module_imported_from(node, package)
        lender = None if _refused_module(module) else read(module)
        if lender is None:
            continue
        lent = fixtures_defined(lender)
        found += [f"{node.lineno}: {module}.{a.name}" for a in node.names if a.name in lent]
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


_LENDERS = {
    "tests.serving.scoring_fixtures": (
        "import pytest\n\n@pytest.fixture(scope='session')\ndef model_dir():\n    return 1\n\n"
        "def jpeg():\n    return b''\n\nLIMIT = 3\n"
    ),
    "tests.web.fixture_lib": "from pytest import fixture\n\n@fixture\ndef web():\n    yield 1\n",
    "tests.serving.conftest": "import pytest\n\n@pytest.fixture\ndef service():\n    return 1\n",
}
_MODEL_DIR = "1: tests.serving.scoring_fixtures.model_dir"


@pytest.mark.parametrize(
    ("source", "lent"),
    [
        pytest.param(
            "from tests.serving.scoring_fixtures import model_dir  # noqa: F401\n",
            [_MODEL_DIR], id="absolute",
        ),
        pytest.param(
            "from tests.serving.scoring_fixtures import model_dir as model_dir\n",
            [_MODEL_DIR], id="aliased_to_itself",
        ),
        pytest.param(
            "from .scoring_fixtures import LIMIT, model_dir as made\n",
            [_MODEL_DIR], id="relative_among_helpers",
        ),
        pytest.param(
            "from ..serving.scoring_fixtures import (\n    jpeg,\n    model_dir,\n)\n",
            [_MODEL_DIR], id="relative_from_a_sibling_folder",
        ),
        pytest.param(
            "from tests.web.fixture_lib import web\n",
            ["1: tests.web.fixture_lib.web"], id="fixture_decorator_imported_from_pytest",
        ),
        pytest.param(
            "def f():\n    from tests.serving.scoring_fixtures import model_dir\n",
            ["2: tests.serving.scoring_fixtures.model_dir"], id="in_a_function",
        ),
    ],
)  # fmt: skip
def test_a_fixture_imported_by_name_from_a_helper_module_is_found(source, lent):
    assert fixtures_imported(source, "tests.serving", _LENDERS.get) == lent


@pytest.mark.parametrize(
    "source",
    [
        "from tests.serving.scoring_fixtures import jpeg, LIMIT\n",
        "from tests.serving import scoring_fixtures\n",
        "import tests.serving.scoring_fixtures\n",
        "from tests.serving.missing import model_dir\n",
        "from pytest import fixture\n",
        "from tests.serving.conftest import service\n",
    ],
    ids=[
        "helpers_and_constants",
        "whole_module",
        "import_statement",
        "module_not_found",
        "not_a_tests_module",
        "conftest_refused_by_the_other_rule",
    ],
)
def test_an_import_of_anything_but_a_lent_fixture_is_not_found(source):
    assert fixtures_imported(source, "tests.serving", _LENDERS.get) == []


def test_the_lending_module_of_an_import_is_read_from_the_tree():
    source = "from tests.serving.database_fixtures import postgres_server\n"
    assert fixtures_imported(source, "tests.web") == [
        "1: tests.serving.database_fixtures.postgres_server"
    ]


def test_no_module_imports_a_fixture_by_name_from_a_helper_module():
    refused = refused_in(_checked_modules(), fixtures_imported, IMPORTED_ON_PURPOSE)
    assert refused == [], (
        "a fixture that several modules share belongs in the conftest.py of their folder or a "
        "fixture module that tests/conftest.py registers; imported by name it is a second "
        "copy with a cache of its own:\n" + "\n".join(refused)
    )


def test_each_fixture_imported_on_purpose_is_still_imported():
    assert excuses_outlived(fixtures_imported, IMPORTED_ON_PURPOSE) == []
