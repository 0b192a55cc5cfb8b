"""Review 23: heat maps hash a model.pt once per file, not once per request, and still catch
one replaced (renamed over, its mtime kept); a photo's original is checked against its content
hash before it is shown or explained, so bytes replaced on disk are refused as the store's
damage (`photo_store_damaged`), never served as the photo the inspector uploaded."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from serving.db.models import AuditEntry
from serving.errors import PhotoUnreadableError
from serving.web import heatmap_cache, heatmaps
from shanyraq.taxonomy import get_taxonomy
from tests.serving.helpers import jpeg
from tests.serving.store_read_helpers import CODE, file_one_photo, logged_once, signed_in_browser
from tests.web.heatmap_model_helpers import copy_model_over, hashed_model_files
from vision import explain
from vision.artifact import TORCH_FILE
from vision.engine import Engine
from vision.explain import ModelPtChangedError

# --- 1. model.pt is hashed once per file ---------------------------------------------------------


def test_a_refused_model_pt_is_hashed_once_over_repeated_requests(
    heatmap_model_dir, heatmap_models, monkeypatch
):
    Engine.load(heatmap_model_dir)
    # Another model, before any heat map was drawn:
    copy_model_over(heatmap_models[1], heatmap_model_dir)
    hashed = hashed_model_files(monkeypatch)
    assert explain.model_pt_changed(heatmap_model_dir) is not None  # the page's check hashes it
    for _ in range(3):  # a direct URL, or `score --explain`, asks again and again
        with pytest.raises(ModelPtChangedError):
            explain.heatmap_model(heatmap_model_dir)
    assert hashed == [heatmap_model_dir / TORCH_FILE]  # before: once more for every request
    # The loaded model's bytes again: a new stat.
    copy_model_over(heatmap_models[0], heatmap_model_dir)
    explain.heatmap_model(heatmap_model_dir)  # explained now: it is the model scoring
    explain.heatmap_model(heatmap_model_dir)
    # Once for the new file, not after loading:
    assert hashed == [heatmap_model_dir / TORCH_FILE] * 2


def _renamed_over_keeping_mtime(source: Path, folder: Path, scratch: Path) -> None:
    """`source`'s model.pt renamed onto the one in `folder` with that one's mtime: only the
    inode (and perhaps the size) tells them apart."""
    target = folder / TORCH_FILE
    before = target.stat()
    incoming = scratch / "incoming.pt"
    shutil.copyfile(source / TORCH_FILE, incoming)
    os.utime(incoming, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(incoming, target)
    assert target.stat().st_mtime_ns == before.st_mtime_ns


def test_a_model_pt_renamed_over_with_its_mtime_kept_is_still_refused(
    heatmap_model_dir, heatmap_models, tmp_path
):
    Engine.load(heatmap_model_dir)
    _renamed_over_keeping_mtime(heatmap_models[1], heatmap_model_dir, tmp_path)
    assert explain.model_pt_changed(heatmap_model_dir) is not None
    with pytest.raises(ModelPtChangedError):
        explain.heatmap_model(heatmap_model_dir)


def test_a_loaded_model_pt_renamed_over_with_its_mtime_kept_is_noticed(
    heatmap_model_dir, heatmap_models, tmp_path, caplog
):
    Engine.load(heatmap_model_dir)
    loaded = explain.heatmap_model(heatmap_model_dir)
    _renamed_over_keeping_mtime(heatmap_models[1], heatmap_model_dir, tmp_path)
    with caplog.at_level(logging.WARNING, logger=explain.__name__):
        kept = explain.heatmap_model(heatmap_model_dir)
    assert kept[0] is loaded[0]  # the model scoring keeps explaining, as before
    # Before: the same mtime read as the same file, and the replacement went unlogged.
    assert "was replaced since heat maps were first drawn" in caplog.text


# --- 2. a stored original is checked against its content hash ---------------------------------


def _replace_original(service: Any, sha256: str, seed: int) -> None:
    """Another photo's bytes written in place of the original named `sha256`."""
    service.services.store.path_for(sha256).write_bytes(jpeg(seed))


def _viewed(service: Any, photo_id: int) -> list[str]:
    with service.services.sessions() as session:
        return list(
            session.execute(
                select(AuditEntry.action).where(AuditEntry.target == f"photo:{photo_id}")
            ).scalars()
        )


