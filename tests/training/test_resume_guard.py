"""Resuming refuses a checkpoint of another run: another recipe, augmentation file or data."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import torch
import yaml

from shanyraq.config import default_configs_dir
from shanyraq.manifest import sha256_file
from tests.training.resume_helpers import recipe_keys, resume_refusal, saved_identity
from training.run_folder import LAST, augmentation_record
from training.train import train

from .toy_manifest_helpers import write_toy_manifest


def test_a_changed_recipe_is_refused_naming_every_key(toy_manifest, tiny_recipe, run):
    message = resume_refusal(tiny_recipe(toy_manifest, run, lr=0.01, label_smoothing=0.1))
    assert "recipe optim.lr 0.003 -> 0.01" in message
    assert "recipe optim.label_smoothing 0.05 -> 0.1" in message
    assert recipe_keys(message) == ["optim.lr", "optim.label_smoothing"]  # output_dir moved
    assert "augmentation_sha256" not in message and "training_data_sha256" not in message


def test_an_edited_augmentation_file_is_refused(toy_manifest, tiny_recipe, run, tmp_path,
                                                monkeypatch):  # fmt: skip
    saved = saved_identity(run)["augmentation_sha256"]
    configs = Path(shutil.copytree(default_configs_dir(), tmp_path / "configs"))
    pipeline = configs / "augment" / "phone.yaml"
    pipeline.write_text(
        "name: phone\ntransforms:\n  - name: HorizontalFlip\n    params: {p: 0.5}\n"
    )
    monkeypatch.setenv("SHANYRAQ_CONFIGS_DIR", str(configs))
    edited = augmentation_record("phone")["sha256"]
    assert edited != saved
    message = resume_refusal(tiny_recipe(toy_manifest, run))
    scheme = "or the code's seeding scheme (training.augment.SEEDING_SCHEME)"
    assert f"(augmentation 'phone', {pipeline}, {scheme}) {saved} -> {edited}" in message
    assert recipe_keys(message) == []  # the recipe still names "phone"
    advice = "restore the augmentation file with its seeding scheme it was trained with"
    assert message.endswith(advice)


def test_another_manifest_is_refused(toy_manifest, tiny_recipe, run, tmp_path, taxonomy):
    other = write_toy_manifest(tmp_path / "other", taxonomy, seed=1)
    message = resume_refusal(tiny_recipe(other, run))
    old, new = sha256_file(toy_manifest), sha256_file(other)
    assert old != new
    assert f"training_data_sha256 (training manifest, {other}) {old} -> {new}" in message
    assert recipe_keys(message) == []  # data.manifest is a path: its contents count
    assert message.endswith("restore the training manifest it was trained with")


def test_raised_epochs_are_refused(toy_manifest, tiny_recipe, run):
    # The cosine schedule's length is steps x epochs: the steps taken followed the 2-epoch
    # curve, and a resume would jump to the 4-epoch one (training/recipe.py, RESUMABLE_KEYS).
    message = resume_refusal(tiny_recipe(toy_manifest, run, epochs=4))
    assert "recipe optim.epochs 2 -> 4 (the length of the cosine learning-rate schedule)" in message


def test_where_and_how_fast_may_change(toy_manifest, tiny_recipe, run, tmp_path):
    # The run folder and the manifest's folder moved, other loader settings, device, targets
    # and calibration: none changes what is trained.
    moved = Path(shutil.copytree(toy_manifest.parent, tmp_path / "moved")) / toy_manifest.name
    config = tiny_recipe(moved, run, loader={"cache": False, "eval_batch_size": 3})
    config = config.model_copy(
        update={
            "device": "cpu",
            "targets": config.targets.model_copy(update={"condition_qwk": 0.5}),
            "calibration": config.calibration.model_copy(update={"bias_l2": 0.5}),
        }
    )
    assert train(config, resume=True).epochs_run == 2


def test_a_checkpoint_from_older_code_resumes_with_a_warning(toy_manifest, tiny_recipe, run,
                                                             caplog):  # fmt: skip
    state = torch.load(run / LAST, weights_only=True)
    del state["identity"]
    torch.save(state, run / LAST)
    # The recipe it does hold is still compared.
    assert "recipe optim.lr" in resume_refusal(tiny_recipe(toy_manifest, run, lr=0.01))
    with caplog.at_level("WARNING", logger="training.train"):
        result = train(tiny_recipe(toy_manifest, run), resume=True)
    assert result.epochs_run == 2
    assert "older Shanyraq" in caplog.text and "cannot be checked" in caplog.text
    assert set(saved_identity(run)) == {
        "augmentation_sha256",
        "training_data_sha256",
        "code_version",
    }


def test_another_code_version_only_warns(toy_manifest, tiny_recipe, run, caplog):
    state = torch.load(run / LAST, weights_only=True)
    state["identity"]["code_version"] = "0.0.1+0123456789ab"
    torch.save(state, run / LAST)
    with caplog.at_level("WARNING", logger="training.train"):
        assert train(tiny_recipe(toy_manifest, run), resume=True).epochs_run == 2
    assert "written by code 0.0.1+0123456789ab; resuming with code" in caplog.text


def test_the_cli_prints_the_refusal_as_one_line(toy_manifest, tiny_recipe, run, tmp_path,
                                                monkeypatch, capsys):  # fmt: skip
    from shanyraq.cli import main

    recipe = tmp_path / "recipe.yaml"
    dumped = tiny_recipe(toy_manifest, run, lr=0.01).model_dump(mode="json")
    recipe.write_text(yaml.safe_dump(dumped))
    monkeypatch.setattr(sys, "argv", ["shanyraq", "train", str(recipe), "--resume"])
    with pytest.raises(SystemExit) as caught:
        main()
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error")]
    assert len(lines) == 1 and lines[0].startswith("error [resume_mismatch]: ")
    assert "recipe optim.lr 0.003 -> 0.01" in lines[0] and lines[0].endswith(
        "restore the recipe it was trained with"
    )
