"""Review 16 of resume and the leak guard: a damaged or half-written checkpoint, another seed or
model, a finished run, early stopping and gradient accumulation across a resume; the leak guard
against other spellings of a photo or of the manifest's path, and a same-named manifest."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from shanyraq.errors import ManifestError, ModelMismatchError
from shanyraq.manifest import read_manifest, sha256_file, write_manifest
from tests.training.leak_guard_helpers import TRAINED, copy_with_absolute_paths, leaked_rows
from tests.training.overlap_helpers import untrained_artifact
from tests.training.resume_helpers import recipe_keys, resume_refusal
from tests.training.run_folder_helpers import metrics_rows, snapshot
from training import leak_guard, run_folder
from training.leak_guard import check_overlap, training_photos
from training.run_folder import LAST, METRICS_CSV
from training.train import train

# --- resume ---------------------------------------------------------------------------------


@pytest.mark.parametrize("keep", [0.5, 0.0])
def test_a_truncated_checkpoint_is_refused_naming_it(toy_manifest, tiny_recipe, run, keep):
    last = run / LAST
    whole = last.read_bytes()
    last.write_bytes(whole[: int(len(whole) * keep)])  # a copy cut short, or an empty file
    before = snapshot(run)
    with pytest.raises(ModelMismatchError) as caught:
        train(tiny_recipe(toy_manifest, run), resume=True)
    message = caught.value.message
    assert message.startswith(f"{last} is not a readable checkpoint (")
    assert "without --resume" in message and "\n" not in message
    assert snapshot(run) == before  # not started over: nothing of the run was touched


def test_a_save_cut_short_keeps_the_previous_checkpoint(toy_manifest, tiny_recipe, run,
                                                        monkeypatch):  # fmt: skip
    saved = (run / LAST).read_bytes()

    def killed(state, path) -> None:
        Path(path).write_bytes(b"PK\x03\x04 half a checkpoint")
        raise KeyboardInterrupt  # as Ctrl-C (or a kill) in the middle of torch.save

    monkeypatch.setattr(run_folder.torch, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_recipe(toy_manifest, run), resume=True)
    monkeypatch.undo()
    assert (run / LAST).read_bytes() == saved
    assert sorted(p.name for p in run.iterdir() if p.name.startswith(LAST)) == [LAST]
    assert torch.load(run / LAST, weights_only=True)["epoch"] == 1
    # The epoch whose checkpoint was lost is trained again, its log row not doubled.
    assert train(tiny_recipe(toy_manifest, run), resume=True).epochs_run == 2
    assert [r["epoch"] for r in metrics_rows(run)] == ["1", "2"]
    # A finished run resumed trains nothing and rewrites neither checkpoint nor log.
    finished, log = (run / LAST).read_bytes(), (run / METRICS_CSV).read_text()
    assert train(tiny_recipe(toy_manifest, run), resume=True).epochs_run == 2
    assert (run / LAST).read_bytes() == finished and (run / METRICS_CSV).read_text() == log


def test_another_seed_or_model_is_refused_naming_it(toy_manifest, tiny_recipe, run):
    config = tiny_recipe(toy_manifest, run)
    message = resume_refusal(config.model_copy(update={"seed": 4}))
    assert recipe_keys(message) == ["seed"] and "recipe seed 3 -> 4" in message
    model = config.model.model_copy(update={"variant": "shanyraq_mnv3_small"})
    message = resume_refusal(config.model_copy(update={"model": model}))
    assert recipe_keys(message) == ["model.variant"]
    assert 'recipe model.variant "shanyraq_test" -> "shanyraq_mnv3_small"' in message


def test_the_patience_counter_survives_a_resume(toy_manifest, tmp_path, tiny_recipe):
    # lr tiny: no epoch improves by min_delta, so patience 2 stops after epoch 3 of 4. A resume
    # after epoch 2 (one bad epoch counted) must stop there too, not train epoch 4.
    def recipe(out: Path):
        return tiny_recipe(toy_manifest, out, epochs=4, lr=1e-9, ema_decay=None,
                           early_stopping={"patience": 2, "min_delta": 0.5})  # fmt: skip

    once = train(recipe(tmp_path / "straight"))
    assert once.stopped_early and once.epochs_run == 3
    assert train(recipe(tmp_path / "resumed"), stop_after_epoch=2).epochs_run == 2
    state = torch.load(tmp_path / "resumed" / LAST, weights_only=True)
    assert state["bad_epochs"] == 1
    again = train(recipe(tmp_path / "resumed"), resume=True)
    assert (again.stopped_early, again.epochs_run) == (True, 3)
    assert again.best_score == once.best_score
    assert metrics_rows(tmp_path / "straight") == metrics_rows(tmp_path / "resumed")


@pytest.mark.slow
def test_a_resume_after_a_partial_accumulation_equals_an_uninterrupted_run(
    toy_manifest, tmp_path, tiny_recipe
):
    # 24 training photos in micro-batches of 2: 12 per epoch, 5 to an optimizer step, so each
    # epoch ends on a step of 2 micro-batches. EMA on, dropout drawing from torch's generator.
    def recipe(out: Path):
        config = tiny_recipe(toy_manifest, out, batch_size=10, accumulation_steps=5)
        return config.model_copy(
            update={"model": config.model.model_copy(update={"drop_rate": 0.5})}
        )

    train(recipe(tmp_path / "straight"))
    train(recipe(tmp_path / "resumed"), stop_after_epoch=1)
    train(recipe(tmp_path / "resumed"), resume=True)
    a = torch.load(tmp_path / "straight" / LAST, weights_only=True)
    b = torch.load(tmp_path / "resumed" / LAST, weights_only=True)
    for key in ("model", "model_ema"):
        assert all(torch.equal(a[key][k], b[key][k]) for k in a[key]), key
    assert a["lr_scheduler"] == b["lr_scheduler"] and a["lr_scheduler"]["last_epoch"] == 6
    assert metrics_rows(tmp_path / "straight") == metrics_rows(tmp_path / "resumed")


# --- leak guard -----------------------------------------------------------------------------


def _trained_photo(toy_manifest: Path):
    manifest = read_manifest(toy_manifest)
    row = next(r for r in manifest.rows if r.family_id == TRAINED)
    return row, row.resolve(manifest.root)


def test_the_same_bytes_under_another_name_and_family_are_caught(
    toy_manifest, tmp_path, tiny_recipe, taxonomy
):
    artifact = untrained_artifact(toy_manifest, tmp_path, tiny_recipe, taxonomy)
    row, photo = _trained_photo(toy_manifest)
    copy = tmp_path / "new-dataset" / "IMG_0001.JPG"
    copy.parent.mkdir()
    shutil.copy(photo, copy)
    evaluated = [replace(row, path=copy.name, family_id="brand-new", split="test",
                         sha256=sha256_file(copy))]  # fmt: skip
    path = write_manifest(copy.parent / "manifest.csv", evaluated)
    # A tool that writes its hashes in capitals: the same photo.
    path.write_text(path.read_text().replace(row.sha256, row.sha256.upper()))
    with pytest.raises(ManifestError, match=r"1 of the 1 photos to evaluate are photos model"):
        check_overlap(artifact, read_manifest(path).rows)


@pytest.mark.parametrize("spelling", ["symlink", "dotted"])
def test_the_manifest_path_spelt_otherwise_is_the_same_manifest(
    toy_manifest, tmp_path, tiny_recipe, taxonomy, spelling
):
    artifact = untrained_artifact(toy_manifest, tmp_path, tiny_recipe, taxonomy)
    if spelling == "symlink":
        named = tmp_path / "link.csv"
        named.symlink_to(toy_manifest)
    else:
        named = toy_manifest.parent / ".." / toy_manifest.parent.name / "." / toy_manifest.name
    config = artifact.training_config
    config = {**config, "data": {**config["data"], "manifest": str(named)}}
    artifact = artifact.model_copy(update={"training_config": config})
    assert training_photos(artifact).family_ids >= {TRAINED}
    with pytest.raises(ManifestError, match="--allow-overlap"):
        check_overlap(artifact, leaked_rows(toy_manifest))


def _newer_dataset(toy_manifest: Path, at: Path) -> Path:
    """The same photos re-split: every family is now a test family (so none was trained)."""
    manifest = read_manifest(toy_manifest)
    rows = [replace(r, path=str(r.resolve(manifest.root)), split="test") for r in manifest.rows]
    return write_manifest(at, rows)


def test_a_same_named_manifest_of_other_content_is_not_taken_without_run_json(
    artifact,
    toy_manifest,
    tmp_path,
    elsewhere,
    monkeypatch,
):
    # An exported artifact (no run folder beside it) trained on data/manifest.csv, evaluated
    # from a working folder whose data/manifest.csv is a newer version of the dataset. Its
    # model.json records the training manifest's sha256 (training_data_sha256): the newer
    # file is not the one the model was trained on, and must not hide the leak.
    artifact = artifact.model_copy(update={"training_data_sha256": sha256_file(toy_manifest)})
    _newer_dataset(toy_manifest, elsewhere / "data" / "manifest.csv")
    root = tmp_path / "project"
    monkeypatch.setattr(leak_guard, "default_configs_dir", lambda: root / "configs")
    seen = training_photos(artifact)
    assert seen.sha256 == seen.family_ids == frozenset() and seen.unknown_reason
    assert "data/manifest.csv found at data/manifest.csv" in seen.unknown_reason
    assert "model.json" in seen.unknown_reason
    assert check_overlap(artifact, leaked_rows(toy_manifest))["training_photos_known"] is False

    # The training manifest itself, where the recipe's path points from the project root.
    (root / "data").mkdir(parents=True)
    shutil.copy(toy_manifest, root / "data" / "manifest.csv")
    seen = training_photos(artifact)
    assert seen.manifest == root / "data" / "manifest.csv" and TRAINED in seen.family_ids
    with pytest.raises(ManifestError, match="--allow-overlap"):
        check_overlap(artifact, leaked_rows(toy_manifest))


def test_a_run_json_manifest_elsewhere_still_wins(artifact, toy_manifest, tmp_path, elsewhere):
    # run.json's manifest_sha256 is the one compared when the run folder is there (an absolute
    # copy of the manifest: another sha256 than the artifact's digest, the same photos).
    moved = copy_with_absolute_paths(toy_manifest, tmp_path / "moved" / "manifest.csv")
    digest = sha256_file(toy_manifest)
    artifact = artifact.model_copy(update={"training_data_sha256": digest})
    model_dir = tmp_path / "runs" / "r1" / "artifact"
    model_dir.mkdir(parents=True)
    (model_dir.parent / "run.json").write_text(
        f'{{"manifest": "{moved}", "manifest_sha256": "{sha256_file(moved)}", '
        f'"training_data_sha256": "{digest}"}}'
    )
    _newer_dataset(toy_manifest, elsewhere / "data" / "manifest.csv")
    seen = training_photos(artifact, model_dir=model_dir)
    assert seen.manifest == moved and TRAINED in seen.family_ids
