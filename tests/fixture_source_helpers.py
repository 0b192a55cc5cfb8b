"""Reading fixtures off the source of modules of tests/ (for the checks that hold tests/ to
keeping shared fixtures in conftests and registered fixture modules): which functions a
module decorates as fixtures, a module of tests/ read by its dotted name, and the module an
import statement names, relative imports resolved."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

TESTS = Path(__file__).resolve().parent


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


def module_imported_from(node: ast.ImportFrom, package: str) -> str:
    """The dotted module of `from <module> import ...` written in a module of `package`
    (`from .x import y` in package a.b names a.b.x; `from .. import y`, a)."""
    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
    return ".".join((parts if node.level else []) + ([node.module] if node.module else []))


# What a check finds in one module's source, given the module's package: `line: module.name`.
Finder = Callable[[str, str], list[str]]
# Places a check lets stand: module (relative to tests/) -> fixture name -> why.
Excuses = dict[str, dict[str, str]]


def package_of(path: Path) -> str:
    """The dotted package of a module of tests/ (tests/serving/x.py: tests.serving)."""
    return ".".join(path.relative_to(TESTS.parent).parts[:-1])


def refused_in(modules: list[Path], find: Finder, excused: Excuses) -> list[str]:
    """`tests/<module>:<line>: module.fixture` for each place `find` names in `modules`
    whose fixture the module's entry of `excused` does not name."""
    refused = []
    for path in modules:
        excuses = excused.get(path.relative_to(TESTS).as_posix(), {})
        for where in find(path.read_text(encoding="utf-8"), package_of(path)):
            if where.rsplit(".", 1)[1] not in excuses:
                refused.append(f"{path.relative_to(TESTS.parent)}:{where}")
    return refused


def excuses_outlived(find: Finder, excused: Excuses) -> list[tuple[str, str]]:
    """(module, fixture) for each excuse whose module no longer does what it excuses: once the
    place is gone, so must the entry be."""
    outlived = []
    for name, fixtures in excused.items():
        found = find((TESTS / name).read_text(encoding="utf-8"), package_of(TESTS / name))
        outlived += [
            (name, fixture)
            for fixture in fixtures
            if not any(where.endswith(f".{fixture}") for where in found)
        ]
    return outlived
