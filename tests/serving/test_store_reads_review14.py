"""Photo routes (review 14): an original that is there but cannot be read (a folder in its
place, a disk error) answers `photo_store_damaged` naming the file and what to do, as JSON on
the API and as a page under /ui, logged once, never a traceback; and a retry replayed by its
Idempotency-Key does not count against the upload limit."""

from __future__ import annotations

import errno
import hashlib
import io
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from PIL import Image

from serving.errors import PhotoUnreadableError
from serving.storage import PhotoStore
from serving.web import heatmap_cache, heatmaps
from serving.web.i18n import load_catalogues
from shanyraq.taxonomy import get_taxonomy
from tests.serving import store_read_helpers
from tests.serving.helpers import jpeg
from tests.serving.store_read_helpers import CODE, file_one_photo, logged_once, signed_in_browser

database_url = store_read_helpers.database_url  # SQLite only


def _folder_in_place(store: PhotoStore, sha256: str) -> Path:
    """The original replaced by a folder: there, but not readable as a file."""
    path = store.path_for(sha256)
    path.unlink()
    path.mkdir()
    return path


def _disk_error(store: PhotoStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(sha256: str) -> bytes:
        raise OSError(errno.EIO, "Input/output error", str(store.path_for(sha256)))

    monkeypatch.setattr(store, "read", failing)


def _damage(store: PhotoStore, sha256: str, how: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Damage the original of `sha256` `how` ("folder" or "eio"); the system's words for it."""
    if how == "folder":
        _folder_in_place(store, sha256)
        return "Is a directory"
    _disk_error(store, monkeypatch)
    return "Input/output error"


# --- the store's readers --------------------------------------------------------------------


@pytest.mark.parametrize("how", ["folder", "eio"])
def test_a_browser_copy_of_an_unreadable_original_is_a_store_damage_error(store, how, monkeypatch):
    sha256 = store.put(jpeg(1)).sha256
    why = _damage(store, sha256, how, monkeypatch)
    with pytest.raises(PhotoUnreadableError) as caught:
        store.served_jpeg(sha256, max_pixels=10**8)
    error = caught.value
    assert error.code == CODE and error.http_status == 500
    assert f"({why}): originals/{sha256[:2]}/{sha256}" in error.message
    assert "restore that file from a backup of the photo store" in error.message
    assert str(store.root) not in error.message  # the server's folders stay on the server
    assert not store.path_for(sha256, folder=store.served).exists()


def test_a_missing_original_of_a_filed_photo_is_store_damage_not_a_missing_page(store):
    # Before: 404 not_found, which the page words as "nothing at this address in your region".
    stored = store.put(jpeg(2))
    stored.path.unlink()
    with pytest.raises(PhotoUnreadableError) as raised:
        store.served_jpeg(stored.sha256, max_pixels=10**8)
    assert raised.value.code == "photo_store_damaged"
    assert f"(missing): originals/{stored.sha256[:2]}/{stored.sha256}" in raised.value.message


def test_an_unreadable_browser_copy_is_made_again_from_the_original(store, caplog):
    sha256 = store.put(jpeg(3)).sha256
    copy = store.path_for(sha256, folder=store.served)
    copy.mkdir(parents=True)  # a folder where the cached copy should be
    with caplog.at_level(logging.WARNING, logger="serving.storage"):
        served = store.served_jpeg(sha256, max_pixels=10**8)
    assert Image.open(io.BytesIO(served)).format == "JPEG"
    assert str(copy) in caplog.text  # named for the administrator, and served all the same


@pytest.mark.parametrize("how", ["folder", "eio"])
def test_verify_says_an_unreadable_original_is_not_intact_and_logs_its_path(
    store, how, monkeypatch, caplog
):
    sha256 = store.put(jpeg(4)).sha256
    why = _damage(store, sha256, how, monkeypatch)
    with caplog.at_level(logging.WARNING, logger="serving.storage"):
        assert store.verify(sha256) is False
    records = [r for r in caplog.records if sha256 in r.getMessage()]
    assert len(records) == 1 and why in records[0].getMessage()
    assert str(store.path_for(sha256)) in records[0].getMessage()
    assert records[0].exc_info is None


# --- the routes -----------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["folder", "eio"])
def test_the_api_image_of_an_unreadable_original_is_a_clear_json_error(
    make_service, how, monkeypatch, caplog
):
    service = make_service()
    photo_id, sha256 = file_one_photo(service, 5)
    why = _damage(service.services.store, sha256, how, monkeypatch)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        answer = service.client.get(
            f"/photos/{photo_id}/image", headers=service.headers("commission")
        )
    assert answer.status_code == 500
    body = answer.json()
    assert body["code"] == CODE, body
    assert f"cannot be read from the store ({why})" in body["message"]
    assert "restore that file from a backup" in body["message"]
    assert "Traceback" not in answer.text and str(service.services.store.root) not in answer.text
    logged_once(caplog, sha256)


@pytest.mark.parametrize("lang", ["en", "ru", "kk"])
def test_the_page_image_of_an_unreadable_original_is_an_error_page_in_the_readers_words(
    make_service, lang, caplog
):
    service = make_service()
    photo_id, sha256 = file_one_photo(service, 6)
    _folder_in_place(service.services.store, sha256)
    browser = signed_in_browser(service, "commission")
    caplog.clear()
    with caplog.at_level(logging.INFO):
        page = browser.get(f"/ui/photos/{photo_id}/image?lang={lang}")
    assert page.status_code == 500 and page.headers["content-type"].startswith("text/html")
    assert load_catalogues()[lang][f"error_reason.{CODE}"] in page.text
    assert sha256 not in page.text and "Traceback" not in page.text  # internals stay in the log
    logged_once(caplog, sha256)


@pytest.mark.parametrize("how", ["folder", "eio"])
def test_the_heat_map_of_an_unreadable_original_is_an_error_page(
    make_service, how, monkeypatch, caplog
):
    service = make_service()
    photo_id, sha256 = file_one_photo(service, 7)
    _damage(service.services.store, sha256, how, monkeypatch)
    monkeypatch.setattr(heatmaps, "available", lambda services: True)  # as with model.pt
    monkeypatch.setattr(heatmaps, "explains", lambda services, photo: True)  # scored by it
    sign = get_taxonomy().sign_names[0]
    browser = signed_in_browser(service, "commission")
    caplog.clear()
    with caplog.at_level(logging.INFO):
        page = browser.get(f"/ui/photos/{photo_id}/heatmap/{sign}?lang=en")
    assert page.status_code == 500 and page.headers["content-type"].startswith("text/html")
    assert load_catalogues()["en"][f"error_reason.{CODE}"] in page.text
    assert "Traceback" not in page.text
    logged_once(caplog, sha256)
    cache = service.services.settings.data_dir / heatmap_cache.CACHE_DIR
    assert not [p for p in cache.rglob("*") if p.is_file()]  # nothing drawn, nothing cached


def test_a_cached_heat_map_that_cannot_be_read_is_drawn_again(tmp_path, monkeypatch):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "model.pt").write_bytes(b"")  # Grad-CAM itself is stubbed below
    photo = jpeg(8, size=(320, 240))
    services: Any = SimpleNamespace(
        settings=SimpleNamespace(model_dir=model_dir, data_dir=tmp_path / "data"),
        pipeline=SimpleNamespace(engine=object(), model_version="v1", decode_side=224),
        store=SimpleNamespace(read=lambda sha256: photo),
    )
    monkeypatch.setattr(
        "vision.explain.heatmap",
        lambda folder, rgb, *, head, label: np.ones(rgb.shape[:2], dtype=np.float32),
    )
    sign, sha256 = get_taxonomy().sign_names[0], hashlib.sha256(photo).hexdigest()
    path = heatmap_cache.cache_path(services, sha256=sha256, sign=sign)
    path.mkdir(parents=True)  # a folder where the PNG should be: neither read nor written
    png = heatmaps.sign_overlay(services, sha256=sha256, sign=sign)
    assert png.startswith(b"\x89PNG") and path.is_dir()


# --- the upload limit and retries -----------------------------------------------------------


def test_a_replayed_retry_does_not_count_against_the_upload_limit(make_service):
    service = make_service(rate_limits={"upload_per_minute": 2})
    service.create_family("F1")

    def upload(seed: int, key: str | None = None) -> Any:
        return service.upload("F1", jpeg(seed), headers={"Idempotency-Key": key} if key else {})

    first = upload(1, "phone-1")
    assert first.status_code == 201, first.text
    for _ in range(3):  # a phone that never heard the answer sends the same photo again
        retry = upload(1, "phone-1")
        assert (retry.status_code, retry.json()) == (201, first.json())
    assert upload(2, "phone-2").status_code == 201  # the second new upload: counted once
    refused = upload(3, "phone-3")  # the third: over the limit of 2
    assert refused.status_code == 429 and refused.json()["code"] == "rate_limited"
    assert upload(3).status_code == 429  # without a key alike
    late = upload(2, "phone-2")  # a retry at the limit still gets its stored answer
    assert late.status_code == 201 and late.json()["sha256"] == hashlib.sha256(jpeg(2)).hexdigest()
