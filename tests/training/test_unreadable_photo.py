"""A training photo that cannot be read is one error naming the photo and its manifest row.

With `loader.cache: false` it is met only while training, by a loader worker or (without
one) by the training process; the run folder is then left as a refusal leaves it. Before, a
worker's error came with the worker's whole traceback as its message, the message never
named the manifest row, and the old run's metrics.csv was already gone (or an empty run
folder made) when training met the photo.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from shanyraq.errors import ImageError
from shanyraq.manifest import read_manifest
from tests.training.run_folder_helpers import OLD_RUN, snapshot
from training.train import train

from .toy_manifest_helpers import write_toy_manifest

UNCACHED = {"cache": False}


@pytest.fixture
def damaged(tmp_path, taxonomy) -> tuple[Path, Path, int]:
    """A manifest of the test's own toy photos, one training photo cut off half-way (a JPEG
    that stops partway): the manifest, the photo and the photo's line in the manifest."""
    manifest = write_toy_manifest(tmp_path / "data", taxonomy)
    row = read_manifest(manifest).by_split("train")[4]
    photo = manifest.parent / row.path
    photo.write_bytes(photo.read_bytes()[: photo.stat().st_size // 2])
    lines = manifest.read_text().splitlines()
    [line] = [n for n, text in enumerate(lines, start=1) if text.startswith(f"{row.path},")]
    return manifest, photo, line


def _check_message(error: ImageError, manifest: Path, photo: Path, line: int) -> None:
    message = error.message
    assert error.code == "image_corrupt"
    assert "\n" not in message and "Traceback" not in message
    assert message.startswith(f"{manifest}, line {line}: training photo {photo} cannot be read")
    assert "stops partway" in message and "remove its row" in message


@pytest.mark.parametrize("workers", [0, 2])
def test_a_photo_met_in_training_is_one_error_and_the_old_run_stays(
    damaged, tmp_path, tiny_recipe, workers
):
    manifest, photo, line = damaged
    run = tmp_path / "run"
    for name, text in OLD_RUN.items():
        (run / name).parent.mkdir(parents=True, exist_ok=True)
        (run / name).write_text(text)
    before = snapshot(run)
    config = tiny_recipe(manifest, run, epochs=1, loader={**UNCACHED, "num_workers": workers})
    with pytest.raises(ImageError) as caught:
        train(config)
    _check_message(caught.value, manifest, photo, line)
    assert "`loader.cache: true`" in caught.value.message  # finds them all before training
    assert snapshot(run) == before


def test_a_cached_photo_is_refused_before_training_naming_its_row(damaged, tmp_path, tiny_recipe):
    manifest, photo, line = damaged
    with pytest.raises(ImageError) as caught:
        train(tiny_recipe(manifest, tmp_path / "run", epochs=1))
    _check_message(caught.value, manifest, photo, line)
    assert not (tmp_path / "run").exists()


def test_the_loader_raises_it_in_the_training_process(damaged, tmp_path, tiny_recipe, taxonomy):
    from training.data import ManifestDataset
    from training.loader import batches, build_loader
    from vision.artifact import Preprocessing

    manifest, photo, line = damaged
    config = tiny_recipe(manifest, tmp_path / "run", loader={**UNCACHED, "num_workers": 2})
    read = read_manifest(manifest)
    spec = Preprocessing(size=32, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    dataset = ManifestDataset(
        read.by_split("train"), read.root, spec=spec, taxonomy=taxonomy, manifest=manifest
    )
    loader = build_loader(dataset, config)
    with pytest.raises(ImageError) as caught:
        for _ in batches(loader):
            pass
    _check_message(caught.value, manifest, photo, line)


@pytest.mark.slow
def test_a_photo_met_after_a_resume_leaves_the_run_as_it_was(damaged, tmp_path, tiny_recipe):
    manifest, photo, line = damaged
    cut_off = photo.read_bytes()
    readable = manifest.parent / read_manifest(manifest).by_split("train")[0].path
    photo.write_bytes(readable.read_bytes())  # for the first epoch
    config = tiny_recipe(manifest, tmp_path / "run", loader={**UNCACHED, "num_workers": 1})
    train(config, stop_after_epoch=1)
    photo.write_bytes(cut_off)
    before = snapshot(tmp_path / "run")
    with pytest.raises(ImageError) as caught:
        train(config, resume=True)
    _check_message(caught.value, manifest, photo, line)
    assert snapshot(tmp_path / "run") == before  # epoch 1's checkpoint and log, as they were


def test_the_cli_prints_it_as_one_line(damaged, tmp_path, tiny_recipe, monkeypatch, capsys):
    from shanyraq.cli import main

    manifest, photo, line = damaged
    run = tmp_path / "run"
    recipe = tmp_path / "recipe.yaml"
    config = tiny_recipe(manifest, run, epochs=1, loader={**UNCACHED, "num_workers": 1})
    recipe.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    monkeypatch.setattr(sys, "argv", ["shanyraq", "train", str(recipe)])
    with pytest.raises(SystemExit) as caught:
        main()
    err = capsys.readouterr().err
    assert caught.value.code == 2 and "Traceback" not in err
    [error] = [text for text in err.splitlines() if text.startswith("error")]
    assert error.startswith(f"error [image_corrupt]: {manifest}, line {line}: ")
    assert f"training photo {photo} cannot be read" in error
    assert not run.exists()
