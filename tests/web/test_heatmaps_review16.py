"""Heat-map evidence, review 16: a map that points to no particular place is drawn as no
evidence, never as strong evidence over the whole photo; a photo the model said is not a home
offers no sign heat maps, and its overlay is refused with a code of its own."""

from __future__ import annotations

import hashlib
import io
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from PIL import Image
from torch import nn

from serving.api.errors import error_response
from serving.errors import HeatmapNotAHomeError
from serving.web import heatmaps
from shanyraq.taxonomy import get_taxonomy
from tests.serving.helpers import PASSWORD, jpeg
from tests.vision.engine_fixtures import make_artifact, room_scene
from tests.web.helpers import sign_in
from tests.web.not_home_helpers import make_a_home, stored_photo
from vision import explain
from vision.artifact import Preprocessing
from vision.score import ABSTAIN_NOT_DWELLING

SPEC = Preprocessing(size=32, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
GRID = 8  # the side of the stubbed Grad-CAM feature map


def _cam_stub(cam: np.ndarray) -> Any:
    def grad_cam(model: Any, batch: np.ndarray, **_: Any) -> np.ndarray:
        return cam.astype(np.float32)

    return grad_cam


def _spot(*, floor: float, peak: float) -> np.ndarray:
    cam = np.full((GRID, GRID), floor, dtype=np.float32)
    cam[2, 5] = peak
    return cam


@pytest.mark.parametrize(
    "cam",
    [
        np.full((GRID, GRID), 3.0, dtype=np.float32),  # constant: the pooled logit's own value
        _spot(floor=3.0, peak=3.0 * (1 + explain.FLAT_CONTRAST / 2)),  # a ripple on a plateau
        np.zeros((GRID, GRID), dtype=np.float32),  # ReLU left nothing
    ],
    ids=["constant", "nearly_constant", "zero"],
)
@pytest.mark.parametrize("policy", ["squash", "letterbox", "shorter_side_crop"])
def test_a_map_that_points_nowhere_is_drawn_as_no_evidence(monkeypatch, cam, policy):
    # Before: divided by its peak, a constant map was 1.0 over the whole photo.
    monkeypatch.setattr(explain, "_grad_cam", _cam_stub(cam))
    spec = SPEC.model_copy(update={"resize": policy})
    photo = room_scene(1, height=40, width=60)
    heat = explain.heatmap(
        nn.Identity(), photo, head="signs", label="damp_mould", preprocessing=spec
    )
    assert heat.shape == (40, 60) and heat.dtype == np.float32
    assert not heat.any()


def test_a_map_with_a_place_keeps_its_peak_there(monkeypatch):
    cam = _spot(floor=1.0, peak=4.0)  # the floor is a quarter of the peak: a place stands out
    monkeypatch.setattr(explain, "_grad_cam", _cam_stub(cam))
    photo = room_scene(1, height=64, width=64)
    heat = explain.heatmap(
        nn.Identity(), photo, head="signs", label="damp_mould", preprocessing=SPEC
    )
    assert heat.max() == pytest.approx(1.0)
    y, x = np.unravel_index(np.argmax(heat), heat.shape)
    assert (int(y) * GRID // 64, int(x) * GRID // 64) == (2, 5)
    assert heat.min() < 0.5  # its floor stays where the peak puts it (a quarter, smoothed)


def test_a_flat_maps_overlay_leaves_the_photo_untinted(tmp_path, make_image, monkeypatch):
    """Through the page's overlay: the photo as it is (the legend says what that means), the
    same picture as a map of no evidence at all gives."""
    folder = make_artifact(tmp_path / "model", get_taxonomy(), size=32)
    photo = make_image("JPEG", size=(120, 90))

    def overlay(cam: np.ndarray, version: str) -> bytes:
        monkeypatch.setattr(explain, "_grad_cam", _cam_stub(cam))
        services: Any = SimpleNamespace(
            settings=SimpleNamespace(model_dir=folder, data_dir=tmp_path / "data"),
            pipeline=SimpleNamespace(engine=object(), model_version=version, decode_side=32),
            store=SimpleNamespace(read=lambda sha256: photo),
        )
        return heatmaps.sign_overlay(
            services, sha256=hashlib.sha256(photo).hexdigest(), sign="damp_mould"
        )

    flat = overlay(np.full((GRID, GRID), 2.0, dtype=np.float32), "flat")
    none = overlay(np.zeros((GRID, GRID), dtype=np.float32), "none")
    spot = overlay(_spot(floor=0.0, peak=2.0), "spot")

    def pixels(png: bytes) -> np.ndarray:
        return np.asarray(Image.open(io.BytesIO(png)))

    np.testing.assert_array_equal(pixels(flat), pixels(none))
    assert not np.array_equal(pixels(spot), pixels(none))  # a real map still tints


# --- a photo the model said is not a home ---------------------------------------------------


def test_a_photo_said_not_a_home_offers_no_sign_heat_maps(not_home_service):
    from fastapi.testclient import TestClient
    from sqlalchemy import select

    from serving.db.models import AuditEntry
    from serving.web.i18n import translator

    not_home_service.create_family("F1")
    outside = not_home_service.upload("F1", jpeg(1)).json()
    home = not_home_service.upload("F1", jpeg(2)).json()
    assert ABSTAIN_NOT_DWELLING in outside["score"]["abstain_reasons"]  # the model's own word
    make_a_home(not_home_service, home["photo_id"])
    browser = TestClient(not_home_service.app, base_url="http://127.0.0.1")
    assert sign_in(browser, "commission", PASSWORD).status_code == 303
    for lang in ("en", "ru", "kk"):
        t = translator(lang)
        page = browser.get(f"/ui/families/F1?lang={lang}").text
        assert f"/ui/photos/{home['photo_id']}/heatmap/" in page, lang
        assert f"/ui/photos/{outside['photo_id']}/heatmap/" not in page, lang
        assert page.count(t("photo.heat_not_a_home")) == 1, lang
        # Not the other-model line: the loaded model did score it.
        assert t("photo.heat_other_model", model="test-4") not in page, lang
        assert t("photo.heat_flat") in page, lang  # the legend of the home photo says it

    # Under /ui the refusal is a page in the reader's words (the API's JSON mapping gives the
    # same status and code: checked below on the error itself).
    url = f"/ui/photos/{outside['photo_id']}/heatmap/damp_mould"
    for lang in ("en", "ru", "kk"):
        refused = browser.get(f"{url}?lang={lang}")
        assert refused.status_code == 409, refused.text
        assert translator(lang)("error_reason.heatmap_not_a_home") in refused.text, lang
    with pytest.raises(HeatmapNotAHomeError) as caught:
        heatmaps.check_explains(
            not_home_service.services, stored_photo(not_home_service, outside["photo_id"])
        )
    error = caught.value
    assert (error.code, error.http_status) == ("heatmap_not_a_home", 409)
    assert "\n" not in error.message and "not a home" in error.message
    answer = error_response(error.http_status, error.code, error.message)
    assert answer.status_code == 409 and b'"code":"heatmap_not_a_home"' in answer.body
    shown = browser.get(f"/ui/photos/{home['photo_id']}/heatmap/damp_mould")
    assert shown.status_code == 200 and shown.headers["content-type"] == "image/png"
    with not_home_service.services.sessions() as session:
        viewed = session.execute(
            select(AuditEntry.target).where(AuditEntry.action == "heatmap_viewed")
        ).scalars()
        assert list(viewed) == [f"photo:{home['photo_id']}"]  # the refused one was never seen
