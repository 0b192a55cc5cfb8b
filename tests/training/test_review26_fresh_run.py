"""Review 26 of the run folder: a fresh run that takes over a folder leaves none of the
replaced run's checkpoints behind, so a failure before its own first checkpoint cannot be
resumed as the old run beside the new run's best.pt."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from training.resume import NothingToResumeError
from training.run_folder import (
    BEST,
    CALIBRATION_JSON,
    LAST,
    METRICS_CSV,
    RUN_JSON,
    RunFolder,
    check_run_folder,
)
from vision.model import create_model, load_model, model_preprocessing


def _replaced_run(folder: Path) -> None:
    """What a finished run leaves in its folder (contents made small: only names matter)."""
    folder.mkdir()
    torch.save({"epoch": 5, "best_score": 0.9}, folder / LAST)
    torch.save({"old": torch.zeros(1)}, folder / BEST)
    (folder / CALIBRATION_JSON).write_text(json.dumps({"temperatures": {}}))
    (folder / RUN_JSON).write_text(json.dumps({"epochs_run": 5}))
    (folder / METRICS_CSV).write_text("epoch,val_score\n1,0.5\n")


def _save_best(folder: RunFolder, taxonomy) -> torch.nn.Module:
    model = create_model("shanyraq_test", taxonomy=taxonomy)
    folder.save_best(
        model, variant="shanyraq_test", preprocessing=model_preprocessing(model, size=32)
    )
    return model


def test_a_fresh_run_leaves_no_checkpoint_of_the_run_it_replaces(tmp_path, taxonomy):
    # A fresh run's first write is best.pt; its own last.pt follows (the largest write of the
    # epoch). Stopped in between (a full disk, a kill), the replaced run's last.pt stayed and
    # `--resume` of the same recipe continued that run, with this run's best.pt as its best.
    run = tmp_path / "run"
    _replaced_run(run)
    with RunFolder(run, resumed_after=None) as folder:
        model = _save_best(folder, taxonomy)
    assert sorted(p.name for p in run.iterdir()) == [BEST]
    saved, _ = load_model(run / BEST)
    state = model.state_dict()
    assert all(torch.equal(saved.state_dict()[k], state[k]) for k in state)
    with pytest.raises(NothingToResumeError):
        check_run_folder(run, resume=True)


def test_a_resumed_run_keeps_its_checkpoints(tmp_path, taxonomy):
    run = tmp_path / "run"
    _replaced_run(run)
    last = (run / LAST).read_bytes()
    with RunFolder(run, resumed_after=1) as folder:
        folder.append_metrics({"epoch": 2, "val_score": 0.6})
    assert (run / LAST).read_bytes() == last and (run / BEST).is_file()
    assert (run / METRICS_CSV).read_text().splitlines()[1:] == ["1,0.5", "2,0.6"]
    check_run_folder(run, resume=True)  # its last.pt is there to resume
