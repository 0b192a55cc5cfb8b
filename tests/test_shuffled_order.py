"""The opt-in shuffled test order (tests/shuffled_order.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.shuffled_order import SEED_VARIABLE, seed_asked, shuffled

ITEMS = [f"a.py::t{i}" for i in range(6)] + [f"b.py::t{i}" for i in range(5)] + ["c.py::t0"]


def _file(item: str) -> str:
    return item.split("::")[0]


def _files_in_runs(order: list[str]) -> list[str]:
    runs: list[str] = []
    for item in order:
        name = _file(item)
        if not runs or runs[-1] != name:
            runs.append(name)
    return runs


def test_every_test_runs_once_and_each_file_runs_whole():
    for seed in range(20):
        order = shuffled(ITEMS, _file, seed)
        assert sorted(order) == sorted(ITEMS)
        assert sorted(_files_in_runs(order)) == ["a.py", "b.py", "c.py"]  # one run per file


def test_a_seed_gives_one_order_and_seeds_give_others():
    assert shuffled(ITEMS, _file, 7) == shuffled(ITEMS, _file, 7)  # every process agrees
    orders = {tuple(shuffled(ITEMS, _file, seed)) for seed in range(20)}
    assert len(orders) > 15
    files = {tuple(_files_in_runs(list(order))) for order in orders}
    assert len(files) > 1  # the files' order moves too, not only their tests'


def test_unset_or_empty_leaves_the_written_order_and_a_word_is_refused(monkeypatch):
    monkeypatch.delenv(SEED_VARIABLE, raising=False)
    assert seed_asked() is None
    monkeypatch.setenv(SEED_VARIABLE, " ")
    assert seed_asked() is None
    monkeypatch.setenv(SEED_VARIABLE, "12")
    assert seed_asked() == 12
    monkeypatch.setenv(SEED_VARIABLE, "yes")
    with pytest.raises(pytest.UsageError, match=f"{SEED_VARIABLE}='yes': give a whole number"):
        seed_asked()


def _collected(seed: str | None) -> list[str]:
    root = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if k != SEED_VARIABLE}
    if seed is not None:
        env[SEED_VARIABLE] = seed
    files = ["tests/test_shuffled_order.py", "tests/test_local_zone.py"]
    ran = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "-p", "no:xdist", *files],
        cwd=root, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr
    return [line for line in ran.stdout.splitlines() if "::" in line]


@pytest.mark.slow  # two pytest processes collect
def test_pytest_runs_the_tests_in_the_order_the_seed_draws():
    written = _collected(None)
    assert len(written) >= 5
    assert _collected("5") == shuffled(written, _file, 5) != written
