"""Review 21 of resume: what an older checkpoint did not record resumes with a warning, a moved
pretrained weights file does not refuse a resume, and one run at a time trains in a folder."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

from training.recipe import TrainConfig, changes_on_resume
from training.resume import ResumeMismatchError
from training.run_folder import LAST, METRICS_CSV, RunFolder, RunFolderBusyError
from training.train import train

from .toy_manifest_helpers import write_toy_manifest


def _edit_identity(run: Path, **fields: str | None) -> None:
    """Rewrite last.pt's identity: a field set to None is dropped (as older code wrote it)."""
    state = torch.load(run / LAST, weights_only=True)
    for field, value in fields.items():
        if value is None:
            del state["identity"][field]
        else:
            state["identity"][field] = value
    torch.save(state, run / LAST)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


# 1. A field the checkpoint did not record is warned about, not refused.


def test_an_identity_field_the_checkpoint_lacks_resumes_with_a_warning(
    toy_manifest, tiny_recipe, run, caplog
):
    # Before: refused as "augmentation_sha256 (...) (absent) -> <sha>", though the docstring
    # promised what older code did not record is resumed unchecked.
    _edit_identity(run, augmentation_sha256=None)
    with caplog.at_level("WARNING", logger="training.resume"):
        assert train(tiny_recipe(toy_manifest, run), resume=True).epochs_run == 2
    [warning] = [r.getMessage() for r in caplog.records if "did not record" in r.getMessage()]
    assert str(run / LAST) in warning and "augmentation_sha256" in warning
    assert "training_data_sha256" not in warning and "code_version" not in warning


def test_a_recorded_field_that_differs_is_still_refused_beside_a_missing_one(
    toy_manifest, tiny_recipe, run, tmp_path, taxonomy
):
    _edit_identity(run, augmentation_sha256=None, code_version=None)
    other = write_toy_manifest(tmp_path / "other", taxonomy, seed=1)
    last = (run / LAST).read_bytes()
    with pytest.raises(ResumeMismatchError) as caught:
        train(tiny_recipe(other, run), resume=True)
    message = caught.value.message
    assert "training_data_sha256 (training manifest" in message
    assert "augmentation_sha256" not in message and "(absent)" not in message
    assert (run / LAST).read_bytes() == last


# 2. A moved pretrained weights file.


def _pretrained(path: Path, taxonomy) -> Path:
    from vision.model import create_model

    torch.save(create_model("shanyraq_test", taxonomy=taxonomy).backbone.state_dict(), path)
    return path


def _with_pretrained(config: TrainConfig, path: Path | None) -> TrainConfig:
    model = config.model.model_copy(update={"pretrained_file": path})
    return config.model_copy(update={"model": model})


def test_a_resume_after_the_pretrained_file_moved_is_accepted(
    toy_manifest, tiny_recipe, tmp_path, taxonomy
):
    # Before: refused as "recipe model.pretrained_file "<old>" -> "<new>"", though the resume
    # replaces the pretrained weights with the checkpoint's.
    first = _pretrained(tmp_path / "backbone.pth", taxonomy)
    run = tmp_path / "run"
    train(_with_pretrained(tiny_recipe(toy_manifest, run), first), stop_after_epoch=1)
    (tmp_path / "weights").mkdir()
    moved = first.rename(tmp_path / "weights" / "backbone.pth")
    config = _with_pretrained(tiny_recipe(toy_manifest, run), moved)
    assert train(config, resume=True).epochs_run == 2


def test_a_pretrained_file_added_or_dropped_on_resume_is_refused(toy_manifest, tiny_recipe,
                                                                 tmp_path):  # fmt: skip
    # Whether the run started from pretrained weights is part of what was trained.
    base = tiny_recipe(toy_manifest, tmp_path / "run")
    at_a, at_b = tmp_path / "a.pth", tmp_path / "b" / "a.pth"
    saved = _with_pretrained(base, at_a).model_dump(mode="json")
    assert changes_on_resume(saved, _with_pretrained(base, at_b)) == {}
    assert changes_on_resume(saved, base) == {"model.pretrained_file": (str(at_a), None)}
    assert changes_on_resume(base.model_dump(mode="json"), _with_pretrained(base, at_b)) == {
        "model.pretrained_file": (None, str(at_b))
    }


# 3. One run at a time in a run folder.


@contextmanager
def _held(folder: Path) -> Iterator[None]:
    """The folder's lock, as another run's process holds it (its own open file)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield
    finally:
        os.close(fd)


def _is_free(folder: Path) -> bool:
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def test_a_resume_is_refused_while_another_run_holds_the_folder(toy_manifest, tiny_recipe, run):
    # Before: both ran, writing the same last.pt, best.pt and metrics.csv.
    before = _files(run)
    config = tiny_recipe(toy_manifest, run)
    with _held(run):
        for resume in (True, False):  # a resume, and a fresh run into the same folder
            with pytest.raises(RunFolderBusyError) as caught:
                train(config, resume=resume)
            assert caught.value.code == "run_busy"
            message = caught.value.message
            assert f"another training run is writing into {run} " in message
            assert "another output_dir" in message and "\n" not in message
    assert _files(run) == before
    assert train(config, resume=True).epochs_run == 2  # once the other run has ended


def test_the_lock_is_held_while_training_and_freed_at_the_end(toy_manifest, tiny_recipe, run,
                                                              monkeypatch):  # fmt: skip
    seen: list[bool] = []
    save = RunFolder.save_checkpoint

    def and_look(self, state):
        save(self, state)
        seen.append(_is_free(run))

    monkeypatch.setattr(RunFolder, "save_checkpoint", and_look)
    assert train(tiny_recipe(toy_manifest, run), resume=True).epochs_run == 2
    assert seen == [False]  # taken by the run
    assert _is_free(run)  # and given back when it ended


def test_a_run_folder_taken_after_the_check_is_refused_before_its_log_is_read(run):
    # A second run that passed check_run_folder before the first took the lock.
    (run / METRICS_CSV).write_text("not a log\n")
    with _held(run), pytest.raises(RunFolderBusyError):
        RunFolder(run, resumed_after=1)
    RunFolder(run, resumed_after=None).release()
    assert _is_free(run)


def test_the_lock_dies_with_the_process_that_held_it(toy_manifest, tiny_recipe, run):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys\n"
         "fd = os.open(sys.argv[1], os.O_RDONLY)\n"
         "fcntl.flock(fd, fcntl.LOCK_EX)\n"
         "print('held', flush=True)\n"
         "sys.stdin.read()\n", str(run)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(RunFolderBusyError):
            train(tiny_recipe(toy_manifest, run), resume=True)
    finally:
        holder.kill()  # as a crash: the lock is not released by the holder
        holder.wait()
    assert train(tiny_recipe(toy_manifest, run), resume=True).epochs_run == 2
