"""Review 26: a strip filed before uploads refused photos more than MAX_ASPECT times as long as
they are wide is still shown to the commission; its heat map is refused for its shape, in words
about the heat map, and a strip no JPEG copy can hold is named for the administrator."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import update

from serving import storage
from serving.db.models import Photo
from serving.db.session import session_scope
from serving.stored_decode import decode_stored
from shanyraq.errors import ImageShapeError
from shanyraq.taxonomy import get_taxonomy
from tests.serving.helpers import PASSWORD, Service, jpeg, started
from tests.vision.engine_fixtures import make_artifact
from tests.web.helpers import sign_in
from vision.io import decode_image

SIGN = "damp_mould"


def _png(width: int, height: int) -> bytes:
    rng = np.random.default_rng(width * 7 + height)
    pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def kitchen_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model that calls every photo a kitchen, so its signs are read and explained."""
    return make_artifact(
        tmp_path_factory.mktemp("model"), get_taxonomy(), room_bias={"kitchen": 10.0}
    )


@pytest.fixture
def service(tmp_path: Path, kitchen_model: Path) -> Iterator[Service]:
    with started(tmp_path, model_dir=kitchen_model) as service:
        yield service


def _file_as_before(service: Service, strip: bytes, *, width: int, height: int) -> int:
    """A photo filed, scored, then made the strip in the store and its row, as an upload before
    the aspect limit would have filed it (an upload today refuses it)."""
    answer = service.upload("F1", jpeg(1, size=(640, 480)))
    assert answer.status_code in (200, 201), answer.text
    photo_id = int(answer.json()["photo_id"])
    services = service.app.state.services
    sha256 = services.store.put(strip).sha256
    with session_scope(services.sessions) as session:
        session.execute(
            update(Photo)
            .where(Photo.id == photo_id)
            .values(sha256=sha256, format="png", width=width, height=height, size_bytes=len(strip))
        )
    return photo_id


@pytest.mark.parametrize(("width", "height"), [(1, 300), (12, 300), (400, 12)])
def test_a_strip_filed_before_the_aspect_limit_is_shown_and_its_heat_map_says_why_not(
    service, width, height
):
    service.create_family("F1")
    strip = _png(width, height)
    refused = service.upload("F1", strip)  # today's uploads refuse it, as they should
    assert refused.status_code == 422 and refused.json()["code"] == "image_shape", refused.text
    photo_id = _file_as_before(service, strip, width=width, height=height)
    browser = TestClient(service.app, base_url="http://127.0.0.1")
    assert sign_in(browser, "commission", PASSWORD).status_code == 303
    # Before: 422 image_shape, "take the photo again without panorama mode", for evidence on file.
    for got in (
        service.client.get(f"/photos/{photo_id}/image", headers=service.headers("commission")),
        browser.get(f"/ui/photos/{photo_id}/image"),
    ):
        assert got.status_code == 200, got.text[:300]
        assert got.headers["content-type"].startswith("image/jpeg")
        assert Image.open(io.BytesIO(got.content)).size == (width, height)
    heat = browser.get(f"/ui/photos/{photo_id}/heatmap/{SIGN}")
    assert heat.status_code == 409, heat.text[:300]
    assert "far longer than it is wide" in heat.text and "has no heat maps" in heat.text
    assert "panorama" not in heat.text and "take the photo again" not in heat.text


def test_a_strip_longer_than_a_jpeg_copy_is_named_for_the_administrator(tmp_path):
    store = storage.PhotoStore(tmp_path / "photos")
    store.prepare()
    strip = _png(70_000, 1)  # 0.07 MP: within any pixel limit, fileable before the aspect one
    sha256 = store.put(strip).sha256
    with pytest.raises(ImageShapeError) as raised:
        store.served_jpeg(sha256, max_pixels=50_000_000)  # before the limit: an OSError, a 500
    message = raised.value.message
    assert f"originals/{sha256[:2]}/{sha256}" in message and "administrator" in message
    assert "panorama" not in message and "take the photo again" not in message


def test_uploads_still_refuse_the_strip_that_stored_reads_show(tmp_path):
    strip = _png(2, 300)
    assert decode_stored("0" * 64, strip, max_pixels=50_000_000).size == (2, 300)
    with pytest.raises(ImageShapeError, match="without panorama mode"):  # outside stored reads
        decode_image(strip, max_pixels=50_000_000)
