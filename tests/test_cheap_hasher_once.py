"""The tests' cheap password hasher is made in one place: tests/serving/helpers.py
`cheap_hasher()`. A module that builds its own Argon2 hasher at the lowest cost keeps a copy
of its parameters that drifts from the one the conftests put in place."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
HOME = "serving/helpers.py"
# Modules that still build their own (module -> why it stays).
OWN_HASHER_ON_PURPOSE: dict[str, str] = {}


def cheap_hashers_built(source: str) -> list[int]:
    """The lines where the source calls PasswordHasher(...) with time_cost=1 (however the
    class is reached: imported by name or through the argon2 module)."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        cost = {k.arg: k.value for k in node.keywords}.get("time_cost")
        if name == "PasswordHasher" and isinstance(cost, ast.Constant) and cost.value == 1:
            lines.append(node.lineno)
    return lines


@pytest.mark.parametrize(
    ("source", "found"),
    [
        (
            "from argon2 import PasswordHasher\nh = PasswordHasher(time_cost=1, parallelism=1)\n",
            [2],
        ),
        ("import argon2\n\ndef f():\n    return argon2.PasswordHasher(time_cost=1)\n", [4]),
        ("from argon2 import PasswordHasher\nOLD = PasswordHasher(time_cost=2)\n", []),
        ("from argon2 import PasswordHasher\nh = PasswordHasher()\n", []),
        ("h = cheap_hasher()\n", []),
    ],
    ids=["by_name", "through_the_module", "another_cost", "defaults", "the_helper"],
)
def test_a_cheap_hasher_built_in_place_is_found(source, found):
    assert cheap_hashers_built(source) == found


def test_only_the_helper_builds_the_cheap_hasher():
    modules = sorted(TESTS.rglob("*.py"))
    assert len(modules) > 100  # the tree was found
    built = {
        path.relative_to(TESTS).as_posix(): cheap_hashers_built(path.read_text(encoding="utf-8"))
        for path in modules
    }
    assert built[HOME], "cheap_hasher() is no longer where this check looks"
    refused = [
        f"tests/{name}:{lines}"
        for name, lines in built.items()
        if lines and name != HOME and name not in OWN_HASHER_ON_PURPOSE
    ]
    assert refused == [], "use tests.serving.helpers.cheap_hasher():\n" + "\n".join(refused)
    still = [name for name in OWN_HASHER_ON_PURPOSE if not built.get(name)]
    assert still == [], f"no longer build their own (drop the excuse): {still}"
