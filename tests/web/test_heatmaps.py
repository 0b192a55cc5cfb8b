"""serving.web.heatmaps without a browser: which pixels the evidence is computed on."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
from PIL import Image

from serving.web import heatmap_cache, heatmaps
from shanyraq.taxonomy import get_taxonomy


def _services(tmp_path: Path, photo: bytes, *, decode_side: int) -> SimpleNamespace:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "model.pt").write_bytes(b"")  # Grad-CAM itself is stubbed below
    return SimpleNamespace(
        settings=SimpleNamespace(model_dir=model_dir, data_dir=tmp_path / "data"),
        pipeline=SimpleNamespace(engine=object(), model_version="v1", decode_side=decode_side),
        store=SimpleNamespace(read=lambda sha256: photo),
    )


def test_evidence_is_computed_at_the_upload_decode_size_not_512(tmp_path, make_image, monkeypatch):
    # A model with a 640 px input: the upload decodes this photo at 1/2 scale (1024 px), as
    # the JPEG draft stays at or above 640. At 512 it would have had 1/4 scale (512 px), a
    # smaller picture than the one the photo was scored on.
    photo = make_image("JPEG", size=(2730, 2048))
    seen: list[tuple[int, ...]] = []

    def fake_heatmap(folder, rgb, *, head, label):
        seen.append(rgb.shape)
        return np.linspace(0, 1, rgb.shape[0] * rgb.shape[1], dtype=np.float32).reshape(
            rgb.shape[:2]
        )

    monkeypatch.setattr("vision.explain.heatmap", fake_heatmap)
    services: Any = _services(tmp_path, photo, decode_side=640)
    sign, sha256 = get_taxonomy().sign_names[0], hashlib.sha256(photo).hexdigest()
    png = heatmaps.sign_overlay(services, sha256=sha256, sign=sign)
    assert seen == [(1024, 1365, 3)]
    overlay = Image.open(io.BytesIO(png))
    assert min(overlay.size) == heatmaps.OVERLAY_SHORT_SIDE_PX  # only the overlay is shrunk
    assert heatmap_cache.cache_path(services, sha256=sha256, sign=sign).read_bytes() == png