def test_the_api_image_of_a_replaced_original_is_refused_not_served(web, caplog):
    service = web
    photo_id, sha256 = file_one_photo(service, 11)
    _replace_original(service, sha256, 12)  # a valid photo: it decodes, it is not this one
    caplog.clear()
    with caplog.at_level(logging.INFO):
        answer = service.client.get(
            f"/photos/{photo_id}/image", headers=service.headers("commission")
        )
    assert answer.status_code == 500, answer.headers  # before: 200, another photo's pixels
    body = answer.json()
    assert body["code"] == CODE
    assert "no longer matches its content hash" in body["message"]
    assert "restore that file from a backup" in body["message"]
    assert str(service.services.store.root) not in answer.text
    logged_once(caplog, sha256)
    assert "photo_image_viewed" not in _viewed(service, photo_id)
    # Nor is a browser copy made from the wrong bytes, for a later request to serve.
    assert not service.services.store.path_for(
        sha256, folder=service.services.store.served
    ).exists()


def test_a_browser_copy_is_not_served_once_its_original_is_replaced(web):
    service = web
    photo_id, sha256 = file_one_photo(service, 13)
    browser = signed_in_browser(service, "commission")
    url = f"/ui/photos/{photo_id}/image"
    assert browser.get(url).status_code == 200  # the positive control; the copy is kept
    _replace_original(service, sha256, 14)
    page = browser.get(url)
    assert page.status_code == 500 and page.headers["content-type"].startswith("text/html")
    assert page.headers.get("content-type") != "image/jpeg"


def _stub_services(tmp_path: Path, original: bytes) -> Any:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / TORCH_FILE).write_bytes(b"")  # Grad-CAM itself is stubbed
    return SimpleNamespace(
        settings=SimpleNamespace(model_dir=folder, data_dir=tmp_path / "data"),
        pipeline=SimpleNamespace(engine=object(), model_version="v1", decode_side=None),
        store=SimpleNamespace(read=lambda sha256: original),
    )


def test_no_overlay_is_drawn_over_a_replaced_original(tmp_path, monkeypatch):
    drawn: list[tuple[int, ...]] = []

    def fake_heatmap(folder: Path, rgb: np.ndarray, *, head: str, label: str) -> np.ndarray:
        drawn.append(rgb.shape)
        return np.zeros(rgb.shape[:2], dtype=np.float32)

    monkeypatch.setattr("vision.explain.heatmap", fake_heatmap)
    monkeypatch.setattr(heatmaps, "_check_available", lambda services: None)
    services = _stub_services(tmp_path, jpeg(15))
    sign, sha256 = get_taxonomy().sign_names[0], "cd" * 32  # the bytes hash to another name
    with pytest.raises(PhotoUnreadableError) as refused:
        heatmaps.sign_overlay(services, sha256=sha256, sign=sign)
    assert refused.value.code == CODE
    assert f"originals/{sha256[:2]}/{sha256}" in refused.value.message
    assert drawn == []  # before: evidence drawn on another photo, and cached under this one
    assert not heatmap_cache.cache_path(services, sha256=sha256, sign=sign).exists()


def test_the_heat_map_route_refuses_a_replaced_original(web, tmp_path, monkeypatch, caplog):
    service = web
    photo_id, sha256 = file_one_photo(service, 16)
    _replace_original(service, sha256, 17)
    monkeypatch.setattr(service.services.settings, "model_dir", tmp_path)  # Grad-CAM: stubbed
    monkeypatch.setattr(heatmaps, "available", lambda services: True)  # as with model.pt
    monkeypatch.setattr(heatmaps, "explains", lambda services, photo: True)  # scored by it
    monkeypatch.setattr("vision.explain.heatmap", lambda *a, **k: pytest.fail("drawn"))
    sign = get_taxonomy().sign_names[0]
    caplog.clear()
    with caplog.at_level(logging.INFO):
        page = signed_in_browser(service, "commission").get(f"/ui/photos/{photo_id}/heatmap/{sign}")
    assert page.status_code == 500 and page.headers["content-type"].startswith("text/html")
    logged_once(caplog, sha256)
    assert "heatmap_viewed" not in _viewed(service, photo_id)
