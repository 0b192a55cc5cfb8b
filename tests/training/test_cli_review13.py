"""Review 13: a run folder that holds another recipe's run, an interrupted run's export, and
figures an evaluation cannot define."""

from __future__ import annotations

import json
import logging
import shutil
import warnings
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from shanyraq.errors import ModelMismatchError
from shanyraq.manifest import read_manifest, write_manifest
from training.build import (
    ARTIFACT_DIR,
    CALIBRATION_JSON,
    build_artifact,
    export_run,
    load_best,
    read_run,
)
from training.cli import app
from training.evaluate import evaluate
from training.metrics import undefined_reasons
from training.run_folder import BEST, LAST, RUN_JSON, RunFolder
from training.train import train
from vision.artifact import CARD_FILE, read_artifact
from vision.model import save_model

from .toy_manifest_helpers import write_toy_manifest

OLD_TEMPERATURES = {"room": 2.5, "condition": 2.5, "signs": 2.5}


@pytest.fixture(scope="module")
def data(tmp_path_factory, taxonomy) -> Path:
    return write_toy_manifest(tmp_path_factory.mktemp("review13") / "data", taxonomy)


@pytest.fixture
def old_run(data, tiny_recipe, tmp_path) -> Path:
    """A one-epoch run of recipe "old-recipe", calibrated as a build leaves it."""
    run = tmp_path / "run"
    recipe = tiny_recipe(data, run, epochs=1).model_copy(update={"name": "old-recipe"})
    train(recipe)
    (run / CALIBRATION_JSON).write_text(json.dumps({"temperatures": OLD_TEMPERATURES}))
    return run


def _interrupt_after_first_checkpoint(monkeypatch) -> None:
    """Ctrl-C right after the first epoch's last.pt is written."""
    save = RunFolder.save_checkpoint

    def then_interrupted(self, state):
        save(self, state)
        raise KeyboardInterrupt

    monkeypatch.setattr(RunFolder, "save_checkpoint", then_interrupted)


@pytest.mark.slow
def test_an_interrupted_fresh_run_leaves_no_record_of_the_run_it_replaces(
    old_run, data, tiny_recipe, tmp_path, monkeypatch
):
    # Before: run.json and calibration.json of the old recipe stayed beside the new best.pt,
    # and `shanyraq export` wrote the new weights with the old recipe and old temperatures.
    _interrupt_after_first_checkpoint(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_recipe(data, old_run, epochs=2))
    assert (old_run / LAST).is_file()  # best.pt follows last.pt: interrupted between them
    assert not (old_run / RUN_JSON).exists() and not (old_run / CALIBRATION_JSON).exists()
    with pytest.raises(ModelMismatchError, match="--resume") as caught:
        export_run(old_run, out_dir=tmp_path / "artifact")
    assert str(old_run) in caught.value.message and "\n" not in caught.value.message
    assert not (tmp_path / "artifact").exists()


@pytest.mark.slow
def test_a_new_best_drops_the_calibration_fitted_on_the_old_one(old_run, tmp_path, caplog):
    # A resumed run that improves writes a new best.pt; the temperatures fitted on the old one
    # do not describe it (before, export applied them without a word).
    model, spec = load_best(old_run / BEST)
    variant = read_run(old_run)[1].model.variant
    RunFolder(old_run, resumed_after=1).save_best(model, variant=variant, preprocessing=spec)
    assert not (old_run / CALIBRATION_JSON).exists()
    caplog.set_level(logging.WARNING, logger="training.build")
    _, artifact = export_run(old_run, out_dir=tmp_path / "artifact")
    assert artifact.temperatures.room == 1.0
    [warning] = [r.getMessage() for r in caplog.records if "uncalibrated" in r.getMessage()]
    assert str(old_run / CALIBRATION_JSON) in warning and "--resume" in warning


@pytest.fixture(scope="module")
def built(data, tiny_recipe, tmp_path_factory):
    """A finished one-epoch build (tests copy its run before changing it)."""
    out = tmp_path_factory.mktemp("review13-build") / "run"
    return build_artifact(tiny_recipe(data, out, epochs=1), with_robustness=False)


