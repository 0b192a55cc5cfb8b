"""Review 21: heat maps explain the very model.pt that was in the artifact when the engine
loaded it; one copied over it before the first heat map (or added to an artifact that had
none) is refused with a word to restart, never explained in the running model's place."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from serving.web import heatmaps
from serving.web.i18n import translator
from shanyraq.errors import ModelMismatchError
from shanyraq.taxonomy import get_taxonomy
from tests.serving.helpers import Service, started
from tests.vision.engine_fixtures import make_artifact, room_scene
from tests.web.heatmap_model_helpers import (
    SIGNS,
    commission_browser,
    copy_model_over,
    hashed_model_files,
    uploaded_photo_id,
)
from vision import explain
from vision.artifact import META_FILE, ONNX_FILE, TORCH_FILE
from vision.engine import Engine
from vision.explain import ModelPtChangedError, heatmap


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two models that call every photo a kitchen (so its signs are read) and explain it apart."""
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
def model_dir(tmp_path: Path, models: tuple[Path, Path]) -> Path:
    return Path(shutil.copytree(models[0], tmp_path / "model"))


@pytest.fixture
def service(tmp_path: Path, model_dir: Path) -> Iterator[Service]:
    with started(tmp_path, model_dir=model_dir) as service:
        yield service


def test_a_model_pt_replaced_before_the_first_heat_map_is_refused(
    service, model_dir, models, caplog
):
    photo_id = uploaded_photo_id(service)
    copy_model_over(models[1], model_dir)  # after the start, before anyone asked for a heat map
    with caplog.at_level(logging.WARNING):
        got = commission_browser(service).get(f"/ui/photos/{photo_id}/heatmap/{SIGNS[0]}")
    # Before: 200, the other model's evidence under the running model's scores.
    assert got.status_code == 503, got.text[:300]
    assert got.headers["content-type"].startswith("text/html")  # no overlay at all
    # A page shows no 5xx message: the administrator reads it in the log, in one line that
    # names the file that changed (serving.web.heatmaps), not again by serving.web.errors.
    refused = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(refused) == 1, caplog.text
    assert str(model_dir / TORCH_FILE) in refused[0]
    assert "restart the service" in refused[0]
    assert str(model_dir) not in got.text


def test_the_running_model_once_loaded_keeps_explaining(service, model_dir, models):
    photo_id = uploaded_photo_id(service)
    browser = commission_browser(service)
    first = browser.get(f"/ui/photos/{photo_id}/heatmap/{SIGNS[0]}")
    assert first.status_code == 200, first.text[:300]
    copy_model_over(models[1], model_dir)
    # The model loaded before the copy is the one scoring: a sign not drawn yet is drawn by it.
    later = browser.get(f"/ui/photos/{photo_id}/heatmap/{SIGNS[1]}")
    assert later.status_code == 200, later.text[:300]
    assert later.headers["content-type"] == "image/png"


def test_the_engine_and_heat_maps_agree_until_a_restart(model_dir, models):
    photo = room_scene(3, height=48, width=64)
    Engine.load(model_dir)
    copy_model_over(models[1], model_dir)
    with pytest.raises(ModelPtChangedError) as refused:  # as `shanyraq score --explain` sees it
        heatmap(model_dir, photo, head="signs", label=SIGNS[0])
    assert isinstance(refused.value, ModelMismatchError)
    assert str(model_dir / TORCH_FILE) in refused.value.message
    assert "restart" in refused.value.message
    Engine.load(model_dir)  # a restart: the engine and heat maps both take the new model.pt
    np.testing.assert_allclose(
        heatmap(model_dir, photo, head="signs", label=SIGNS[0]),
        heatmap(models[1], photo, head="signs", label=SIGNS[0]),
    )


