"""The active-learning experiment's photo pool: synthetic photos scored by a model, cached.

`build_pool` renders photos with training.synth (one seed = one set of homes, so two seeds
never share a family), optionally adds edited near-copies of some of them (re-encoded,
cropped, relit: the bursts an inspector takes of one room), scores every photo with a model
artifact through vision.engine and hashes it with vision.hashing. What the experiment needs
(embedding, model probabilities, hashes, labels) is kept in one .npz per (seed, size, model,
and what the model is run with: execution provider, fp16), so a learning curve re-reads
numbers instead of pixels.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from shanyraq.atomic import atomic_file
from shanyraq.errors import ModelMismatchError
from shanyraq.manifest import ManifestRow
from shanyraq.taxonomy import Taxonomy
from vision.score import PhotoScore

if TYPE_CHECKING:
    from vision.engine import Engine

logger = logging.getLogger(__name__)

NO_GRADE = -1  # condition label of a not_dwelling photo, which has none


@dataclass(frozen=True)
class PhotoPool:
    """N photos: what a model says about them, and their true labels (index per head)."""

    features: np.ndarray  # (N, D) the model's embedding
    room: np.ndarray  # (N,) room index
    condition: np.ndarray  # (N,) grade index 0..K-1, NO_GRADE when the photo is not a home
    signs: np.ndarray  # (N, S) 0/1
    family: np.ndarray  # (N,) home id, as text
    phash: np.ndarray  # (N,) uint64
    dhash: np.ndarray  # (N,) uint64
    model_room: np.ndarray  # (N, R) the scoring model's calibrated probabilities
    model_condition: np.ndarray  # (N, K)
    model_signs: np.ndarray  # (N, S)
    duplicate_of: np.ndarray  # (N,) index of the photo this one is an edited copy of, or -1

    def __len__(self) -> int:
        return len(self.room)

    def subset(self, idx: np.ndarray) -> PhotoPool:
        return PhotoPool(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    def save(self, path: Path) -> Path:
        # numpy adds .npz to a path that lacks it, so it writes to the open temporary file
        with atomic_file(path) as tmp, tmp.open("wb") as handle:
            np.savez_compressed(handle, **{f.name: getattr(self, f.name) for f in fields(self)})
        return path

    @classmethod
    def load(cls, path: Path) -> PhotoPool:
        with np.load(path, allow_pickle=False) as data:
            return cls(**{f.name: data[f.name] for f in fields(cls)})


def _label_arrays(
    rows: list[ManifestRow], taxonomy: Taxonomy
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rooms, grades, signs = taxonomy.room_names, taxonomy.condition_values, taxonomy.sign_names
    room = np.array([rooms.index(r.room or "") for r in rows])
    condition = np.array(
        [NO_GRADE if r.condition is None else grades.index(r.condition) for r in rows]
    )
    sign = np.array([[int(s in (r.signs or ())) for s in signs] for r in rows])
    family = np.array([r.family_id for r in rows])
    return room, condition, sign, family


def _edited_copy(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Another shot of the same view: a few % cropped, relit, re-encoded as JPEG."""
    import cv2

    from training.synth.photos import encode_jpeg

    h, w = image.shape[:2]
    crop = rng.uniform(0.0, 0.04)
    top, left = int(rng.uniform(0, crop) * h), int(rng.uniform(0, crop) * w)
    cropped = image[top : h - int(crop * h) + top, left : w - int(crop * w) + left]
    resized = cv2.resize(cropped, (w, h), interpolation=cv2.INTER_AREA)
    relit = np.clip(resized.astype(np.float32) * rng.uniform(0.85, 1.15), 0, 255)
    data = encode_jpeg(relit.astype(np.uint8), int(rng.integers(60, 90)))
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if decoded is None:
        raise RuntimeError("an edited copy could not be decoded again")
    return np.ascontiguousarray(decoded[..., ::-1])


def _load_engine(model_dir: Path, taxonomy: Taxonomy) -> Engine:
    """The engine the pool is scored with: providers and threads from configs/engine.yaml, as
    annotation pre-scoring takes them; scoring is the only work while the pool is built
    (`alone`)."""
    from vision.engine import Engine

    return Engine.load(model_dir, taxonomy=taxonomy, alone=True)


def _score_images(
    images: list[np.ndarray], model_dir: Path, taxonomy: Taxonomy, engine: Engine | None = None
) -> list[PhotoScore]:
    """`images` scored by `engine` (`_load_engine`'s when None)."""
    if engine is None:
        engine = _load_engine(model_dir, taxonomy)
    return engine.score(images, sha256s=[str(i) for i in range(len(images))])


def _scoring_key(engine: Engine, model_dir: Path) -> str:
    """What the engine's numbers depend on besides the model version (vision.score_identity:
    provider, fp16 on a GPU, model.json's scoring fields, the graph's bytes), in the cache's
    name: a pool scored on a GPU in fp16 is not read as the CPU's, nor the other way."""
    from vision.score_identity import scoring_digest

    return scoring_digest(engine, model_dir)


