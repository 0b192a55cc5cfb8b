"""Test data for the annotation tests: small photos, manifests and PhotoScores."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
from PIL import Image

from annotation.label_config import PhotoLabels
from shanyraq.manifest import ManifestRow, write_manifest
from shanyraq.taxonomy import Taxonomy
from vision.score import PhotoScore


def write_photo(path: Path, seed: int) -> str:
    """A small textured JPEG; returns its sha256."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 255, size=(24, 32, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    return hashlib.sha256(buffer.getvalue()).hexdigest()


def make_manifest(photos_dir: Path, manifest: Path, n: int, *, prefix: str) -> list[ManifestRow]:
    """`n` unlabelled photos under photos_dir/prefix, listed in `manifest` (relative paths)."""
    rows = []
    for i in range(n):
        photo = photos_dir / prefix / f"photo_{i}.jpg"
        sha = write_photo(photo, seed=hash((prefix, i)) % 10_000)
        rel = Path(__import__("os").path.relpath(photo, manifest.parent)).as_posix()
        rows.append(ManifestRow(rel, sha, f"fam-{prefix}-{i}", "train", None, None, None, "field"))
    write_manifest(manifest, rows)
    return rows


def score_for(
    sha256: str, labels: PhotoLabels, taxonomy: Taxonomy, *, seed: int = 0, confidence: float = 0.7
) -> PhotoScore:
    """A PhotoScore whose top answers are `labels` (model_version 'test-model-1')."""
    rooms = taxonomy.room_names
    rest = (1 - confidence) / (len(rooms) - 1)
    room = {r: confidence if r == labels.room else rest for r in rooms}
    grades = taxonomy.condition_values
    grade_rest = (1 - confidence) / (len(grades) - 1)
    target = labels.condition or 3
    condition = {g: confidence if g == target else grade_rest for g in grades}
    signs = {s: 0.9 if labels.signs and s in labels.signs else 0.1 for s in taxonomy.sign_names}
    embedding = np.random.default_rng(seed).normal(size=8).astype(np.float32)
    return PhotoScore(sha256, "test-model-1", room, condition, signs, embedding)


def unread_score(sha256: str, taxonomy: Taxonomy) -> PhotoScore:
    """What the engine gives for a photo the model gave no numbers for (an fp16 overflow, a
    broken model): every probability and embedding value NaN, abstaining."""
    nan = float("nan")
    return PhotoScore(
        sha256,
        "test-model-1",
        {r: nan for r in taxonomy.room_names},
        {g: nan for g in taxonomy.condition_values},
        {s: nan for s in taxonomy.sign_names},
        np.full(8, nan, dtype=np.float32),
        abstain=True,
        abstain_reasons=("low_confidence",),
    )
