"""Fixtures for training tests: a small manifest of toy photos whose pixels follow their labels,
a tiny recipe and run, a configs folder of a test's own, and a model's metadata for the leak
guard."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from shanyraq.config import get_settings
from tests.training.leak_guard_helpers import trained_on
from tests.training.toy_manifest_helpers import write_toy_manifest
from training.recipe import TrainConfig

DATA_DIGEST = "d" * 64  # the training data digest of `artifact`


@pytest.fixture(scope="session")
def toy_manifest(tmp_path_factory, taxonomy) -> Path:
    return write_toy_manifest(tmp_path_factory.mktemp("toy"), taxonomy)


def make_tiny_recipe(
    manifest: Path, out: Path, *, loader: dict | None = None, **optim
) -> TrainConfig:
    data = {
        "name": "tiny-test",
        "seed": 3,
        "data": {"manifest": str(manifest)},
        "model": {"variant": "shanyraq_test", "input_size": 32},
        "optim": {"epochs": 2, "batch_size": 8, "lr": 0.003, "warmup_epochs": 0.5,
                  "label_smoothing": 0.05, "ema_decay": 0.9, **optim},
        "loader": {"num_workers": 0, "cache": True, **(loader or {})},
        "augment": "phone",
        "output_dir": str(out),
    }  # fmt: skip
    return TrainConfig.model_validate(data)


@pytest.fixture(scope="session")
def tiny_recipe():
    """make_tiny_recipe(manifest, out_dir, loader=None, **optim_overrides) -> TrainConfig."""
    return make_tiny_recipe


@pytest.fixture(scope="module")
def one_epoch(toy_manifest, tiny_recipe, tmp_path_factory) -> Path:
    """A tiny run stopped after its first of two epochs, once per test module (each test that
    resumes it takes a copy: `run`)."""
    from training.train import train

    out = tmp_path_factory.mktemp("one-epoch") / "run"
    train(tiny_recipe(toy_manifest, out), stop_after_epoch=1)
    return out


@pytest.fixture
def run(one_epoch, tmp_path) -> Path:
    """A copy of `one_epoch` elsewhere: output_dir differs from the saved recipe's, which a
    resume allows."""
    return Path(shutil.copytree(one_epoch, tmp_path / "run"))


@pytest.fixture
def reordered_signs(tmp_path, monkeypatch) -> Iterator[Path]:
    """configs/ with the taxonomy's first two signs swapped (and its version bumped, as the
    file asks): the same labels and head sizes, each sign output meaning another sign."""
    import yaml

    from shanyraq.config import default_configs_dir
    from shanyraq.taxonomy import get_taxonomy

    configs = Path(shutil.copytree(default_configs_dir(), tmp_path / "configs"))
    path = configs / "taxonomy.yaml"
    data = yaml.safe_load(path.read_text())
    signs = data["signs"]["classes"]
    signs[0], signs[1] = signs[1], signs[0]
    data["version"] += 1
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    monkeypatch.setenv("SHANYRAQ_CONFIGS_DIR", str(configs))
    get_taxonomy.cache_clear()
    yield path
    get_taxonomy.cache_clear()  # monkeypatch (torn down after this) restores the env


@pytest.fixture
def configs(tmp_path, monkeypatch):
    """A configs folder of our own: write(body) puts augment/NAME.yaml there."""
    (tmp_path / "augment").mkdir()
    monkeypatch.setenv("SHANYRAQ_CONFIGS_DIR", str(tmp_path))
    get_settings.cache_clear()

    def write(text: str, name: str = "t") -> Path:
        path = tmp_path / "augment" / f"{name}.yaml"
        path.write_text(text, encoding="utf-8")
        return path

    yield write
    get_settings.cache_clear()


@pytest.fixture
def artifact(toy_manifest, tmp_path, tiny_recipe, taxonomy):
    """Metadata of a model trained on the toy manifest (nothing is trained: the leak guard
    reads only the recipe), its recipe naming the manifest data/manifest.csv, relative."""
    recipe = tiny_recipe(Path("data/manifest.csv"), tmp_path / "run")
    return trained_on(recipe, taxonomy, data_sha256=DATA_DIGEST)


@pytest.fixture
def elsewhere(tmp_path, monkeypatch) -> Path:
    """The working folder: one where data/manifest.csv is not."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder
