"""Heat maps: the evidence for a sign falls where the sign is; overlays are valid PNGs."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from shanyraq.taxonomy import HeadName
from tests.vision.engine_fixtures import make_artifact, room_scene
from vision.artifact import Preprocessing
from vision.explain import heatmap, overlay_png
from vision.model import ModelOutput
from vision.preprocess import to_batch

SIZE = 64
SPEC = Preprocessing(size=SIZE, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))


class TinyNet(nn.Module):
    """Three convolutions (16x16 feature map at 64 px) and the four heads of the contract."""

    def __init__(self, taxonomy) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU(inplace=True),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU(inplace=True),
            nn.Conv2d(32, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(inplace=True),
        )  # fmt: skip
        self.room = nn.Linear(32, taxonomy.head_size("room"))
        self.condition = nn.Linear(32, taxonomy.head_size("condition") - 1)
        self.signs = nn.Linear(32, taxonomy.head_size("signs"))

    def forward(self, pixels: torch.Tensor) -> ModelOutput:
        embedding = self.features(pixels).mean(dim=(2, 3))
        return ModelOutput(
            self.room(embedding), self.condition(embedding), self.signs(embedding), embedding
        )


def _sample(rng: np.random.Generator, *, with_sign: bool) -> tuple[np.ndarray, np.ndarray]:
    """A cluttered scene; with_sign adds a 'broken window' (white pane, dark cracks)."""
    image = room_scene(int(rng.integers(1 << 30)), height=SIZE, width=SIZE)
    mask = np.zeros((SIZE, SIZE), dtype=bool)
    if with_sign:
        x, y = (int(v) for v in rng.integers(2, SIZE - 16, 2))
        image[y : y + 14, x : x + 14] = 245
        cv2.line(image, (x, y), (x + 13, y + 13), (20, 20, 20), 2)
        cv2.line(image, (x + 13, y), (x, y + 13), (20, 20, 20), 2)
        mask[y : y + 14, x : x + 14] = True
    return image, mask


@pytest.fixture(scope="module")
def trained(taxonomy):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny net: more threads only contend on a shared machine
    try:
        return _train(taxonomy)
    finally:
        torch.set_num_threads(threads)


def _train(taxonomy) -> TinyNet:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    target = taxonomy.sign_names.index("broken_window")
    model = TinyNet(taxonomy)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(90):
        labels = rng.random(32) < 0.5
        images = [_sample(rng, with_sign=bool(flag))[0] for flag in labels]
        logits = model(torch.from_numpy(to_batch(images, SPEC))).signs[:, target]
        loss = nn.functional.binary_cross_entropy_with_logits(
            logits, torch.from_numpy(labels.astype(np.float32))
        )
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return model.eval()


@pytest.mark.slow
def test_sign_evidence_falls_inside_the_sign(trained, taxonomy):
    rng = np.random.default_rng(123)
    samples = [_sample(rng, with_sign=flag) for flag in [True] * 16 + [False] * 16]
    with torch.no_grad():
        batch = torch.from_numpy(to_batch([image for image, _ in samples], SPEC))
        probs = torch.sigmoid(
            trained(batch).signs[:, taxonomy.sign_names.index("broken_window")]
        ).numpy()
    assert probs[:16].min() > 0.8 and probs[16:].max() < 0.2  # it learned the sign
    inside = []
    for _ in range(8):
        image, mask = _sample(rng, with_sign=True)
        heat = heatmap(trained, image, head="signs", label="broken_window", preprocessing=SPEC)
        assert heat.shape == mask.shape and heat.min() >= 0.0 and heat.max() == pytest.approx(1.0)
        near = cv2.dilate(mask.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
        inside.append(heat[near].sum() / heat.sum())
        assert near[np.unravel_index(np.argmax(heat), heat.shape)]  # the peak is on the sign
    # The pane plus a 3 px margin covers ~10% of the photo; most of the evidence lies there.
    assert float(np.mean(inside)) > 0.6


def test_heatmap_from_an_artifact_folder_and_overlay(tmp_path, taxonomy):
    folder = make_artifact(tmp_path / "m", taxonomy, size=64)
    photo = room_scene(3, height=90, width=120)
    heat = heatmap(folder, photo, head="condition", label=2)
    assert heat.shape == (90, 120) and heat.dtype == np.float32
    assert heat.min() >= 0.0 and heat.max() <= 1.0
    again = heatmap(folder, photo, head="condition", label=2)
    np.testing.assert_array_equal(heat, again)
    png = overlay_png(photo, heat)
    decoded = np.asarray(Image.open(io.BytesIO(png)))
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and decoded.shape == (90, 120, 3)
    with pytest.raises(ValueError, match="not a room label"):
        heatmap(folder, photo, head="room", label="garage")


@pytest.mark.parametrize("policy", ["letterbox", "shorter_side_crop"])
def test_heat_maps_back_onto_the_photo_geometry(trained, policy):
    spec = SPEC.model_copy(update={"resize": policy})
    image, _ = _sample(np.random.default_rng(5), with_sign=True)
    wide = np.concatenate([image, image], axis=1)  # 64 x 128
    heat = heatmap(trained, wide, head="signs", label="broken_window", preprocessing=spec)
    assert heat.shape == (64, 128)
    if policy == "shorter_side_crop":
        assert heat[:, :32].max() == 0 and heat[:, -32:].max() == 0  # outside the crop: unseen


def test_model_without_preprocessing_refused(trained):
    with pytest.raises(ValueError, match="preprocessing"):
        heatmap(trained, np.zeros((8, 8, 3), np.uint8), head="signs", label="broken_window")


def test_concurrent_heat_maps_on_one_cached_model_are_each_callers_own(tmp_path, taxonomy):
    import threading

    folder = make_artifact(tmp_path / "m", taxonomy, size=64)
    photos = [room_scene(seed, height=70, width=90) for seed in range(4)]
    targets: list[tuple[HeadName, str | int]] = [("signs", taxonomy.sign_names[i]) for i in (0, 1)]
    targets += [("room", taxonomy.room_names[0]), ("condition", 2)]
    expected = [
        heatmap(folder, p, head=h, label=lab) for p, (h, lab) in zip(photos, targets, strict=True)
    ]
    start = threading.Barrier(len(photos))
    failures: list[str] = []

    def caller(i: int) -> None:
        head, label = targets[i]
        start.wait()
        for _ in range(6):
            try:
                got = heatmap(folder, photos[i], head=head, label=label)
            except Exception as exc:  # what used to happen: another call's hooks fired here
                failures.append(f"{i}: {type(exc).__name__}: {exc}")
                continue
            if not np.allclose(got, expected[i], atol=1e-5):
                failures.append(f"{i}: a map that is not this photo's")

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(len(photos))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert failures == []
