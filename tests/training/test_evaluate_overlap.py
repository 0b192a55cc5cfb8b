"""`shanyraq evaluate` refuses photos the model was trained or validated on, unless allowed."""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shanyraq.errors import ManifestError
from shanyraq.manifest import read_manifest, sha256_file, write_manifest
from tests.training.overlap_helpers import HELD_OUT_STYLE, another_photo, untrained_artifact
from training.build import build_artifact
from training.cli import app
from training.evaluate import evaluate_artifact
from training.leak_guard import check_overlap, training_photos
from training.model_card import write_model_card
from training.report import headline
from vision.artifact import read_artifact, write_artifact

runner = CliRunner()
# Relabelled as test: a train family, a train family of the held-out style (never trained
# on, so no overlap), and a validation family.
LEAKED_FAMILIES = ("fam00", "fam02", "fam06")


@pytest.fixture(scope="module")
def artifact_dir(toy_manifest, tmp_path_factory, tiny_recipe) -> Path:
    recipe = tiny_recipe(toy_manifest, tmp_path_factory.mktemp("overlap") / "run", epochs=1)
    data = recipe.data.model_copy(update={"held_out_styles": [int(HELD_OUT_STYLE)]})
    return build_artifact(
        recipe.model_copy(update={"data": data}), with_robustness=False
    ).artifact_dir


def _trained_on(row) -> bool:
    return row.split in ("train", "val") and row.extra["style"] != HELD_OUT_STYLE


@pytest.fixture
def leaky_manifest(toy_manifest, tmp_path) -> tuple[Path, int]:
    """A copy of the training manifest whose test split holds some train and val photos."""
    manifest = read_manifest(toy_manifest)
    rows = [
        replace(r, path=str(r.resolve(manifest.root)), split="test")
        if r.family_id in LEAKED_FAMILIES
        else replace(r, path=str(r.resolve(manifest.root)))
        for r in manifest.rows
    ]
    leaked = sum(_trained_on(r) for r in manifest.rows if r.family_id in LEAKED_FAMILIES)
    return write_manifest(tmp_path / "leaky" / "manifest.csv", rows), leaked


@pytest.mark.slow
def test_own_test_split_overlaps_nothing(artifact_dir, toy_manifest, tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="training.leak_guard")
    metrics, report = evaluate_artifact(
        artifact_dir, toy_manifest, out_dir=tmp_path / "ev", held_out_styles=[2],
        with_robustness=False,
    )  # fmt: skip
    data = metrics["data"]
    assert data["training_photos_known"] is True
    assert data["overlap_with_training"] == 0
    assert data["training_splits_compared"] == ["train", "val"]
    assert Path(data["training_manifest"]) == toy_manifest
    assert "WARNING" not in report.read_text() and "Not checked" not in report.read_text()
    assert not [r for r in caplog.records if r.name == "training.leak_guard"]
    # Held-out-style photos come from every split: the model saw none of them.
    rows = read_manifest(toy_manifest).rows
    assert metrics["n_held_out_style_photos"] == sum(
        r.extra["style"] == HELD_OUT_STYLE for r in rows
    )
    assert {r.split for r in rows if r.extra["style"] == HELD_OUT_STYLE} > {"test"}
    head = headline(metrics)
    for name, held_value in head["held_out_style"].items():
        found = metrics["held_out_style_drop"][name]
        assert found["drop"] == pytest.approx(head[name] - held_value)
        assert len(found["ci"]) == 2 and found["ci"][0] <= found["ci"][1]
        lo, hi = found["ci"]
        assert (
            f"| held-out style drop, {name} | <= 0.05 | {found['drop']:.3f} [{lo:.3f}, {hi:.3f}] |"
            in report.read_text()
        )


@pytest.mark.slow
def test_training_photos_in_the_test_split_are_refused(artifact_dir, leaky_manifest, tmp_path):
    path, leaked = leaky_manifest
    assert leaked > 0
    with pytest.raises(ManifestError, match=rf"^{leaked} of the \d+ photos to evaluate"):
        evaluate_artifact(artifact_dir, path, out_dir=tmp_path / "ev", with_robustness=False)
    result = runner.invoke(
        app, ["evaluate", str(artifact_dir), str(path), "--out", str(tmp_path / "ev"),
              "--no-robustness"],
    )  # fmt: skip
    assert isinstance(result.exception, ManifestError), result.output
    assert f"{leaked} of the" in result.exception.message
    assert "--allow-overlap" in result.exception.message
    assert not (tmp_path / "ev").exists()


