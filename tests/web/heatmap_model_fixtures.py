"""Fixtures of the tests of heat maps and the model.pt they explain, in tests/web and
tests/serving (registered for both by tests/conftest.py): two models that explain a photo
apart, a copy of the first that a service runs, and that service."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.serving.helpers import Service


@pytest.fixture(scope="module")
def heatmap_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two models that call every photo a kitchen (so its signs are read) and explain it apart:
    the running one, then the other."""
    import numpy as np

    from shanyraq.taxonomy import get_taxonomy
    from tests.vision.engine_fixtures import make_artifact, room_scene
    from tests.web.heatmap_model_helpers import SIGNS
    from vision.explain import heatmap

    root = tmp_path_factory.mktemp("models")
    taxonomy = get_taxonomy()
    running, other = (
        make_artifact(root / name, taxonomy, room_bias={"kitchen": 10.0}, seed=seed)
        for name, seed in (("running", 0), ("other", 1))
    )
    photo = room_scene(3, height=48, width=64)
    apart = heatmap(running, photo, head="signs", label=SIGNS[0])
    assert not np.allclose(apart, heatmap(other, photo, head="signs", label=SIGNS[0]))
    return running, other


@pytest.fixture
def heatmap_model_dir(tmp_path: Path, heatmap_models: tuple[Path, Path]) -> Path:
    """A copy of the running model of `heatmap_models`, this test's own."""
    return Path(shutil.copytree(heatmap_models[0], tmp_path / "model"))


@pytest.fixture
def heatmap_service(tmp_path: Path, heatmap_model_dir: Path) -> Iterator[Service]:
    """A started app scoring with, and explaining by, the model in `heatmap_model_dir`."""
    from tests.serving.helpers import started

    with started(tmp_path, model_dir=heatmap_model_dir) as service:
        yield service