def _generation_key(n: int, *, seed: int, size: int, taxonomy: Taxonomy) -> str:
    """A short fingerprint of what the photos are rendered from: the synth config and the
    taxonomy beside n, seed and size. Kept in the cache's and the photos' folder names, so a
    pool cached before configs/ changed is not read as this one's."""
    import hashlib
    import json

    from training.synth.config import get_synth_config
    from training.synth.output import generation

    record = generation(
        "photos", config=get_synth_config(), taxonomy=taxonomy, n=n, seed=seed, size=size
    )
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:12]


def _check_scored(pool: PhotoPool, *, model_version: str, cache: Path | None = None) -> None:
    """Refuse a pool with a photo the model gave no numbers for (NaN: an fp16 overflow, a
    broken export): its embedding has no place among the others, and NaN spread through the
    experiment's standardised features would make every score it reports meaningless."""
    arrays = (pool.features, pool.model_room, pool.model_condition, pool.model_signs)
    unscored = np.flatnonzero(
        ~np.all([np.isfinite(a.reshape(len(pool), -1)).all(axis=1) for a in arrays], axis=0)
    )
    if unscored.size == 0:
        return
    where = f" (cached in {cache}; delete it to score the pool again)" if cache else ""
    raise ModelMismatchError(
        f"model {model_version} gave no numbers (NaN) for {unscored.size} of {len(pool)} pool "
        f"photos, e.g. photo {int(unscored[0])}{where}; the experiment needs every photo "
        "scored: check the model with `shanyraq score`, or export it again"
    )


def build_pool(
    n: int,
    *,
    seed: int,
    model_dir: Path,
    work_dir: Path,
    taxonomy: Taxonomy,
    size: int = 128,
    duplicate_share: float = 0.0,
) -> PhotoPool:
    """Render `n` photos (plus edited copies), score and hash them; cached in `work_dir`,
    under a name that carries what the scores depend on (`_scoring_key`)."""
    engine = _load_engine(model_dir, taxonomy)
    version = engine.model_version
    key = _generation_key(n, seed=seed, size=size, taxonomy=taxonomy)
    name = f"n{n}-s{seed}-{size}px"
    scoring = _scoring_key(engine, model_dir)
    cache = work_dir / f"pool-{version}-{name}-dup{duplicate_share:g}-{key}-{scoring}.npz"
    if cache.exists():
        pool = PhotoPool.load(cache)
        _check_scored(pool, model_version=version, cache=cache)
        return pool
    pool = _render_and_score(
        n,
        seed=seed,
        size=size,
        photos_dir=work_dir / f"photos-{name}-{key}",
        model_dir=model_dir,
        taxonomy=taxonomy,
        duplicate_share=duplicate_share,
        engine=engine,
    )
    _check_scored(pool, model_version=version)
    copies = int((pool.duplicate_of >= 0).sum())
    logger.info("pool of %d photos (%d edited copies) cached in %s", len(pool), copies, cache)
    pool.save(cache)
    return pool


def _render_and_score(
    n: int,
    *,
    seed: int,
    size: int,
    photos_dir: Path,
    model_dir: Path,
    taxonomy: Taxonomy,
    duplicate_share: float,
    engine: Engine,
) -> PhotoPool:
    from shanyraq.config import get_settings
    from shanyraq.manifest import read_manifest
    from training.synth.config import get_synth_config
    from training.synth.photos import generate_photos
    from vision.hashing import perceptual_hash
    from vision.io import decode_file

    synth = get_synth_config()
    one_worker = synth.photos.model_copy(update={"workers": 1})
    manifest_path = generate_photos(
        n,
        photos_dir,
        seed=seed,
        size=size,
        config=synth.model_copy(update={"photos": one_worker}),
    )
    manifest = read_manifest(manifest_path)
    rows = list(manifest)
    max_pixels = get_settings().io.max_pixels
    images = [decode_file(r.resolve(manifest.root), max_pixels=max_pixels).pixels for r in rows]
    rng = np.random.default_rng([seed, 0xD0B])
    sources = rng.choice(n, size=round(n * duplicate_share), replace=True)
    images += [_edited_copy(images[int(i)], rng) for i in sources]
    rows += [rows[int(i)] for i in sources]
    scores = _score_images(images, model_dir, taxonomy, engine)
    hashes = [perceptual_hash(image) for image in images]
    room, condition, signs, family = _label_arrays(rows, taxonomy)
    return PhotoPool(
        features=np.stack([s.embedding for s in scores]).astype(np.float32),
        room=room,
        condition=condition,
        signs=signs,
        family=family,
        phash=np.array([h.phash for h in hashes], dtype=np.uint64),
        dhash=np.array([h.dhash for h in hashes], dtype=np.uint64),
        model_room=np.array([list(s.room.values()) for s in scores]),
        model_condition=np.array([list(s.condition.values()) for s in scores]),
        model_signs=np.array([list(s.signs.values()) for s in scores]),
        duplicate_of=np.concatenate([np.full(n, -1), sources]).astype(np.int64),
    )
