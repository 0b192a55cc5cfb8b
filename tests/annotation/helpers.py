"""Test data for the annotation tests: small photos, manifests and PhotoScores, pools of photos
as feature vectors, the choices of a label config, and a config naming a server nobody runs."""

from __future__ import annotations

import hashlib
import io
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from annotation.label_config import PhotoLabels
from annotation.pool import NO_GRADE, PhotoPool
from shanyraq.manifest import ManifestRow, write_manifest
from shanyraq.taxonomy import Taxonomy
from vision.score import PhotoScore

from .label_studio_server_helpers import free_port


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


def feature_pool(n: int, taxonomy, *, seed: int, copies: int = 0) -> PhotoPool:
    """Photos as feature vectors: a centre per room, a grade direction, noise; some copies.

    Stands in for scored photos where a test needs a pool in milliseconds, not a model run.
    """
    rng = np.random.default_rng(seed)
    n_rooms, n_grades, n_signs = (taxonomy.head_size(h) for h in ("room", "condition", "signs"))
    dim = 12
    centres = np.random.default_rng(99).normal(0, 2.0, size=(n_rooms, dim))
    grade_axis = np.random.default_rng(98).normal(0, 1, size=dim)
    room = rng.integers(0, n_rooms, n)
    grade = rng.integers(0, n_grades, n)
    features = centres[room] + (grade - 2)[:, None] * grade_axis + rng.normal(0, 1, (n, dim))
    grade = np.where(room == taxonomy.room_names.index(taxonomy.not_dwelling), NO_GRADE, grade)
    signs = (rng.random((n, n_signs)) < 0.2).astype(int)
    hashes = rng.integers(0, 2**63, size=(n, 2), dtype=np.uint64)
    source = rng.integers(0, n, copies)
    take = np.concatenate([np.arange(n), source])
    return PhotoPool(
        features=features[take]
        + np.concatenate([np.zeros((n, dim)), rng.normal(0, 1e-3, (copies, dim))]),
        room=room[take],
        condition=grade[take],
        signs=signs[take],
        family=np.array([f"home-{i // 4}" for i in take]),
        phash=hashes[take, 0],
        dhash=hashes[take, 1],
        model_room=np.full((n + copies, n_rooms), 1 / n_rooms),
        model_condition=np.full((n + copies, n_grades), 1 / n_grades),
        model_signs=np.full((n + copies, n_signs), 0.5),
        duplicate_of=np.concatenate([np.full(n, -1), source]),
    )


def choices(config: str, name: str) -> list[ET.Element]:
    root = ET.fromstring(config)
    tag = next(e for e in root.iter("Choices") if e.get("name") == name)
    return list(tag.iter("Choice"))


def down_server_config(path, tmp_path):
    config = {
        "server": {"url": f"http://127.0.0.1:{free_port()}", "timeout_s": 2},
        "project": {"title": "Down", "document_root": str(tmp_path), "photos_folder": "photos"},
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path
