"""Review 21: a photo filed under a higher io.max_pixels is still shown (its image and its heat
map) after the limit is lowered; heat maps keep explaining the model the service scores with
when another model's model.pt is copied over its own in place."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from serving import storage, stored_decode
from serving.errors import PhotoUnreadableError
from shanyraq.errors import ImageTooLargeError
from shanyraq.taxonomy import get_taxonomy
from tests.serving.helpers import PASSWORD, Service, jpeg, started
from tests.vision.engine_fixtures import make_artifact, room_scene
from tests.web.helpers import sign_in
from vision.artifact import TORCH_FILE
from vision.explain import heatmap

SIGN = "damp_mould"


@pytest.fixture(scope="module")
def kitchen_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model that calls every photo a kitchen, so its signs are read and explained."""
    return make_artifact(
        tmp_path_factory.mktemp("model"), get_taxonomy(), room_bias={"kitchen": 10.0}
    )


@pytest.fixture
def service(lower_pixel_limit: object, tmp_path: Path, kitchen_model: Path) -> Iterator[Service]:
    with started(tmp_path, model_dir=kitchen_model) as service:
        yield service


def test_a_photo_filed_under_a_higher_limit_is_still_shown_with_its_heat_map(
    service, lower_pixel_limit
):
    service.create_family("F1")
    answer = service.upload("F1", jpeg(1, size=(640, 480)))  # 0.3 MP, under the default
    assert answer.status_code in (200, 201), answer.text
    photo_id = answer.json()["photo_id"]
    lower_pixel_limit(100_000)  # lowered after the upload: 0.1 MP
    browser = TestClient(service.app, base_url="http://127.0.0.1")
    assert sign_in(browser, "commission", PASSWORD).status_code == 303
    # Before: 413 image_too_large, "send a smaller photo", for evidence already filed.
    answers = {
        "API image": service.client.get(
            f"/photos/{photo_id}/image", headers=service.headers("commission")
        ),
        "page image": browser.get(f"/ui/photos/{photo_id}/image"),
        "heat map": browser.get(f"/ui/photos/{photo_id}/heatmap/{SIGN}"),
    }
    for what, got in answers.items():
        assert got.status_code == 200, (what, got.text[:300])
        assert got.headers["content-type"].startswith("image/"), what
    # New uploads are refused at the lowered limit all the same.
    service.app.state.services.pipeline.max_pixels = 100_000
    refused = service.upload("F1", jpeg(2, size=(640, 480)))
    assert refused.status_code == 413, refused.text


def test_a_stored_photo_over_even_the_stored_limit_is_named_for_the_administrator(
    tmp_path, monkeypatch
):
    """io.stored_max_pixels (configs/shanyraq.yaml) bounds stored reads; the message names it."""
    from shanyraq.config import get_settings

    store = storage.PhotoStore(tmp_path / "photos")
    store.prepare()
    sha256 = store.put(jpeg(3, size=(640, 480))).sha256
    store.served_jpeg(sha256, max_pixels=100_000)  # under the default stored limit: shown
    monkeypatch.setenv("SHANYRAQ_IO__STORED_MAX_PIXELS", "100000")
    get_settings.cache_clear()
    try:
        assert stored_decode.stored_limit(50_000) == 100_000
        assert stored_decode.stored_limit(300_000) == 300_000  # today's limit, when larger
        store.path_for(sha256, folder=store.served).unlink()  # made again under the new limit
        with pytest.raises(ImageTooLargeError) as raised:
            store.served_jpeg(sha256, max_pixels=100_000)
    finally:
        monkeypatch.delenv("SHANYRAQ_IO__STORED_MAX_PIXELS")
        get_settings.cache_clear()
    assert "administrator can raise io.stored_max_pixels" in raised.value.message
    assert "send a smaller photo" not in raised.value.message
    assert f"originals/{sha256[:2]}/{sha256}" in raised.value.message


def test_rotten_stored_bytes_are_still_store_damage(tmp_path):
    store = storage.PhotoStore(tmp_path / "photos")
    store.prepare()
    stored = store.put(jpeg(4))
    stored.path.write_bytes(b"\x00" * 64)  # no longer a photo
    with pytest.raises(PhotoUnreadableError):
        store.served_jpeg(stored.sha256, max_pixels=10**8)


# --- heat maps of a model.pt replaced in place ----------------------------------------------


def test_a_model_pt_copied_over_in_place_does_not_change_the_heat_maps(tmp_path, caplog):
    taxonomy = get_taxonomy()
    running = make_artifact(tmp_path / "running", taxonomy, seed=0)
    other = make_artifact(tmp_path / "other", taxonomy, seed=1)
    photo = room_scene(3, height=48, width=64)
    label = taxonomy.sign_names[0]
    before = heatmap(running, photo, head="signs", label=label)
    others = heatmap(other, photo, head="signs", label=label)
    assert not np.allclose(before, others), "the two models must explain the photo apart"
    target = running / TORCH_FILE
    stat = target.stat()
    shutil.copyfile(other / TORCH_FILE, target)  # a new export copied over, no restart
    later = stat.st_mtime_ns + 2_000_000_000
    os.utime(target, ns=(later, later))
    with caplog.at_level(logging.WARNING, logger="vision.explain"):
        after = heatmap(running, photo, head="signs", label=label)
    # Before: the new model.pt was loaded, its evidence cached under the engine's old version.
    np.testing.assert_allclose(after, before)
    assert str(target) in caplog.text and "restart the service" in caplog.text
