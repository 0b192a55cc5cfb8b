"""Review 27 of a training run folder's writes: an interruption between an epoch's last.pt and
best.pt, a run stopped before its last epoch (`stop_after_epoch`), and an export interrupted
between writes of model.json or the model card."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
from pathlib import Path

import pytest
import torch

import training.train as training_loop
from shanyraq.errors import ModelMismatchError
from tests.training.run_folder_helpers import metrics_rows
from training.build import ARTIFACT_DIR, build_artifact, export_run
from training.run_folder import BEST, CALIBRATION_JSON, LAST, RUN_JSON
from training.train import train
from vision.artifact import CARD_FILE, META_FILE, read_artifact

TRAINED_WITH = "0.0.1+0123456789ab"  # another code than the one exporting


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _full_disk_at(count: int, name: str, met: list[str]):
    """os.replace that fails (no space left) the `count`-th time a file named `name` (or, for a
    suffix such as ".pt", with it) would take its place; `met` gets each such name."""
    real = os.replace

    def replace(src, dst, *args, **kwargs):
        target = Path(dst)
        if name in (target.name, target.suffix):
            met.append(target.name)
            if len(met) == count:
                raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        return real(src, dst, *args, **kwargs)

    return replace


# -- an interruption between last.pt and best.pt ---------------------------------------------


@pytest.mark.slow
def test_an_interruption_between_the_checkpoints_leaves_best_pt_the_best_epochs_model(
    toy_manifest, tiny_recipe, tmp_path, monkeypatch, caplog
):
    # Three epochs (on the CPU the same bit for bit in every run); epoch 3 is a new best, which
    # writes best.pt as well as last.pt (here epoch 1 was the best before it, not epoch 2).
    straight = tmp_path / "straight"
    train(tiny_recipe(toy_manifest, straight, epochs=3))
    scores = [float(row["val_score"]) for row in metrics_rows(straight)]
    assert scores[2] > max(scores[:2])
    run = tmp_path / "run"
    config = tiny_recipe(toy_manifest, run, epochs=3)
    train(config, stop_after_epoch=2)
    first_best = 1 + int(scores[1] > scores[0])
    model_of = {first_best: _weights(run / BEST), 3: _weights(straight / BEST)}

    met: list[str] = []
    with monkeypatch.context() as m:  # the disk fills between epoch 3's two checkpoints
        m.setattr(os, "replace", _full_disk_at(2, ".pt", met))
        with pytest.raises(OSError, match="No space left"):
            train(config, resume=True)
    assert sorted(met) == [BEST, LAST]
    # Trained again, an epoch need not repeat itself (a GPU's training is not reproducible bit
    # for bit): here every epoch the resume trains scores lower than the lost one did. Before,
    # best.pt was written first: the resume went on from epoch 2's last.pt, believing epoch 1
    # the best, and kept in best.pt the lost epoch 3's model, which no epoch of the log is
    # (epoch 1's was gone, and could not be written again).
    real_score = training_loop.validation_score
    monkeypatch.setattr(training_loop, "validation_score", lambda m: real_score(m) - 10)
    with caplog.at_level("WARNING", logger="training.checkpoint"):
        result = train(config, resume=True)
    logged = {int(row["epoch"]): float(row["val_score"]) for row in metrics_rows(run)}
    best = max(logged, key=logged.__getitem__)
    assert _same(_weights(run / BEST), model_of[best])
    record = json.loads((run / RUN_JSON).read_text())
    assert record["best_val_score"] == pytest.approx(logged[best], abs=1e-5)
    assert result.best_score == record["best_val_score"] and record["finished"] is True
    assert f"{run / BEST} does not hold the model of epoch 3" in caplog.text

    # A resume whose best.pt is the checkpoint's best rewrites nothing (nor drops calibration).
    (run / CALIBRATION_JSON).write_text("{}")
    best_bytes = (run / BEST).read_bytes()
    train(config, resume=True)
    assert (run / BEST).read_bytes() == best_bytes and (run / CALIBRATION_JSON).is_file()


# -- a run stopped before its last epoch ---------------------------------------------------


def test_a_stopped_run_is_not_exported_as_a_finished_one(run, toy_manifest, tiny_recipe, tmp_path):
    # Before, run.json of a run stopped after epoch 1 of 2 read as a finished run's, and export
    # took its best.pt (the best of one epoch) for the recipe's model.
    record = json.loads((run / RUN_JSON).read_text())
    assert record["epochs_run"] == 1 and record["finished"] is False
    out = tmp_path / "out"
    with pytest.raises(ModelMismatchError) as caught:
        export_run(run, out_dir=out)
    message = caught.value.message
    assert f"{run} is a training run stopped after epoch 1 of 2" in message
    assert "--resume" in message and "\n" not in message
    assert not out.exists()
    # Finished by a resume, it is exported.
    assert train(tiny_recipe(toy_manifest, run), resume=True).finished
    assert json.loads((run / RUN_JSON).read_text())["finished"] is True
    export_run(run, out_dir=out)
    assert read_artifact(out).training_config["optim"]["epochs"] == 2


def test_an_older_record_of_a_run_that_stopped_short_is_not_exported(run, tmp_path):
    # run.json from before it said whether the run finished: one epoch of two, with no early
    # stopping to end it sooner, can only be a stopped run.
    record = json.loads((run / RUN_JSON).read_text())
    record.pop("finished", None)
    (run / RUN_JSON).write_text(json.dumps(record))
    with pytest.raises(ModelMismatchError, match="stopped after epoch 1 of 2"):
        export_run(run, out_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_build_stopped_after_an_epoch_leaves_no_artifact(toy_manifest, tiny_recipe, tmp_path):
    # Before, the build calibrated, exported and evaluated the stopped run's best.pt as the
    # recipe's model.
    run = tmp_path / "run"
    with pytest.raises(ModelMismatchError, match="stopped after epoch 1 of 2"):
        build_artifact(tiny_recipe(toy_manifest, run), stop_after_epoch=1, with_robustness=False)
    assert (run / LAST).is_file() and (run / BEST).is_file()
    assert not (run / ARTIFACT_DIR).exists() and not (run / CALIBRATION_JSON).exists()


# -- an export's files, each written once ----------------------------------------------------


@pytest.fixture(scope="module")
def finished(toy_manifest, tiny_recipe, tmp_path_factory) -> Path:
    """A finished one-epoch run, once per module (tests take a copy)."""
    out = tmp_path_factory.mktemp("review27-finished") / "run"
    train(tiny_recipe(toy_manifest, out, epochs=1))
    return out


@pytest.fixture
def finished_copy(finished, tmp_path) -> Path:
    return Path(shutil.copytree(finished, tmp_path / "run"))


@pytest.mark.slow
def test_model_json_is_written_once_with_every_field(finished_copy, tmp_path, monkeypatch):
    # Before, export wrote model.json with the exporting code's version, moved the artifact
    # in, then wrote it again with the training code's: a crash between left a model.json
    # that loads and names the wrong code.
    record = json.loads((finished_copy / RUN_JSON).read_text())
    (finished_copy / RUN_JSON).write_text(json.dumps({**record, "code_version": TRAINED_WITH}))
    out = tmp_path / "out"
    met: list[str] = []
    monkeypatch.setattr(os, "replace", _full_disk_at(2, META_FILE, met))
    with contextlib.suppress(OSError):  # the crash, met by a second write of model.json
        export_run(finished_copy, out_dir=out)
    monkeypatch.undo()
    saved = read_artifact(out)
    assert saved.code_version == TRAINED_WITH and "shanyraq" in saved.exported_with
    assert met == [META_FILE]


@pytest.mark.slow
def test_a_re_export_that_fails_keeps_the_artifact_with_its_card(
    finished_copy, tmp_path, monkeypatch
):
    # Before, a re-export of the same model moved the new artifact in, then wrote the card it
    # kept: a failure between left the artifact without its card.
    out = finished_copy / ARTIFACT_DIR
    export_run(finished_copy)
    (out / CARD_FILE).write_text("# the card a build wrote\n", encoding="utf-8")
    write_text = Path.write_text

    def card_fails(self: Path, *args, **kwargs):
        if self.name == CARD_FILE:
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return write_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", card_fails)
    with pytest.raises(OSError, match="No space left"):
        export_run(finished_copy)
    monkeypatch.undo()
    assert (out / CARD_FILE).read_text(encoding="utf-8") == "# the card a build wrote\n"
    assert read_artifact(out).model_version