def test_a_model_pt_added_to_an_onnx_only_artifact_since_start_is_refused(tmp_path, models):
    folder = tmp_path / "onnx_only"
    folder.mkdir()
    for name in (META_FILE, ONNX_FILE):
        shutil.copyfile(models[0] / name, folder / name)
    Engine.load(folder)
    copy_model_over(models[1], folder)  # whose model.pt it is, nothing says
    with pytest.raises(ModelPtChangedError):
        heatmap(folder, room_scene(3, height=48, width=64), head="signs", label=SIGNS[0])


# --- review 22: the family page offers no heat maps that every request would refuse -------


def _offers(browser: TestClient, photo_id: int) -> bool:
    """Whether the family page links heat maps of the photo; checked against its own words."""
    page = browser.get("/ui/families/F1?lang=en")
    assert page.status_code == 200, page.text[:300]
    offered = f"/ui/photos/{photo_id}/heatmap/" in page.text
    none = translator("en")("family.no_heatmaps") in page.text
    assert offered != none, "links and the 'no heat maps' line at once, or neither"
    return offered


# --- 1. the page offers no heat maps every request would refuse ----------------------------------


def test_a_model_pt_replaced_before_the_first_heat_map_is_not_offered(service, model_dir, models):
    browser = commission_browser(service)
    photo_id = uploaded_photo_id(service)
    assert _offers(browser, photo_id)  # the positive control: the model loaded explains it
    copy_model_over(models[1], model_dir)
    # Before: every sign still had a heat-map button, and each answered 503.
    assert not _offers(browser, photo_id)
    assert browser.get(f"/ui/photos/{photo_id}/heatmap/{SIGNS[0]}").status_code == 503
    assert not heatmaps.available(service.services)


def test_the_same_model_pt_written_again_is_hashed_once_and_still_offered(
    service, model_dir, models, monkeypatch
):
    browser = commission_browser(service)
    photo_id = uploaded_photo_id(service)
    hashed = hashed_model_files(monkeypatch)
    assert _offers(browser, photo_id) and _offers(browser, photo_id)
    assert hashed == []  # an unchanged file: its stat says so, no page view hashes it
    copy_model_over(models[0], model_dir)  # the very bytes again: a new mtime, the same model
    assert _offers(browser, photo_id) and _offers(browser, photo_id)
    assert hashed == [model_dir / TORCH_FILE]  # once for the new stat, not once per view
    shown = browser.get(f"/ui/photos/{photo_id}/heatmap/{SIGNS[0]}")
    assert shown.status_code == 200 and shown.headers["content-type"] == "image/png"


def test_the_model_once_loaded_keeps_its_heat_maps_offered(service, model_dir, models):
    browser = commission_browser(service)
    photo_id = uploaded_photo_id(service)
    assert browser.get(f"/ui/photos/{photo_id}/heatmap/{SIGNS[0]}").status_code == 200
    copy_model_over(models[1], model_dir)
    # The torch model loaded before the copy is the one scoring, and it keeps explaining.
    assert _offers(browser, photo_id)
    later = browser.get(f"/ui/photos/{photo_id}/heatmap/{SIGNS[1]}")
    assert later.status_code == 200, later.text[:300]


def test_a_folder_no_engine_loaded_is_not_checked(tmp_path, models):
    folder = Path(shutil.copytree(models[0], tmp_path / "tool"))
    copy_model_over(models[1], folder)
    assert explain.model_pt_changed(folder) is None  # as heatmap_model: any file is its own


def test_a_model_pt_added_to_an_onnx_only_artifact_is_reported_without_a_hash(
    tmp_path, models, monkeypatch
):
    from vision.engine import Engine

    folder = Path(shutil.copytree(models[0], tmp_path / "onnx_only"))
    (folder / TORCH_FILE).unlink()
    Engine.load(folder)
    shutil.copyfile(models[1] / TORCH_FILE, folder / TORCH_FILE)
    hashed = hashed_model_files(monkeypatch)
    changed = explain.model_pt_changed(folder)
    assert changed is not None and str(folder / TORCH_FILE) in changed.message
    assert hashed == []  # there was none: any file is another
