"""tests/made_once.py: a thing made once per process is copied only into a fresh folder, under
its own kind and key, and a key follows the configs a test runs under."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.made_once import inputs_digest, made_file_once, made_once


def _maker(calls: list[Path], text: str):  # type: ignore[no-untyped-def]
    def make(into: Path) -> None:
        calls.append(into)
        into.mkdir(parents=True, exist_ok=True)
        (into / "made.txt").write_text(text)

    return make


def test_a_fresh_folder_gets_a_copy_and_a_folder_holding_something_a_real_make(tmp_path):
    calls: list[Path] = []
    key = inputs_digest("test_made_once", str(tmp_path))
    made_once("made-once-test", key, tmp_path / "a", _maker(calls, "first"))
    (tmp_path / "b").mkdir()  # fresh too: empty
    made_once("made-once-test", key, tmp_path / "b", _maker(calls, "second"))
    assert calls == [tmp_path / "a"]
    assert (tmp_path / "b" / "made.txt").read_text() == "first"
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "other.txt").write_text("kept")
    made_once("made-once-test", key, tmp_path / "c", _maker(calls, "third"))
    assert calls[-1] == tmp_path / "c"
    assert (tmp_path / "c" / "made.txt").read_text() == "third"
    assert (tmp_path / "c" / "other.txt").read_text() == "kept"
    made_once("made-once-other", key, tmp_path / "d", _maker(calls, "fourth"))
    assert (tmp_path / "d" / "made.txt").read_text() == "fourth"  # another kind: made anew


def test_a_file_made_once_is_copied_and_an_existing_file_left(tmp_path):
    calls: list[Path] = []

    def make(path: Path) -> None:
        calls.append(path)
        path.write_text("made")

    key = inputs_digest("test_made_file_once", str(tmp_path))
    made_file_once("made-once-file", key, tmp_path / "x" / "one.db", make)
    made_file_once("made-once-file", key, tmp_path / "two.db", make)
    (tmp_path / "three.db").write_text("mine")
    made_file_once("made-once-file", key, tmp_path / "three.db", make)
    assert len(calls) == 1
    assert (tmp_path / "x" / "one.db").read_text() == (tmp_path / "two.db").read_text() == "made"
    assert (tmp_path / "three.db").read_text() == "mine"


def test_the_key_follows_the_configs_the_test_runs_under(tmp_path, monkeypatch):
    shipped = inputs_digest("same")
    folder = tmp_path / "configs"
    shutil.copytree(Path(__file__).resolve().parents[1] / "configs", folder)
    monkeypatch.setenv("SHANYRAQ_CONFIGS_DIR", str(folder))
    assert inputs_digest("same") == shipped  # an identical copy: the same inputs
    path = folder / "engine.yaml"
    path.write_text(path.read_text() + "\n# edited\n")
    assert inputs_digest("same") != shipped
    assert inputs_digest("other") != inputs_digest("same")
