"""Stored copies are checked when read: a photo's view reads its original once, and
checks it on every view; a saved browser copy or heat-map overlay damaged, replaced, or saved
before copies were checked is made again from the checked original, never served as it is;
the image route's OpenAPI names the errors it answers."""

from __future__ import annotations

import hashlib
import io
import logging
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from PIL import Image

from serving.errors import PhotoUnreadableError
from serving.web import heatmap_cache, heatmaps
from shanyraq.taxonomy import get_taxonomy
from tests.serving import store_read_helpers
from tests.serving.helpers import jpeg

database_url = store_read_helpers.database_url  # SQLite only: overrides the folder's

CODE = "photo_store_damaged"
MAX_PIXELS = 10**8


def _reads(store: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The originals `store` reads from now on, one entry a read."""
    read, seen = store.read, []

    def counted(sha256: str) -> bytes:
        seen.append(sha256)
        return bytes(read(sha256))

    monkeypatch.setattr(store, "read", counted)
    return seen


# --- 1. one read of the original a view, on every view ----------------------------------------


def test_a_view_reads_the_original_once_and_checks_it_on_every_view(make_service, monkeypatch):
    service = make_service()
    service.create_family("F1")
    filed = service.upload("F1", jpeg(1)).json()
    reads = _reads(service.services.store, monkeypatch)
    url, headers = f"/photos/{filed['photo_id']}/image", service.headers("commission")
    first = service.client.get(url, headers=headers)
    assert first.status_code == 200 and first.headers["content-type"] == "image/jpeg"
    assert reads == [filed["sha256"]]  # before: two, a check and then the copy's making
    second = service.client.get(url, headers=headers)
    assert second.content == first.content  # the saved copy
    assert reads == [filed["sha256"]] * 2  # still checked when the copy is saved


def test_the_store_refuses_a_saved_copy_once_its_original_is_replaced(store):
    sha256 = store.put(jpeg(2)).sha256
    store.served_jpeg(sha256, max_pixels=MAX_PIXELS)  # the copy is saved
    store.path_for(sha256).write_bytes(jpeg(3))  # a photo, not this one
    with pytest.raises(PhotoUnreadableError) as refused:  # before: the saved copy, served
        store.served_jpeg(sha256, max_pixels=MAX_PIXELS)
    assert refused.value.code == CODE
    assert "no longer matches its content hash" in refused.value.message


# --- 2a. saved browser copies -------------------------------------------------------------


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _cut_short(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-100])


def _as_earlier_releases_saved(path: Path) -> None:
    """A plain JPEG, as copies were saved before they were checked (here another photo)."""
    path.write_bytes(jpeg(4))


@pytest.mark.parametrize("damage", [_flip_a_byte, _cut_short, _as_earlier_releases_saved])
def test_a_damaged_browser_copy_is_made_again_not_served(store, damage, caplog):
    sha256 = store.put(jpeg(5)).sha256
    made = store.served_jpeg(sha256, max_pixels=MAX_PIXELS)
    copy = store.path_for(sha256, folder=store.served)
    damage(copy)
    with caplog.at_level(logging.WARNING, logger="serving.storage"):
        served = store.served_jpeg(sha256, max_pixels=MAX_PIXELS)
    assert served == made  # before: the damaged or other bytes, as they were on disk
    assert Image.open(io.BytesIO(served)).format == "JPEG"
    assert str(copy) in caplog.text and "made again" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="serving.storage"):
        assert store.served_jpeg(sha256, max_pixels=MAX_PIXELS) == made  # saved again, whole
    assert caplog.text == ""


def test_another_photos_copy_put_in_place_is_not_served(store):
    mine, other = store.put(jpeg(6)).sha256, store.put(jpeg(7)).sha256
    made = store.served_jpeg(mine, max_pixels=MAX_PIXELS)
    others = store.served_jpeg(other, max_pixels=MAX_PIXELS)
    shutil.copyfile(
        store.path_for(other, folder=store.served), store.path_for(mine, folder=store.served)
    )  # a whole copy, saved as checked copies are: only its original's name tells it apart
    assert store.served_jpeg(mine, max_pixels=MAX_PIXELS) == made != others


# --- 2b. cached heat-map overlays -----------------------------------------------------------


class _Drawn:
    """Grad-CAM, stubbed: a different heat for each sign; counts what it draws."""

    def __init__(self) -> None:
        self.labels: list[str] = []

    def __call__(self, folder: Path, rgb: np.ndarray, *, head: str, label: str) -> np.ndarray:
        self.labels.append(label)
        heat = np.tile(np.linspace(0, 1, rgb.shape[1], dtype=np.float32), (rgb.shape[0], 1))
        return heat if label == get_taxonomy().sign_names[0] else 1 - heat


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> _Drawn:
    stub = _Drawn()
    monkeypatch.setattr("vision.explain.heatmap", stub)
    monkeypatch.setattr(heatmaps, "_check_available", lambda services: None)
    return stub


def _services(tmp_path: Path, original: bytes) -> Any:
    """Services as sign_overlay uses them; `store.original` is what the store holds."""
    folder = tmp_path / "model"
    folder.mkdir()
    store = SimpleNamespace(original=original)
    store.read = lambda sha256: store.original
    return SimpleNamespace(
        settings=SimpleNamespace(model_dir=folder, data_dir=tmp_path / "data"),
        pipeline=SimpleNamespace(engine=object(), model_version="v1", decode_side=None),
        store=store,
    )


def _overlay(services: Any, sha256: str, sign: str) -> bytes:
    return heatmaps.sign_overlay(services, sha256=sha256, sign=sign)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_cached_overlay_is_served_as_cached_and_is_a_png(tmp_path, drawn):
    photo = jpeg(8)
    services, sign = _services(tmp_path, photo), get_taxonomy().sign_names[0]
    png = _overlay(services, _sha(photo), sign)
    assert Image.open(io.BytesIO(png)).format == "PNG"  # the digest's chunk keeps it a PNG
    assert _overlay(services, _sha(photo), sign) == png
    assert drawn.labels == [sign]  # the positive control: drawn once, then read


@pytest.mark.parametrize("damage", [_flip_a_byte, _cut_short])
def test_a_damaged_cached_overlay_is_drawn_again_not_served(tmp_path, drawn, damage, caplog):
    photo = jpeg(9)
    services, sign = _services(tmp_path, photo), get_taxonomy().sign_names[0]
    png = _overlay(services, _sha(photo), sign)
    cached = heatmap_cache.cache_path(services, sha256=_sha(photo), sign=sign)
    damage(cached)
    with caplog.at_level(logging.WARNING, logger=heatmaps.__name__):
        again = _overlay(services, _sha(photo), sign)
    assert drawn.labels == [sign, sign]  # before: the damaged bytes, served as they were
    assert Image.open(io.BytesIO(again)).format == "PNG"
    assert cached.read_bytes() == again
    assert str(cached) in caplog.text and "drawn again" in caplog.text
    assert again == png  # the same overlay, whole again


def test_another_overlay_put_in_place_is_drawn_again(tmp_path, drawn):
    photo = jpeg(10)
    services = _services(tmp_path, photo)
    mine, other = get_taxonomy().sign_names[:2]
    _overlay(services, _sha(photo), mine)
    others = _overlay(services, _sha(photo), other)
    heatmap_cache.cache_path(services, sha256=_sha(photo), sign=mine).write_bytes(others)
    assert _overlay(services, _sha(photo), mine) != others  # before: the other sign's map
    assert drawn.labels == [mine, other, mine]


def test_an_overlay_cached_before_overlays_were_checked_is_drawn_again(tmp_path, drawn):
    from vision.explain import overlay_png

    photo = jpeg(11)
    services, sign = _services(tmp_path, photo), get_taxonomy().sign_names[0]
    cached = heatmap_cache.cache_path(services, sha256=_sha(photo), sign=sign)
    cached.parent.mkdir(parents=True)
    earlier = overlay_png(np.zeros((48, 64, 3), np.uint8), np.zeros((48, 64), np.float32))
    cached.write_bytes(earlier)  # a whole PNG, as earlier releases cached them: no digest
    png = _overlay(services, _sha(photo), sign)
    assert png != earlier and drawn.labels == [sign]  # before: served unchecked, never drawn
    assert cached.read_bytes() == png


def test_a_damaged_overlay_is_not_drawn_again_over_a_replaced_original(tmp_path, drawn):
    photo = jpeg(12)
    services, sign = _services(tmp_path, photo), get_taxonomy().sign_names[0]
    _overlay(services, _sha(photo), sign)
    cached = heatmap_cache.cache_path(services, sha256=_sha(photo), sign=sign)
    _flip_a_byte(cached)
    services.store.original = jpeg(13)  # the original replaced on disk too
    with pytest.raises(PhotoUnreadableError) as refused:
        _overlay(services, _sha(photo), sign)
    assert refused.value.code == CODE and drawn.labels == [sign]


def test_a_cached_overlay_is_not_served_once_its_original_is_replaced(tmp_path, drawn):
    photo = jpeg(14)
    services, sign = _services(tmp_path, photo), get_taxonomy().sign_names[0]
    _overlay(services, _sha(photo), sign)  # cached, whole
    services.store.original = jpeg(15)  # the original replaced on disk
    with pytest.raises(PhotoUnreadableError) as refused:  # before: the cached overlay, 200
        _overlay(services, _sha(photo), sign)
    assert refused.value.code == CODE and drawn.labels == [sign]


# --- 3. the OpenAPI names what the routes answer ------------------------------------------


def test_the_image_route_documents_the_errors_it_answers(make_service):
    service = make_service()
    spec = service.client.get("/openapi.json").json()
    image = spec["paths"]["/photos/{photo_id}/image"]["get"]["responses"]
    upload = spec["paths"]["/families/{family_id}/photos"]["post"]["responses"]
    error_body = {"$ref": "#/components/schemas/ErrorBody"}
    for documented in (image["500"], image["413"], upload["500"]):  # before: none of them
        assert documented["content"]["application/json"]["schema"] == error_body
    service.create_family("F1")
    filed = service.upload("F1", jpeg(14)).json()
    service.services.store.path_for(filed["sha256"]).write_bytes(jpeg(15))
    answer = service.client.get(
        f"/photos/{filed['photo_id']}/image", headers=service.headers("commission")
    )
    assert answer.json()["code"] == CODE and str(answer.status_code) in image
