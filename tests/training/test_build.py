"""From recipe to artifact and report, the three CLI commands, and evaluation by hand."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from shanyraq.manifest import read_manifest
from shanyraq.taxonomy import get_taxonomy
from training.build import build_artifact
from training.cli import app
from training.evaluate import evaluate
from training.recipe import load_recipe
from vision.artifact import read_artifact

runner = CliRunner()
CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "train"


@pytest.fixture(scope="module")
def built(toy_manifest, tmp_path_factory, tiny_recipe):
    out = tmp_path_factory.mktemp("build") / "run"
    return build_artifact(tiny_recipe(toy_manifest, out), with_robustness=True)


@pytest.mark.slow
def test_build_writes_artifact_report_and_card(built, taxonomy):
    meta = read_artifact(built.artifact_dir)
    meta.check_taxonomy(taxonomy)
    assert meta.temperatures == built.artifact.temperatures
    assert meta.metrics["room_macro_f1"] == built.metrics["test"]["room"]["macro_f1"]
    assert meta.training_data_sha256 and meta.training_config["name"] == "tiny-test"
    # The augmentation's contents, not only its name, travel from run.json into model.json.
    augmentation = meta.training_config["augmentation"]
    assert augmentation["name"] == meta.training_config["augment"]
    assert len(augmentation["sha256"]) == 64 and augmentation["pipeline"]
    for name in ("metrics.json", "report.md", "confusion_room.png", "confusion_condition.png",
                 "reliability.png", "robustness.png"):  # fmt: skip
        assert (built.evaluation_dir / name).stat().st_size > 0, name
    saved = json.loads((built.evaluation_dir / "metrics.json").read_text())
    assert set(saved["robustness"]) == {"blur", "noise", "jpeg", "brightness", "contrast"}
    assert set(saved["robustness"]["blur"]) == {"1", "2", "3"}
    assert saved["data"]["evaluated_on_validation"] is False
    card = (built.artifact_dir / "MODEL_CARD.md").read_text()
    assert meta.model_version in card and "room macro-F1" in card
    assert "come from the validation split" not in card


@pytest.mark.slow
def test_cli_evaluate_and_export(built, toy_manifest, tmp_path):
    result = runner.invoke(
        app,
        ["evaluate", str(built.artifact_dir), str(toy_manifest), "--out", str(tmp_path / "ev"),
         "--split", "all", "--held-out-style", "2", "--no-robustness", "--allow-overlap"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output  # all rows: the training photos too, allowed
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert metrics["data"]["overlap_with_training"] > 0
    rows = read_manifest(toy_manifest).rows
    assert metrics["n_test_photos"] == sum(r.extra["style"] != "2" for r in rows)
    assert metrics["n_held_out_style_photos"] == sum(r.extra["style"] == "2" for r in rows)
    assert "room_macro_f1" in result.output
    result = runner.invoke(app, ["export", str(built.train.run_dir), "--out", str(tmp_path / "a")])
    assert result.exit_code == 0, result.output
    assert read_artifact(tmp_path / "a").temperatures == built.artifact.temperatures


def test_evaluate_against_hand_counts_with_a_fixed_predictor(toy_manifest, taxonomy):
    """A predictor that always says room 0, grade 3 and no signs: metrics follow the labels."""
    from tests.training.fixed_model import fixed_predictor

    manifest = read_manifest(toy_manifest)
    rows = manifest.rows
    artifact, predict = fixed_predictor(taxonomy, sign_logit=-9.0)

    m = evaluate(predict, artifact, root=manifest.root, test_rows=rows, taxonomy=get_taxonomy(),
                 with_robustness=False)["test"]  # fmt: skip
    first = taxonomy.room_names[0]
    assert m["room"]["accuracy"] == pytest.approx(np.mean([x.room == first for x in rows]))
    graded = [x.condition for x in rows if x.room != taxonomy.not_dwelling and x.condition]
    assert m["condition"]["accuracy"] == pytest.approx(np.mean([g == 3 for g in graded]))
    assert m["condition"]["mae"] == pytest.approx(np.mean([abs(g - 3) for g in graded]))
    assert m["room"]["not_dwelling_recall"] == 0.0
    # A predictor sure of every answer: a perfectly calibrated one would be right every time.
    assert m["ece_floor"]["room"]["mean"] < 0.01 and m["ece_floor"]["room"]["high"] < 0.01
    assert set(m["ece_floor"]) == {"room", "condition", "signs"}


def test_every_recipe_parses():
    recipes = sorted(CONFIGS.glob("*.yaml"))
    assert {"tiny", "demo"} <= {p.stem for p in recipes}
    for path in recipes:
        recipe = load_recipe(path)
        assert recipe.name


@pytest.mark.slow
def test_cli_train_from_a_recipe_file(toy_manifest, tmp_path, tiny_recipe):
    import yaml

    recipe = tiny_recipe(toy_manifest, tmp_path / "run", epochs=1)
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe.model_dump(mode="json")))
    result = runner.invoke(app, ["train", str(path), "--no-robustness"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "run" / "artifact" / "model.onnx").is_file()
    assert "condition_qwk" in result.output and "artifact:" in result.output


@pytest.mark.slow  # about 20 s on two cores, most of it the ONNX export
def test_a_build_without_a_test_split_says_its_figures_come_from_validation(
    tmp_path, tiny_recipe, taxonomy, caplog
):
    """Validation chose the epoch and fitted the calibration: measured on it, the figures are
    inflated, and metrics.json, the log, the report and the card all say so."""
    from tests.training.toy_manifest_helpers import write_toy_manifest

    caplog.set_level(logging.WARNING, logger="training.build")
    # Eight toy families: six train, two val, none test.
    manifest = write_toy_manifest(tmp_path / "data", taxonomy, n_families=8, per_family=2)
    assert not read_manifest(manifest).by_split("test")
    recipe = tiny_recipe(manifest, tmp_path / "run", epochs=1, batch_size=4)
    built = build_artifact(recipe, with_robustness=False)
    saved = json.loads((built.evaluation_dir / "metrics.json").read_text())
    assert saved["data"]["evaluated_split"] == "val"
    assert saved["data"]["evaluated_on_validation"] is True
    assert any("no test split" in r.getMessage() for r in caplog.records)
    warning = "these figures come from the validation split"
    report = (built.evaluation_dir / "report.md").read_text()
    assert warning in report.split("| metric | target |")[0].split("Measured on")[1]
    card = (built.artifact_dir / "MODEL_CARD.md").read_text()
    targets = card.split("## Metrics against targets")[1].split("| metric | target |")[0]
    assert warning in targets and "chose the best epoch and fitted the calibration" in targets


def test_export_of_a_folder_that_is_not_a_run_is_a_clear_error(tmp_path):
    from shanyraq.errors import ModelMismatchError
    from training.build import export_run

    with pytest.raises(ModelMismatchError, match="shanyraq train"):
        export_run(tmp_path)


def test_calibration_file_from_before_offsets_still_exports(tmp_path):
    from training.build import read_calibration
    from training.calibrate import Calibration
    from vision.artifact import Biases, Temperatures

    old = tmp_path / "old.json"
    old.write_text(Temperatures(room=1.5).model_dump_json())
    assert read_calibration(old) == Calibration(temperatures=Temperatures(room=1.5))
    new = tmp_path / "new.json"
    fitted = Calibration(temperatures=Temperatures(condition=0.9), biases=Biases(room=[0.2] * 6))
    new.write_text(fitted.model_dump_json())
    assert read_calibration(new) == fitted
    assert read_calibration(tmp_path / "none.json") == Calibration()


def test_model_version_changes_with_the_calibration():
    from training.build import model_version
    from training.calibrate import Calibration
    from training.recipe import load_recipe
    from vision.artifact import Biases
    from vision.model import create_model

    config = load_recipe(Path("configs/train/demo.yaml"))
    model = create_model("shanyraq_test", taxonomy=get_taxonomy())
    plain = model_version(config, model)
    assert model_version(config, model, Calibration()) == plain
    other = model_version(config, model, Calibration(biases=Biases(room=[0.1] * 6)))
    assert other != plain and other.rsplit("-", 1)[0] == plain.rsplit("-", 1)[0]


@pytest.mark.slow  # two builds of the tiny recipe
def test_a_rebuild_of_the_same_model_leaves_the_tracked_card_alone(
    toy_manifest, tmp_path, tiny_recipe, monkeypatch
):
    """The recipe's model_card (docs/model-card.md, tracked) is rewritten when the model or
    its figures change, not when only the build's code version and time would."""
    import copy
    from datetime import datetime, timedelta

    from training.model_card import write_model_card

    card = tmp_path / "docs" / "model-card.md"

    def build(n: int):
        recipe = tiny_recipe(toy_manifest, tmp_path / f"run{n}", epochs=1)
        return build_artifact(recipe.model_copy(update={"model_card": card}), with_robustness=False)

    first = build(1)
    written = card.read_text()
    assert first.artifact.model_version in written and first.artifact.created_at in written

    # The second build an hour later by the exporter's clock: two builds of the tiny recipe
    # can end within one second (created_at's precision), and then nothing here is tested.
    class Later(datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[override]
            return datetime.now(tz) + timedelta(hours=1)

    monkeypatch.setattr("vision.export.datetime", Later)
    second = build(2)
    assert second.artifact.model_version == first.artifact.model_version  # same recipe, weights
    assert second.artifact.created_at != first.artifact.created_at
    assert card.read_text() == written
    # The artifact's own card is the build's: written every time.
    assert second.artifact.created_at in (second.artifact_dir / "MODEL_CARD.md").read_text()

    recipe = tiny_recipe(toy_manifest, tmp_path / "run2", epochs=1)
    other = copy.deepcopy(second.metrics)
    other["test"]["room"]["macro_f1"] += 0.1
    write_model_card(card, second.artifact, other, recipe=recipe, keep_unchanged=True)
    assert card.read_text() != written and second.artifact.created_at in card.read_text()
    renamed = second.artifact.model_copy(update={"model_version": "tiny-test-other"})
    write_model_card(card, renamed, second.metrics, recipe=recipe, keep_unchanged=True)
    assert "# Model card: tiny-test-other" in card.read_text()


@pytest.mark.slow
def test_model_json_carries_the_test_photos_scores_as_the_drift_reference(built, taxonomy):
    """The service's drift report compares with it (serving.reports), counted its own way."""
    from training.logits import load_images
    from vision.engine import Engine
    from vision.score import score_shares

    reference = read_artifact(built.artifact_dir).metrics["score_reference"]
    assert reference["split"] == "test"
    assert reference["photos"]["room"] == built.metrics["n_test_photos"]
    assert set(reference["room"]) <= set(taxonomy.room_names)
    for head in ("room", "condition"):
        assert sum(reference[head].values()) == pytest.approx(1.0)
    # The engine scoring the test photos one by one gives the same shares: one way to count.
    splits = built.train.splits
    engine = Engine.load(built.artifact_dir)
    images = load_images(splits.test, splits.root, engine.artifact.preprocessing)
    scores = engine.score(images, sha256s=[""] * len(images))
    engine_shares = score_shares(scores)
    for head in ("room", "condition"):
        assert engine_shares[head]["shares"] == pytest.approx(reference[head], abs=1e-9)
