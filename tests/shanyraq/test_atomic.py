"""Outputs are written whole or not at all: a writer that fails half-way (a full disk, a value
it cannot write) leaves the old output byte for byte and no temporary file or folder behind.

Every writer here goes through shanyraq.atomic; before, each hand-rolled a temporary file that
a failure left behind (and annotation's report could leave a new manifest beside an old report).
"""

from __future__ import annotations

import errno
from pathlib import Path

import numpy as np
import pytest

OLD = b"the old output, which must survive"


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (its path relative to it) and its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def disk_full(target: object, *args: object, **kwargs: object) -> None:
    """A writer that gets half-way: some bytes reach `target` (a path or an open file), then
    the disk is full."""
    if isinstance(target, str | Path):
        Path(target).write_bytes(b"half")
    else:
        target.write(b"half")  # type: ignore[attr-defined]
    raise OSError(errno.ENOSPC, "No space left on device")


def old_files(folder: Path, *names: str) -> dict[str, bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(OLD)
    return snapshot(folder)


def test_a_checkpoint_that_cannot_be_written_keeps_the_last_one(tmp_path):
    from training.run_folder import save_checkpoint

    before = old_files(tmp_path, "last.pt")
    with pytest.raises(Exception):  # noqa: B017 - pickling a local function: torch's own error
        save_checkpoint(tmp_path / "last.pt", {"epoch": 3, "hook": lambda: None})
    assert snapshot(tmp_path) == before


def test_a_model_file_that_cannot_be_written_keeps_the_old_one(tmp_path, taxonomy, monkeypatch):
    import torch

    from vision.model import create_model, model_preprocessing, save_model

    model = create_model("shanyraq_test", taxonomy=taxonomy)
    spec = model_preprocessing(model, size=32)
    before = old_files(tmp_path, "best.pt")
    monkeypatch.setattr(torch, "save", lambda obj, f, *args, **kwargs: disk_full(f))
    with pytest.raises(OSError, match="No space"):
        save_model(model, tmp_path / "best.pt", variant="shanyraq_test", preprocessing=spec)
    assert snapshot(tmp_path) == before


def test_model_json_that_cannot_be_written_keeps_the_old_one(tmp_path, monkeypatch):
    from vision.artifact import write_artifact

    class Artifact:  # write_artifact needs only the JSON
        def model_dump_json(self, indent: int) -> str:
            return '{"format": 1}'

    before = old_files(tmp_path, "model.json")

    def half_written(self: Path, data: str, encoding: str | None = None) -> int:
        disk_full(self)
        return 0

    monkeypatch.setattr(Path, "write_text", half_written)
    with pytest.raises(OSError, match="No space"):
        write_artifact(tmp_path, Artifact())  # type: ignore[arg-type]
    monkeypatch.undo()
    assert snapshot(tmp_path) == before


def test_scores_that_fail_half_way_keep_the_old_file(tmp_path):
    from annotation.scoring import write_scores

    before = old_files(tmp_path, "scores.jsonl")

    def scores():
        raise RuntimeError("the engine failed on the first photo")
        yield

    with pytest.raises(RuntimeError, match="engine failed"):
        write_scores(tmp_path / "scores.jsonl", scores())
    assert snapshot(tmp_path) == before


def test_a_pool_that_cannot_be_written_keeps_the_old_one(tmp_path, monkeypatch):
    from annotation.pool import PhotoPool

    pool = PhotoPool(*[np.zeros(2) for _ in range(11)])
    before = old_files(tmp_path, "pool.npz")
    monkeypatch.setattr(np, "savez_compressed", disk_full)
    with pytest.raises(OSError, match="No space"):
        pool.save(tmp_path / "pool.npz")
    assert snapshot(tmp_path) == before


def test_a_pulled_manifest_report_and_disagreements_are_replaced_together_or_not_at_all(
    tmp_path,
):
    from annotation.export import PullReport, write_report
    from shanyraq.manifest import ManifestRow

    names = ("pulled.csv", "pulled.report.json", "pulled.disagreements.csv")
    before = old_files(tmp_path, *names)
    row = ManifestRow("a.jpg", "0" * 64, "F1", "train", "kitchen", 3, frozenset(), "ls")
    # The disagreements writer refuses a column it does not know, after its header is written.
    broken = PullReport([row], {}, {}, {}, disagreements=[{"sha256": "0" * 64, "odd": "x"}])
    with pytest.raises(ValueError, match="odd"):
        write_report(broken, tmp_path / "pulled.csv")
    assert snapshot(tmp_path) == before

    whole = PullReport([row], {}, {}, {}, disagreements=[])
    assert [p.name for p in write_report(whole, tmp_path / "pulled.csv")] == list(names)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names)
    assert all((tmp_path / name).read_bytes() != OLD for name in names)


def test_a_temporary_model_json_left_by_a_killed_writer_keeps_the_folder_an_artifact(tmp_path):
    """A process killed while writing model.json leaves its temporary file: the folder must
    still count as a model artifact an export may replace (vision.export.check_destination)."""
    from shanyraq.atomic import atomic_file, not_replaceable, temporary_of
    from vision.artifact import ARTIFACT_FILES, META_FILE

    (tmp_path / META_FILE).write_text("{}")
    with atomic_file(tmp_path / META_FILE) as tmp:
        tmp.write_text("{}")  # the moment a kill would leave it behind
        assert temporary_of(tmp.name) == META_FILE
        assert not_replaceable(tmp_path, marker=META_FILE, allowed=ARTIFACT_FILES) is None
    (tmp_path / "notes.txt").write_text("mine")
    assert "notes.txt" in str(not_replaceable(tmp_path, marker=META_FILE, allowed=ARTIFACT_FILES))


# --- atomic_folder ------------------------------------------------------------------------


def test_a_folder_is_made_or_replaced_whole(tmp_path):
    from shanyraq.atomic import atomic_folder

    target = tmp_path / "out" / "model"
    with atomic_folder(target) as staging:
        assert staging.parent.parent == target.parent and not any(staging.iterdir())
        (staging / "a.txt").write_text("first")
        assert not target.exists()  # nothing shows until the block ends
    assert snapshot(target) == {"a.txt": b"first"}

    with atomic_folder(target) as staging:
        (staging / "b.txt").write_text("second")
        assert snapshot(target) == {"a.txt": b"first"}
    assert snapshot(target) == {"b.txt": b"second"}  # replaced whole: a.txt is gone
    assert [p.name for p in target.parent.iterdir()] == ["model"]  # no work folder left


def test_a_folder_that_fails_half_way_leaves_the_old_one_and_no_staging(tmp_path):
    from shanyraq.atomic import atomic_folder

    target = tmp_path / "model"
    before = old_files(target, "a.txt", "b.txt")
    with pytest.raises(OSError, match="No space"), atomic_folder(target) as staging:
        (staging / "a.txt").write_text("new")
        disk_full(staging / "b.txt")
    assert snapshot(target) == before
    assert [p.name for p in tmp_path.iterdir()] == ["model"]
