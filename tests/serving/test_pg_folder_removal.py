"""The PostgreSQL test cluster's folder is deleted by a process of its own
(tests/serving/database_fixtures.py), so no test process waits for it at its end."""

from __future__ import annotations

import time
from pathlib import Path

from tests.serving.database_fixtures import remove_in_background


def test_the_folder_and_all_it_holds_is_deleted(tmp_path: Path) -> None:
    folder = tmp_path / "shanyraq-pg-x"
    for i in range(50):
        (folder / "cluster" / "base" / str(i % 5)).mkdir(parents=True, exist_ok=True)
        (folder / "cluster" / "base" / str(i % 5) / f"{i}").write_bytes(b"x" * 1000)
    (tmp_path / "kept").write_text("next to it")
    remove_in_background(folder)
    deadline = time.monotonic() + 30
    while folder.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not folder.exists()
    assert (tmp_path / "kept").read_text() == "next to it"


def test_a_name_with_spaces_and_a_leading_dash_is_one_folder(tmp_path: Path) -> None:
    folder = tmp_path / "-rf a folder"
    (folder / "inner").mkdir(parents=True)
    neighbour = tmp_path / "a"
    neighbour.mkdir()
    remove_in_background(folder)
    deadline = time.monotonic() + 30
    while folder.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not folder.exists()
    assert neighbour.is_dir()
