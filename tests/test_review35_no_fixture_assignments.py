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
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
# Fixtures a module still borrows by assignment (module -> fixture -> why it stays there).
_ONLY_USER = "this module is its only user: it stays beside the helpers it goes with"
_OVERRIDE = (
    "a SQLite-only `database_url` that overrides the folder's (tests/serving/"
    "database_fixtures.py) for this module: a conftest or a registered module cannot do that"
)
_SCORING = (
    "tests/serving/scoring_fixtures.py also lends a SQLite-only `database_url` (imported by "
    "name where it overrides the folder's): registered, it would clash with the shared one"
)
_PROMOTE = (
    "tests/serving/promote_helpers.py has a `models` (old, new, fusion) of its own beside "
    "rescore_fixtures' (old, new): the two cannot both be registered under one name"
)
_REFRESH = (
    "tests/serving/refresh_scene.py has a `fusion_dir` beside the registered one of "
    "tests/web/fusion_model_fixtures.py: the two cannot both be registered under one name"
)
_AUTOUSE = (
    "`one_code_version` of tests/serving/rescore_store_helpers.py is autouse: registered, it "
    "would fix the code version of every test, not only these modules'"
)
BORROWED_ON_PURPOSE: dict[str, dict[str, str]] = {
    "serving/test_demo_review22.py": {"work": _ONLY_USER},
    "serving/test_migration_messages_p475.py": {"behind_pg": _ONLY_USER},
    "serving/test_store_reads_review14.py": {"database_url": _OVERRIDE, "store": _OVERRIDE},
    "serving/test_api_scoring.py": {"model_dir": _SCORING},
    **{
        f"serving/{name}.py": dict.fromkeys(fixtures, _PROMOTE)
        for name, fixtures in {
            "test_ops_cli_review19": ("models", "rescored", "scored"),
            "test_promote_fusion_guard": ("models", "rescored"),
            "test_promote_lock_review14": ("scored",),
            "test_reassess_goes_on_review19": ("models", "promoted"),
            "test_rescore_exit_review20": ("models", "promoted"),
        }.items()
    },
    **{
        f"serving/{name}.py": dict.fromkeys(("scene", "fusion_dir", "new_fusion_dir"), _REFRESH)
        for name in (
            "test_assessments_refresh",
            "test_assessments_refresh_cli",
            "test_refresh_summary_review17",
        )
    },
    "serving/test_rescore_open_review20.py": dict.fromkeys(
        ("one_code_version", "scorer"), _AUTOUSE
    ),
    "serving/test_rescore_ray_report_review21.py": {"one_code_version": _AUTOUSE},
    "serving/test_rescore_report_review21.py": dict.fromkeys(
        ("one_code_version", "scorer"), _AUTOUSE
    ),
}


def _is_fixture(decorator: ast.expr) -> bool:
    """`@pytest.fixture`, `@pytest.fixture(...)`, or either through `from pytest import fixture`."""
    called = decorator.func if isinstance(decorator, ast.Call) else decorator
    if isinstance(called, ast.Attribute):
        return called.attr == "fixture"
    return isinstance(called, ast.Name) and called.id == "fixture"


def fixtures_defined(source: str) -> set[str]:
    """The module-level functions of the source decorated as pytest fixtures."""
    return {
        node.name
        for node in ast.parse(source).body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and any(_is_fixture(decorator) for decorator in node.decorator_list)
    }


def read_tests_module(dotted: str) -> str | None:
    """The source of a module of tests/ named `tests.<...>` (None for any other module)."""
    parts = dotted.split(".")
    if parts[0] != TESTS.name:
        return None
    base = TESTS.parent.joinpath(*parts)
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path.read_text(encoding="utf-8")
    return None


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
            parts = package.split(".")[: len(package.split(".")) - node.level + 1]
            module = ".".join(
                (parts if node.level else []) + ([node.module] if node.module else [])
            )
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


def _package(path: Path) -> str:
    return ".".join(path.relative_to(TESTS.parent).parts[:-1])


def test_no_module_borrows_a_fixture_by_assignment():
    refused = []
    modules = sorted(TESTS.rglob("*.py"))
    assert len(modules) > 100  # the tree was found
    for path in modules:
        excused = BORROWED_ON_PURPOSE.get(path.relative_to(TESTS).as_posix(), {})
        for where in fixtures_borrowed(path.read_text(encoding="utf-8"), _package(path)):
            if where.rsplit(".", 1)[1] not in excused:
                refused.append(f"{path.relative_to(TESTS.parent)}:{where}")
    assert refused == [], (
        "a fixture that several modules share belongs in the conftest.py of their folder or a "
        "fixture module that tests/conftest.py registers; a module-level copy has a cache of "
        "its own:\n" + "\n".join(refused)
    )


def test_each_fixture_borrowed_on_purpose_is_still_borrowed():
    # An excuse outlives its assignment otherwise: once the assignment is gone, so is the entry.
    for name, fixtures in BORROWED_ON_PURPOSE.items():
        borrowed = fixtures_borrowed(
            (TESTS / name).read_text(encoding="utf-8"), _package(TESTS / name)
        )
        for fixture in fixtures:
            assert any(where.endswith(f".{fixture}") for where in borrowed), (name, fixture)