@pytest.mark.slow
def test_export_into_the_runs_own_artifact_keeps_its_figures_and_card(built, tmp_path):
    # Before: `shanyraq export RUN` replaced RUN/artifact, built with metrics and a model card,
    # by the same model with metrics {} and no card.
    run = Path(shutil.copytree(built.train.run_dir, tmp_path / "run"))
    before = read_artifact(run / ARTIFACT_DIR)
    card = (run / ARTIFACT_DIR / CARD_FILE).read_text()
    result = CliRunner().invoke(app, ["export", str(run)])
    assert result.exit_code == 0, result.output
    after = read_artifact(run / ARTIFACT_DIR)
    assert after.metrics == before.metrics and after.metrics["room_macro_f1"] is not None
    assert after.model_version == before.model_version
    assert (run / ARTIFACT_DIR / CARD_FILE).read_text() == card
    # Another model's figures do not travel: the same folder after a new best.pt.
    model, spec = load_best(run / BEST)
    with torch.no_grad():
        next(model.parameters()).add_(0.5)
    save_model(model, run / BEST, variant="shanyraq_test", preprocessing=spec)
    _, other = export_run(run)
    assert other.metrics == {} and other.model_version != before.model_version
    assert not (run / ARTIFACT_DIR / CARD_FILE).exists()


def _one_kitchen_grade(manifest: Path, out: Path) -> Path:
    """The test split's photos, every one relabelled a grade-3 kitchen without signs."""
    read = read_manifest(manifest)
    rows = [
        replace(r, path=str(r.resolve(read.root)), room="kitchen", condition=3, signs=frozenset())
        for r in read.by_split("test")
    ]
    return write_manifest(out, rows)


def test_figures_a_split_of_one_class_cannot_define_are_named_with_why(data, taxonomy):
    # A predictor that says grade 3 for photos all graded 3: agreement beyond chance (QWK) is
    # undefined, as are not_dwelling recall (none of them) and signs mAP (no sign anywhere).
    from tests.training.fixed_model import fixed_predictor

    manifest = read_manifest(_one_kitchen_grade(data, data.parent / "one-class.csv"))
    artifact, predict = fixed_predictor(taxonomy, sign_logit=0.0)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # before: sklearn's UndefinedMetricWarning on stderr
        metrics = evaluate(predict, artifact, root=manifest.root, test_rows=manifest.rows,
                           taxonomy=taxonomy, with_robustness=False)  # fmt: skip
    reasons = undefined_reasons(metrics, not_dwelling=taxonomy.not_dwelling)
    assert set(reasons) == {"not_dwelling_recall", "condition_qwk", "signs_map"}
    assert taxonomy.not_dwelling in reasons["not_dwelling_recall"]
    assert "one grade" in reasons["condition_qwk"] and "sign" in reasons["signs_map"]
    assert metrics["test"]["room"]["macro_f1"] == 1.0


@pytest.mark.slow
def test_the_cli_says_why_a_figure_is_undefined_instead_of_printing_nan(built, data, tmp_path):
    manifest = _one_kitchen_grade(data, tmp_path / "one-class.csv")
    result = CliRunner().invoke(
        app,
        ["evaluate", str(built.artifact_dir), str(manifest), "--out", str(tmp_path / "ev"),
         "--no-robustness"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "nan" not in result.output.lower() and "UndefinedMetricWarning" not in result.output
    [line] = [x for x in result.output.splitlines() if "not_dwelling_recall" in x]
    assert "n/a (" in line and "not_dwelling" in line.split("n/a")[1]


def test_evaluate_refuses_a_split_that_is_not_one_before_reading_anything(tmp_path):
    result = CliRunner().invoke(
        app, ["evaluate", str(tmp_path / "no-model"), str(tmp_path / "no.csv"), "--split", "tset"]
    )
    assert result.exit_code == 2
    assert "'tset'" in result.output and "is not one of" in result.output


def test_a_target_the_photos_cannot_define_reads_n_a_not_nan():
    from training.recipe import QualityTargets
    from training.report import target_checks

    head = {
        "room_macro_f1": 1.0, "condition_qwk": float("nan"), "signs_map": float("nan"),
        "not_dwelling_recall": float("nan"), "ece_after": {"room": 0.01},
    }  # fmt: skip
    checks = target_checks(head, QualityTargets())
    rows = {name: (reached, met) for name, _, reached, met in checks}
    assert rows["condition QWK"] == ("n/a (undefined on these photos)", False)
    assert rows["room macro-F1"] == ("1.000", True)
