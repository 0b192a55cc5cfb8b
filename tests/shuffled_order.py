"""An opt-in shuffled test order: `TEST_ORDER_SEED=SEED make test` (or pytest) runs the
test files in an order drawn from SEED, and each file's tests in an order of their own, so
that a test leaning on what another left behind (a row, a file, a warm cache, a second on the
clock) fails where the usual order hid it. Off unless the variable is set: `make test` keeps
the written order. Every test process draws the same order from the seed (pytest-xdist
requires it); with `--dist loadfile` a file still runs whole in one process. The name is
outside SHANYRAQ_: the commands the tests run refuse a SHANYRAQ_ variable that is no setting.

Registered by tests/conftest.py (`pytest_plugins`); found with it, in session 47: a test's
audit count that another test of its file added to, and a precondition that two builds end in
different seconds.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Sequence
from typing import TypeVar

import pytest

SEED_VARIABLE = "TEST_ORDER_SEED"

_T = TypeVar("_T")


def shuffled(items: Sequence[_T], file_of: Callable[[_T], str], seed: int) -> list[_T]:
    """`items` with their files (`file_of(item)`) in an order drawn from `seed`, each file's
    items shuffled too. Every item is kept once."""
    rng = random.Random(seed)
    files: dict[str, list[_T]] = {}
    for item in items:
        files.setdefault(file_of(item), []).append(item)
    order = list(files)
    rng.shuffle(order)
    out: list[_T] = []
    for name in order:
        group = files[name]
        rng.shuffle(group)
        out.extend(group)
    return out


def seed_asked() -> int | None:
    """The seed TEST_ORDER_SEED gives; None when unset or empty. A value that is not a
    whole number is refused, naming the variable."""
    value = os.environ.get(SEED_VARIABLE, "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise pytest.UsageError(
            f"{SEED_VARIABLE}={value!r}: give a whole number (the seed of the test order)"
        ) from None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    seed = seed_asked()
    if seed is None:
        return
    items[:] = shuffled(items, lambda item: item.nodeid.split("::", 1)[0], seed)


def pytest_report_header(config: pytest.Config) -> str | None:
    seed = seed_asked()
    return None if seed is None else f"test order shuffled, {SEED_VARIABLE}={seed}"
