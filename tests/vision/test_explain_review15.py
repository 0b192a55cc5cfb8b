"""Heat-map evidence, review 15: a model that gives no finite evidence is named, never drawn as
"no evidence"; distinct model versions never share cached overlays; a rotated photo's overlay
stands as the photo is shown and carries none of its metadata."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from serving.web import heatmap_cache, heatmaps
from shanyraq.errors import ModelMismatchError
from tests.vision.engine_fixtures import make_artifact, room_scene
from vision.artifact import Preprocessing
from vision.explain import heatmap
from vision.model import ModelOutput

SPEC = Preprocessing(size=32, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))


class OneChannelNet(nn.Module):
    """One feature channel (16x16 at 32 px), pooled into the heads; `spot` puts a value (inf,
    NaN) at one place of the feature map, as an overflowing or damaged model would."""

    def __init__(self, taxonomy, *, spot: float | None = None) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 1, 3, stride=2, padding=1)
        self.spot = spot
        self.out = nn.Identity()
        self.room = nn.Linear(1, taxonomy.head_size("room"))
        self.condition = nn.Linear(1, taxonomy.head_size("condition") - 1)
        self.signs = nn.Linear(1, taxonomy.head_size("signs"))
        with torch.no_grad():
            self.conv.weight.fill_(0.1)
            self.signs.weight.fill_(1.0)  # every sign's evidence grows with the feature

    def forward(self, pixels: torch.Tensor) -> ModelOutput:
        features = torch.relu(self.conv(pixels)) + 1.0
        if self.spot is not None:
            mask = torch.zeros_like(features, dtype=torch.bool)
            mask[..., 3, 5] = True
            features = features.masked_fill(mask, self.spot)
        features = self.out(features)  # the last 4-D output of a module: Grad-CAM's map
        embedding = features.mean(dim=(2, 3))
        return ModelOutput(
            self.room(embedding), self.condition(embedding), self.signs(embedding), embedding
        )


@pytest.mark.parametrize("spot", [float("inf"), float("nan")])
def test_a_model_without_finite_evidence_is_named_not_drawn(taxonomy, spot):
    model = OneChannelNet(taxonomy, spot=spot).eval()
    photo = room_scene(1, height=40, width=50)
    sign = taxonomy.sign_names[0]
    # Before: an all-zero map ("no evidence anywhere") or NaN pixels cast to arbitrary bytes.
    with pytest.raises(ModelMismatchError, match="finite") as caught:
        heatmap(model, photo, head="signs", label=sign, preprocessing=SPEC)
    assert "\n" not in caught.value.message


def test_a_model_of_finite_evidence_still_draws_its_map(taxonomy):
    model = OneChannelNet(taxonomy).eval()
    heat = heatmap(
        model, room_scene(1, height=40, width=50), head="signs", label=taxonomy.sign_names[0],
        preprocessing=SPEC,
    )  # fmt: skip
    assert heat.shape == (40, 50) and np.isfinite(heat).all()
    assert heat.min() >= 0.0 and heat.max() == pytest.approx(1.0)


def _services(tmp_path: Path, photo: bytes, *, model_dir: Path, version: str) -> Any:
    return SimpleNamespace(
        settings=SimpleNamespace(model_dir=model_dir, data_dir=tmp_path / "data"),
        pipeline=SimpleNamespace(engine=object(), model_version=version, decode_side=64),
        store=SimpleNamespace(read=lambda sha256: photo),
    )


def test_two_model_versions_never_share_a_cached_overlay(tmp_path, make_image, monkeypatch):
    """Versions are free text in model.json; two that differ only in characters a folder
    name cannot hold must not serve each other's overlays."""
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "model.pt").write_bytes(b"")  # Grad-CAM is replaced below, per model
    drawn_by: list[float] = []

    def fake_heatmap(folder, rgb, *, head, label):
        return np.full(rgb.shape[:2], drawn_by[-1], dtype=np.float32)

    monkeypatch.setattr("vision.explain.heatmap", fake_heatmap)
    photo = make_image("JPEG", size=(96, 64))
    sha = hashlib.sha256(photo).hexdigest()  # a stored original's name is its hash
    sign = "damp_mould"
    overlays = {}
    for version, evidence in (("kitchen v1", 0.0), ("kitchen_v1", 1.0), ("kitchen/v1", 0.5)):
        drawn_by.append(evidence)
        services = _services(tmp_path, photo, model_dir=model_dir, version=version)
        overlays[version] = heatmaps.sign_overlay(services, sha256=sha, sign=sign)
        folder = heatmap_cache.cache_path(services, sha256=sha, sign=sign).parents[2]
        assert folder.parent == tmp_path / "data" / heatmap_cache.CACHE_DIR
        assert not folder.name.startswith(".") and "/" not in folder.name
    assert len(set(overlays.values())) == 3, "a version was served another version's overlay"
    # Each keeps its own: the same version asked again reads its cached overlay.
    drawn_by.append(0.25)
    again = _services(tmp_path, photo, model_dir=model_dir, version="kitchen v1")
    assert heatmaps.sign_overlay(again, sha256=sha, sign=sign) == overlays["kitchen v1"]


def test_a_plain_version_keeps_its_plain_cache_folder():
    version = "demo-mnv3-20261123-ab12cd34"
    assert heatmap_cache.version_folder(version) == version


def _rotated_jpeg_with_gps(orientation: int) -> bytes:
    image = Image.fromarray(room_scene(2, height=120, width=180))
    exif = image.getexif()
    exif[0x0112] = orientation
    exif[0x010F] = "CameraMaker"
    exif.get_ifd(0x8825)[2] = (43.0, 15.0, 0.0)  # GPS latitude
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif)
    return buffer.getvalue()


@pytest.mark.parametrize(("orientation", "size"), [(1, (180, 120)), (6, (120, 180))])
def test_a_rotated_photos_overlay_stands_as_shown_without_its_metadata(
    tmp_path, taxonomy, orientation, size
):
    folder = make_artifact(tmp_path / "m", taxonomy, size=32)
    photo = _rotated_jpeg_with_gps(orientation)
    services = _services(tmp_path, photo, model_dir=folder, version="test-0")
    sha = hashlib.sha256(photo).hexdigest()
    png = heatmaps.sign_overlay(services, sha256=sha, sign=taxonomy.sign_names[0])
    overlay = Image.open(io.BytesIO(png))
    assert overlay.size == size  # upright, as the browser copy is (vision.io)
    assert overlay.info == {} and not overlay.getexif()
    assert b"eXIf" not in png and b"CameraMaker" not in png