@pytest.mark.slow
def test_allow_overlap_measures_with_a_warning(artifact_dir, leaky_manifest, tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="training.leak_guard")
    path, leaked = leaky_manifest
    out = tmp_path / "ev"
    result = runner.invoke(
        app, ["evaluate", str(artifact_dir), str(path), "--out", str(out), "--no-robustness",
              "--allow-overlap"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["data"]["overlap_with_training"] == leaked
    assert metrics["n_test_photos"] == len(read_manifest(path).by_split("test"))
    report = (out / "report.md").read_text().splitlines()
    assert report[2].startswith(f"> **WARNING: {leaked} of the {metrics['n_test_photos']} ")
    assert any(f"{leaked} of the" in r.getMessage() for r in caplog.records)
    card = write_model_card(tmp_path / "card.md", read_artifact(artifact_dir), metrics, recipe=None)
    measured_on = card.read_text().split("## Data it was measured on")[1].split("## ")[0]
    assert f"WARNING: {leaked} of the" in measured_on


@pytest.mark.slow
def test_missing_training_manifest_is_reported_not_refused(artifact_dir, toy_manifest, tmp_path):
    moved = tmp_path / "artifact"
    shutil.copytree(artifact_dir, moved)
    artifact = read_artifact(moved)
    config = artifact.training_config
    gone = tmp_path / "moved-away" / "manifest.csv"
    config = {**config, "data": {**config["data"], "manifest": str(gone)}}
    write_artifact(moved, artifact.model_copy(update={"training_config": config}))
    metrics, report = evaluate_artifact(
        moved, toy_manifest, out_dir=tmp_path / "ev", with_robustness=False
    )
    data = metrics["data"]
    assert data["training_photos_known"] is False
    assert data["overlap_with_training"] is None
    assert str(gone) in data["training_photos_unknown_reason"]
    assert "not found" in data["training_photos_unknown_reason"]
    assert "Not checked against the model's training photos" in report.read_text()
    # The command says so where it is seen, after the figures, not only in the report.
    result = runner.invoke(
        app, ["evaluate", str(moved), str(toy_manifest), "--out", str(tmp_path / "cli"),
              "--no-robustness"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    warning = result.stderr.split("WARNING: these photos were NOT checked")[1]
    assert str(gone) in warning and "inflated" in warning
    assert result.output.rindex("NOT checked") > result.output.rindex("signs_map")


@pytest.mark.slow
def test_a_streamed_recipe_is_compared_with_its_validation_photos_only(artifact_dir, toy_manifest):
    artifact = read_artifact(artifact_dir)
    manifest = read_manifest(toy_manifest)
    assert training_photos(artifact).sha256 == {r.sha256 for r in manifest.rows if _trained_on(r)}
    config = artifact.training_config
    stream = {"seed": 99, "photos_per_epoch": 16}
    config = {**config, "data": {**config["data"], "stream": stream}}
    seen = training_photos(artifact.model_copy(update={"training_config": config}))
    assert seen.splits == ("val",)
    val = {r.sha256 for r in manifest.by_split("val") if r.extra["style"] != HELD_OUT_STYLE}
    assert seen.sha256 == val and val


def test_other_photos_of_trained_families_are_refused(
    toy_manifest, tmp_path, tiny_recipe, taxonomy, caplog
):
    """fam01 was trained on, fam06 validated on: a new photo of either is no unseen photo."""
    artifact = untrained_artifact(toy_manifest, tmp_path, tiny_recipe, taxonomy)
    manifest = read_manifest(toy_manifest)
    new = [another_photo(manifest.rows, f, n) for n, f in enumerate(("fam01", "fam06", "fam01"))]
    rows = [*manifest.by_split("test"), *new]
    with pytest.raises(
        ManifestError,
        match=rf"^3 of the {len(rows)} photos to evaluate are other photos of 2 families "
        rf"model {artifact.model_version} was trained or validated on \(fam01, fam06: ",
    ) as refused:
        check_overlap(artifact, rows)
    assert "--allow-overlap" in refused.value.message
    caplog.set_level(logging.WARNING, logger="training.leak_guard")
    found = check_overlap(artifact, rows, allow_overlap=True)
    assert found["overlap_with_training"] == 0
    assert (found["family_overlap_with_training"], found["families_overlapping_training"]) == (3, 2)
    assert any("other photos of 2 families" in r.getMessage() for r in caplog.records)


def test_held_out_style_families_and_unseen_families_still_pass(
    toy_manifest, tmp_path, tiny_recipe, taxonomy
):
    """Held-out-style families were never trained on, even those in the train split: their
    stored photos and new ones are measured, as are the test families'."""
    artifact = untrained_artifact(toy_manifest, tmp_path, tiny_recipe, taxonomy)
    manifest = read_manifest(toy_manifest)
    held = [r for r in manifest.rows if r.extra["style"] == HELD_OUT_STYLE]
    assert {r.split for r in held} > {"test"}
    rows = [*manifest.by_split("test"), *held, another_photo(manifest.rows, "fam02", 0)]
    found = check_overlap(artifact, rows)
    assert (found["overlap_with_training"], found["family_overlap_with_training"]) == (0, 0)
    assert training_photos(artifact).family_ids == {
        r.family_id for r in manifest.rows if _trained_on(r)
    }


@pytest.mark.slow
def test_a_new_photo_of_a_trained_family_on_another_manifest(artifact_dir, toy_manifest, tmp_path):
    """Another manifest holding a re-encoded photo of a training family: refused by family,
    and with --allow-overlap measured under a warning in the report."""
    from PIL import Image

    manifest = read_manifest(toy_manifest)
    source = next(r for r in manifest.rows if r.family_id == "fam01")
    copy = tmp_path / "new" / "fam01-again.jpg"
    copy.parent.mkdir()
    Image.open(source.resolve(manifest.root)).save(copy, quality=60)
    rows = [replace(r, path=str(r.resolve(manifest.root))) for r in manifest.by_split("test")]
    again = replace(source, path=copy.name, sha256=sha256_file(copy), split="test")
    path = write_manifest(tmp_path / "new" / "manifest.csv", [*rows, again])
    with pytest.raises(ManifestError, match=r"^1 of the \d+ photos to evaluate are other photos"):
        evaluate_artifact(artifact_dir, path, out_dir=tmp_path / "ev", with_robustness=False)
    metrics, report = evaluate_artifact(
        artifact_dir, path, out_dir=tmp_path / "ev", with_robustness=False, allow_overlap=True
    )
    assert metrics["data"]["family_overlap_with_training"] == 1
    assert f"> **WARNING: 1 of the {len(rows) + 1} evaluated photos are other photos of 1 " in (
        report.read_text()
    )
