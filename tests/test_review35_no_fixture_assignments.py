"""No module under tests/ borrows a fixture of another module by a module-level assignment.

`model = rescore_helpers.model` (or `model = model` after importing it, or a tuple of such)
makes a second copy of the fixture in the borrowing module, with a cache of its own: a fixture
of session or module scope is made again for it, and the reader hunts for where it comes from.
A fixture that several modules share lives in the conftest.py of their folder or in a fixture
module that tests/conftest.py registers (tests/test_review35_no_fixture_imports.py holds imports
from test modules and conftests to the same rule).
"""

from __future__ import annotations

import ast
from collections.abc import Callable

import pytest

from tests.fixture_source_helpers import (
    TESTS,
    excuses_outlived,
    fixtures_defined,
    module_imported_from,
    read_tests_module,
    refused_in,
)

# Fixtures a module still borrows by assignment (module -> fixture -> why it stays there).
_OVERRIDE = (
    "a SQLite-only `database_url` that overrides the folder's (tests/serving/"
    "database_fixtures.py: SQLite, then PostgreSQL) for this module's tests only: a conftest "
    "or a registered module would override it for every module of the folder"
)
BORROWED_ON_PURPOSE: dict[str, dict[str, str]] = {
    f"serving/{name}.py": {"database_url": _OVERRIDE}
    for name in (
        "test_batcher_queue_review21",
        "test_review27_hung_batch",
        "test_review27_unbatched_model_calls",
        "test_review28_hung_exit",
        "test_review31_error_logs",
        "test_review32_upload_page_logs",
        "test_store_reads_review14",
        "test_stored_copies_checked",
        "test_unavailable_retry_review21",
        "test_upload_quota_review21",
    )
}


def _bindings(tree: ast.Module, package: str) -> dict[str, str]:
    """The dotted name each module-level import binds a name to (`import a.b` binds `a` to
    "a"; `import a.b as x`, x to "a.b"; `from a import b as x`, x to "a.b", b a module of
    package a or a name defined in module a); relative imports resolved from `package`."""
    bound: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    bound[alias.asname] = alias.name
                else:
                    first = alias.name.split(".", 1)[0]
                    bound[first] = first
        elif isinstance(node, ast.ImportFrom):
            module = module_imported_from(node, package)
            for alias in node.names:
                bound[alias.asname or alias.name] = f"{module}.{alias.name}"
    return bound


def _dotted(node: ast.expr) -> list[str] | None:
    """`a.b.c` as ["a", "b", "c"]; None for anything but names and attributes."""
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return None if inner is None else [*inner, node.attr]
    return None


def fixtures_borrowed(
    source: str, package: str, read: Callable[[str], str | None] = read_tests_module
) -> list[str]:
    """`line: module.fixture` for each module-level assignment of the source (a module of
    `package`) whose value, or one of the values of a tuple, is a fixture of another module:
    `name = module.fixture` with the module imported, or `name = fixture` with the fixture
    imported. A fixture is a function that the other module's source (as `read` gives it)
    decorates with pytest.fixture."""
    tree = ast.parse(source)
    bound = _bindings(tree, package)
    values = [
        (node.lineno, value)
        for node in tree.body
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None
        for value in (node.value.elts if isinstance(node.value, ast.Tuple) else [node.value])
    ]
    found = []
    for lineno, value in values:
        parts = _dotted(value)
        if parts is None or parts[0] not in bound:
            continue
        full = bound[parts[0]].split(".") + parts[1:]
        module, name = ".".join(full[:-1]), full[-1]
        lender = read(module)
        if lender is not None and name in fixtures_defined(lender):
            found.append(f"{lineno}: {module}.{name}")
    return found


_LENDERS = {
    "tests.serving.rescore_helpers": (
        "import pytest\n\n@pytest.fixture(scope='module')\ndef model():\n    return 1\n\n"
        "def jpeg():\n    return b''\n\nLIMIT = 3\n"
    ),
    "tests.web.fixture_lib": "from pytest import fixture\n\n@fixture\ndef web():\n    yield 1\n",
}


_MODEL, _WEB = "tests.serving.rescore_helpers.model", "tests.web.fixture_lib.web"


