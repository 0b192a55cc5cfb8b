"""The heat-map overlay's colour scale: more evidence reads as brighter (no hue needed), and a
change of scale never serves an overlay cached in the old one."""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import cv2
import numpy as np

from serving.web import heatmap_cache, heatmaps
from shanyraq.taxonomy import get_taxonomy
from vision.explain import overlay_png


def _luminance(bgr: np.ndarray) -> np.ndarray:
    linear = np.where(bgr <= 10, bgr / 255 / 12.92, ((bgr / 255 + 0.055) / 1.055) ** 2.4)
    return 0.0722 * linear[..., 0] + 0.7152 * linear[..., 1] + 0.2126 * linear[..., 2]


def test_the_overlay_grows_brighter_with_the_evidence_all_the_way():
    # Over a black photo the overlay is the scale itself, weighted by the heat: a reader who
    # cannot tell hues apart still reads more evidence as brighter (JET's dark red top end
    # is darker than its yellow middle).
    heat = np.tile(np.linspace(0.0, 1.0, 256, dtype=np.float32), (4, 1))
    png = overlay_png(np.zeros((4, 256, 3), dtype=np.uint8), heat)
    row = _luminance(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)[0].astype(float))
    assert np.all(np.diff(row) >= -1e-3), np.argmin(np.diff(row))
    assert row[-1] > 10 * row[len(row) // 4]


def _services(tmp_path: Path, photo: bytes) -> Any:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "model.pt").write_bytes(b"")  # Grad-CAM itself is stubbed below
    return SimpleNamespace(
        settings=SimpleNamespace(model_dir=model_dir, data_dir=tmp_path / "data"),
        pipeline=SimpleNamespace(engine=object(), model_version="v1", decode_side=224),
        store=SimpleNamespace(read=lambda sha256: photo),
    )


def test_an_overlay_cached_in_the_earlier_scale_is_not_served(tmp_path, make_image, monkeypatch):
    monkeypatch.setattr(
        "vision.explain.heatmap",
        lambda folder, rgb, *, head, label: np.ones(rgb.shape[:2], dtype=np.float32),
    )
    photo = make_image("JPEG", size=(320, 240))
    services = _services(tmp_path, photo)
    sign, sha256 = get_taxonomy().sign_names[0], hashlib.sha256(photo).hexdigest()
    # Where the overlays of this model version were cached before the scale was in the key.
    earlier = services.settings.data_dir / "heatmaps" / "v1" / sha256[:2] / f"{sha256}-{sign}.png"
    earlier.parent.mkdir(parents=True)
    earlier.write_bytes(b"an overlay in the earlier colours")
    png = heatmaps.sign_overlay(services, sha256=sha256, sign=sign)
    assert png.startswith(b"\x89PNG")  # drawn anew in the current scale
    assert heatmap_cache.cache_path(services, sha256=sha256, sign=sign).read_bytes() == png
    assert heatmaps.sign_overlay(services, sha256=sha256, sign=sign) == png  # then cached
