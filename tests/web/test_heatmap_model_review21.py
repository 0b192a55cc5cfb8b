"""Review 21: heat maps explain the very model.pt that was in the artifact when the engine
loaded it; one copied over it before the first heat map (or added to an artifact that had
none) is refused with a word to restart, never explained in the running model's place."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from serving.web import heatmaps
from serving.web.i18n import translator
from shanyraq.errors import ModelMismatchError
from tests.vision.engine_fixtures import room_scene
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


def test_a_model_pt_replaced_before_the_first_heat_map_is_refused(
    heatmap_service, heatmap_model_dir, heatmap_models, caplog
):
    photo_id = uploaded_photo_id(heatmap_service)
    # After the start, before anyone asked for a heat map:
    copy_model_over(heatmap_models[1], heatmap_model_dir)
    with caplog.at_level(logging.WARNING):
        got = commission_browser(heatmap_service).get(f"/ui/photos/{photo_id}/heatmap/{SIGNS[0]}")
    # Before: 200, the other model's evidence under the running model's scores.
    assert got.status_code == 503, got.text[:300]
    assert got.headers["content-type"].startswith("text/html")  # no overlay at all
    # A page shows no 5xx message: the administrator reads it in the log, in one line that
    # names the file that changed (serving.web.heatmaps), not again by serving.web.errors.
    refused = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(refused) == 1, caplog.text
    assert str(heatmap_model_dir / TORCH_FILE) in refused[0]
    assert "restart the service" in refused[0]
    assert str(heatmap_model_dir) not in got.text


def test_the_running_model_once_loaded_keeps_explaining(
    heatmap_service, heatmap_model_dir, heatmap_models
):
    photo_id = uploaded_photo_id(heatmap_service)
    browser = commission_browser(heatmap_service)
    first = browser.get(f"/ui/photos/{photo_id}/heatmap/{SIGNS[0]}")
    assert first.status_code == 200, first.text[:300]
    copy_model_over(heatmap_models[1], heatmap_model_dir)
    # The model loaded before the copy is the one scoring: a sign not drawn yet is drawn by it.
    later = browser.get(f"/ui/photos/{photo_id}/heatmap/{SIGNS[1]}")
    assert later.status_code == 200, later.text[:300]
    assert later.headers["content-type"] == "image/png"


def test_the_engine_and_heat_maps_agree_until_a_restart(heatmap_model_dir, heatmap_models):
    photo = room_scene(3, height=48, width=64)
    Engine.load(heatmap_model_dir)
    copy_model_over(heatmap_models[1], heatmap_model_dir)
    with pytest.raises(ModelPtChangedError) as refused:  # as `shanyraq score --explain` sees it
        heatmap(heatmap_model_dir, photo, head="signs", label=SIGNS[0])
    assert isinstance(refused.value, ModelMismatchError)
    assert str(heatmap_model_dir / TORCH_FILE) in refused.value.message
    assert "restart" in refused.value.message
    Engine.load(heatmap_model_dir)  # a restart: the engine and heat maps both take the new model.pt
    np.testing.assert_allclose(
        heatmap(heatmap_model_dir, photo, head="signs", label=SIGNS[0]),
        heatmap(heatmap_models[1], photo, head="signs", label=SIGNS[0]),
    )


def test_a_model_pt_added_to_an_onnx_only_artifact_since_start_is_refused(tmp_path, heatmap_models):
    folder = tmp_path / "onnx_only"
    folder.mkdir()
    for name in (META_FILE, ONNX_FILE):
        shutil.copyfile(heatmap_models[0] / name, folder / name)
    Engine.load(folder)
    copy_model_over(heatmap_models[1], folder)  # whose model.pt it is, nothing says
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


def test_a_model_pt_replaced_before_the_first_heat_map_is_not_offered(
    heatmap_service, heatmap_model_dir, heatmap_models
):
    browser = commission_browser(heatmap_service)
    photo_id = uploaded_photo_id(heatmap_service)
    assert _offers(browser, photo_id)  # the positive control: the model loaded explains it
    copy_model_over(heatmap_models[1], heatmap_model_dir)
    # Before: every sign still had a heat-map button, and each answered 503.
    assert not _offers(browser, photo_id)
    assert browser.get(f"/ui/photos/{photo_id}/heatmap/{SIGNS[0]}").status_code == 503
    assert not heatmaps.available(heatmap_service.services)


def test_the_same_model_pt_written_again_is_hashed_once_and_still_offered(
    heatmap_service, heatmap_model_dir, heatmap_models, monkeypatch
):
    browser = commission_browser(heatmap_service)
    photo_id = uploaded_photo_id(heatmap_service)
    hashed = hashed_model_files(monkeypatch)
    assert _offers(browser, photo_id) and _offers(browser, photo_id)
    assert hashed == []  # an unchanged file: its stat says so, no page view hashes it
    # The very bytes again: a new mtime, the same model.
    copy_model_over(heatmap_models[0], heatmap_model_dir)
    assert _offers(browser, photo_id) and _offers(browser, photo_id)
    assert hashed == [heatmap_model_dir / TORCH_FILE]  # once for the new stat, not once per view
    shown = browser.get(f"/ui/photos/{photo_id}/heatmap/{SIGNS[0]}")
    assert shown.status_code == 200 and shown.headers["content-type"] == "image/png"


def test_the_model_once_loaded_keeps_its_heat_maps_offered(
    heatmap_service, heatmap_model_dir, heatmap_models
):
    browser = commission_browser(heatmap_service)
    photo_id = uploaded_photo_id(heatmap_service)
    assert browser.get(f"/ui/photos/{photo_id}/heatmap/{SIGNS[0]}").status_code == 200
    copy_model_over(heatmap_models[1], heatmap_model_dir)
    # The torch model loaded before the copy is the one scoring, and it keeps explaining.
    assert _offers(browser, photo_id)
    later = browser.get(f"/ui/photos/{photo_id}/heatmap/{SIGNS[1]}")
    assert later.status_code == 200, later.text[:300]


def test_a_folder_no_engine_loaded_is_not_checked(tmp_path, heatmap_models):
    folder = Path(shutil.copytree(heatmap_models[0], tmp_path / "tool"))
    copy_model_over(heatmap_models[1], folder)
    assert explain.model_pt_changed(folder) is None  # as heatmap_model: any file is its own


def test_a_model_pt_added_to_an_onnx_only_artifact_is_reported_without_a_hash(
    tmp_path, heatmap_models, monkeypatch
):
    from vision.engine import Engine

    folder = Path(shutil.copytree(heatmap_models[0], tmp_path / "onnx_only"))
    (folder / TORCH_FILE).unlink()
    Engine.load(folder)
    shutil.copyfile(heatmap_models[1] / TORCH_FILE, folder / TORCH_FILE)
    hashed = hashed_model_files(monkeypatch)
    changed = explain.model_pt_changed(folder)
    assert changed is not None and str(folder / TORCH_FILE) in changed.message
    assert hashed == []  # there was none: any file is another