@pytest.mark.parametrize(
    ("source", "lent"),
    [
        pytest.param(
            "from tests.serving import rescore_helpers\nmodel = rescore_helpers.model\n",
            _MODEL, id="module_attribute",
        ),
        pytest.param(
            "from tests.serving import rescore_helpers as rh\nmodel = rh.model\n",
            _MODEL, id="module_aliased",
        ),
        pytest.param(
            "import tests.serving.rescore_helpers\nmodel = tests.serving.rescore_helpers.model\n",
            _MODEL, id="import_statement",
        ),
        pytest.param(
            "import tests.serving.rescore_helpers as rh\nmodel = rh.model\n",
            _MODEL, id="import_statement_aliased",
        ),
        pytest.param(
            "from tests.serving.rescore_helpers import model\nmodel = model\n",
            _MODEL, id="name_imported",
        ),
        pytest.param(
            "from tests.serving.rescore_helpers import model as lent\nmodel = lent\n",
            _MODEL, id="name_imported_aliased",
        ),
        pytest.param(
            "from . import rescore_helpers\nmodel = rescore_helpers.model\n",
            _MODEL, id="relative_module",
        ),
        pytest.param(
            "from .rescore_helpers import model as lent\nmodel = lent\n",
            _MODEL, id="relative_name",
        ),
        pytest.param(
            "from tests.web import fixture_lib\nweb = fixture_lib.web\n",
            _WEB, id="fixture_decorator_imported_from_pytest",
        ),
        pytest.param(
            "from tests.serving import rescore_helpers\nmodel: object = rescore_helpers.model\n",
            _MODEL, id="annotated",
        ),
        pytest.param(
            "from tests.serving import rescore_helpers as rh\njpeg, model = rh.jpeg, rh.model\n",
            _MODEL, id="in_a_tuple",
        ),
    ],
)  # fmt: skip
def test_a_fixture_borrowed_by_assignment_is_found(source, lent):
    assert fixtures_borrowed(source, "tests.serving", _LENDERS.get) == [f"2: {lent}"]


@pytest.mark.parametrize(
    "source",
    [
        "from tests.serving import rescore_helpers\njpeg = rescore_helpers.jpeg\n",
        "from tests.serving import rescore_helpers\nLIMIT = rescore_helpers.LIMIT\n",
        "from tests.serving.rescore_helpers import jpeg\nphoto = jpeg\n",
        "from tests.serving import rescore_helpers\ndef f():\n    model = rescore_helpers.model\n",
        "from tests.serving import missing\nmodel = missing.model\n",
        "import pytest\nfixture = pytest.fixture\n",
        "from tests.serving import rescore_helpers\nmodel = rescore_helpers.model()\n",
        "model = 3\n",
    ],
    ids=[
        "helper_function",
        "constant",
        "helper_imported",
        "in_a_function",
        "module_not_found",
        "not_a_tests_module",
        "called",
        "no_import",
    ],
)
def test_an_assignment_of_anything_but_a_lent_fixture_is_not_refused(source):
    assert fixtures_borrowed(source, "tests.serving", _LENDERS.get) == []


def test_the_lending_module_is_read_from_the_tree():
    source = (
        "from tests.serving import database_fixtures\nkept = database_fixtures.postgres_server\n"
    )
    assert fixtures_borrowed(source, "tests.web") == [
        "2: tests.serving.database_fixtures.postgres_server"
    ]
    assert read_tests_module("pytest") is None and read_tests_module("tests.nowhere") is None


def test_no_module_borrows_a_fixture_by_assignment():
    modules = sorted(TESTS.rglob("*.py"))
    assert len(modules) > 100  # the tree was found
    refused = refused_in(modules, fixtures_borrowed, BORROWED_ON_PURPOSE)
    assert refused == [], (
        "a fixture that several modules share belongs in the conftest.py of their folder or a "
        "fixture module that tests/conftest.py registers; a module-level copy has a cache of "
        "its own:\n" + "\n".join(refused)
    )


def test_each_fixture_borrowed_on_purpose_is_still_borrowed():
    assert excuses_outlived(fixtures_borrowed, BORROWED_ON_PURPOSE) == []
