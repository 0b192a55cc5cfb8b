"""Two requests that render the same heat map at once both answer with it, and the cache
keeps one whole PNG and no temporary file (its writer is shanyraq.atomic.atomic_file)."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from serving.web import heatmap_cache, heatmaps
from shanyraq.taxonomy import get_taxonomy


def test_two_requests_rendering_one_map_at_once_leave_one_whole_cached_png(
    tmp_path: Path, make_image, monkeypatch
):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "model.pt").write_bytes(b"")  # Grad-CAM itself is stubbed below
    photo = make_image("JPEG", size=(640, 480))
    services: Any = SimpleNamespace(
        settings=SimpleNamespace(model_dir=model_dir, data_dir=tmp_path / "data"),
        pipeline=SimpleNamespace(engine=object(), model_version="v1", decode_side=320),
        store=SimpleNamespace(read=lambda sha256: photo),
    )
    both_rendering = threading.Barrier(2, timeout=60)

    def fake_heatmap(folder, rgb, *, head, label):
        both_rendering.wait()  # neither has cached the map yet: both will write it
        return np.linspace(0, 1, rgb.shape[0] * rgb.shape[1], dtype=np.float32).reshape(
            rgb.shape[:2]
        )

    monkeypatch.setattr("vision.explain.heatmap", fake_heatmap)
    sign, sha256 = get_taxonomy().sign_names[0], hashlib.sha256(photo).hexdigest()
    answers: list[bytes] = []

    def request() -> None:
        answers.append(heatmaps.sign_overlay(services, sha256=sha256, sign=sign))

    threads = [threading.Thread(target=request) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 2 and answers[0] == answers[1]
    cached = heatmap_cache.cache_path(services, sha256=sha256, sign=sign)
    assert cached.read_bytes() == answers[0]
    assert [p.name for p in cached.parent.iterdir()] == [cached.name]


def test_cached_overlays_are_private_as_the_photos_are(tmp_path: Path, make_image, monkeypatch):
    """An overlay shows a family's home: the cache's folders are 0700 and its PNGs 0600, so
    they stay private even in a data folder an operator left open (the photos' own rule)."""
    import os
    import stat

    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "model.pt").write_bytes(b"")
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    photo = make_image("JPEG", size=(320, 240))
    services: Any = SimpleNamespace(
        settings=SimpleNamespace(model_dir=model_dir, data_dir=data_dir),
        pipeline=SimpleNamespace(engine=object(), model_version="v1", decode_side=320),
        store=SimpleNamespace(read=lambda sha256: photo),
    )
    monkeypatch.setattr(
        "vision.explain.heatmap",
        lambda folder, rgb, *, head, label: np.zeros(rgb.shape[:2], np.float32),
    )
    old_umask = os.umask(0o022)
    try:
        sign, sha256 = get_taxonomy().sign_names[0], hashlib.sha256(photo).hexdigest()
        heatmaps.sign_overlay(services, sha256=sha256, sign=sign)
    finally:
        os.umask(old_umask)
    cached = heatmap_cache.cache_path(services, sha256=sha256, sign=sign)
    assert stat.S_IMODE(cached.stat().st_mode) == 0o600
    folder = cached.parent
    while folder != data_dir:
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
        folder = folder.parent
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o755  # the operator's choice, kept
