"""The real-score study's cache: each rendered photo's engine score, quality verdict and reuse
hashes, kept in one .npz per setting so a rerun scores only new photos.

The file name is a digest of everything that changes a cached photo: the cache format, the
vision model and what the engine scores it with (the ONNX Runtime and OpenCV versions, the
execution provider the session runs on, fp16 where a GPU provider uses it, the graph file's
bytes where the model folder is given, and model.json's preprocessing, calibration and labels),
the family data (n, seed), the render size, the JPEG decode side where it shrinks the render,
the versions of the libraries that decode the JPEG (Pillow and its libjpeg), the generator's and
the quality gate's settings, the abstain thresholds and the reuse hash crops; not what leaves
the numbers as they are (thread counts, batching, logging), nor the reuse check's radii and
verification (the reuse flags are raised from the cached hashes on every run, never cached).
A file made before a setting joined the key has another name: it is not read, the photos are
scored again. Embeddings are not kept (the study needs none). So every score in a file was
made on the provider now in use.

A save adds its photos to the file as it is on disk then, holding a lock on the cache folder
(flock; no lock file is left), so runs sharing a cache (evaluate-real and train-engine on the
same data) keep each other's scores; the file is replaced whole (shanyraq.atomic): a run
stopped or failing while it saves keeps the scores saved before.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from shanyraq.atomic import atomic_file
from vision.score import PhotoScore
from vision.score_identity import scoring_identity
from welfare.real_scores import RealPhoto, study_quality

try:
    import fcntl
except ImportError:  # not POSIX: saves are not kept apart (each still replaces the file whole)
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from vision.engine import Engine
    from welfare.real_families import HeldOut

log = logging.getLogger(__name__)

# 2: the hash column holds the reuse hashes (full and central crops), not the full hash alone.
CACHE_VERSION = 2
_SEP = "|"
# flock where the file system has no locks (some network mounts): the save goes on unlocked.
_NO_LOCKS = frozenset({errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL})


# What of configs/engine.yaml `hashing` decides a study photo's reuse flag (vision.hashing
# `candidates`, `same_photo`) besides the crops; the cache sizes decide none.
REUSE_FIELDS = {"reuse_radius", "candidate_radius", "max_candidates", "verification"}
# Settings that change no cached column (the reuse flags are raised anew on every run).
NOT_CACHED = ("reuse",)


def score_settings(engine: Engine, *, size: int, model_dir: Path | None) -> dict[str, Any]:
    """What a photo's score and reuse flag are made with, its family data aside: the vision
    model, what the engine scores it with (vision.score_identity), the render size, the
    generator's settings, the versions of the libraries decoding the JPEG (`decoder_versions`),
    the quality gate, the abstain thresholds, the reuse hash crops and check (`REUSE_FIELDS`)
    and the JPEG decode side where it shrinks the render. The cache's key (but `NOT_CACHED`),
    and what an engine-trained model records of the scores it learned from
    (welfare.real_scoring_check.check_scoring)."""
    from training.synth.config import get_synth_config

    settings = {
        "model": engine.model_version,
        "scoring": scoring_identity(engine, model_dir),
        "size": size,
        "synth": get_synth_config().model_dump(mode="json"),
        "decoders": decoder_versions(),
        "quality": study_quality(engine, size).model_dump(mode="json"),
        "abstain": engine.config.abstain.model_dump(mode="json"),
        "crops": list(engine.config.hashing.crop_fractions),
        "reuse": engine.config.hashing.model_dump(mode="json", include=REUSE_FIELDS),
    }
    side = engine.config.decode_side_for(engine.artifact.preprocessing.size)
    if size >= 2 * side:
        # JPEG decoding shrinks a render at least twice the decode side (1/2, 1/4, 1/8), so
        # the side changes the pixels; a smaller render is decoded whole (key left out, so
        # the caches of such renders keep their names).
        settings["decode_side"] = side
    return settings


def decoder_versions() -> dict[str, str | None]:
    """The libraries that turn the study's JPEG renders into the pixels scored, gated and hashed
    (vision.io.decode_image): Pillow and the libjpeg it was built with (a system Pillow may link
    another than its wheel's). pillow-heif decodes only HEIC, which the study never makes."""
    import PIL
    from PIL import features

    return {"pillow": PIL.__version__, "libjpeg": features.version("jpg")}


class ScoreCache:
    """Per-photo scores in one .npz; the file name carries everything that changes them.

    `model_dir`: the vision artifact's folder the engine was loaded from, so the bytes of the
    graph it runs are in the name (a model exported again under the same version, or its fp16
    copy replaced, then gets scores of its own); without it the version stands for them.
    """

    def __init__(
        self,
        folder: Path,
        *,
        engine: Engine,
        held: HeldOut,
        size: int,
        model_dir: Path | None = None,
    ) -> None:
        settings = score_settings(engine, size=size, model_dir=model_dir)
        fingerprint = {
            "cache": CACHE_VERSION,
            "data": [held.n, held.seed],
            **{k: v for k, v in settings.items() if k not in NOT_CACHED},
        }
        digest = hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()
        self.path = Path(folder) / f"scores-{digest[:16]}.npz"
        self.labels = engine.artifact.labels

    def load(self) -> dict[str, RealPhoto]:
        if not self.path.exists():
            return {}
        with np.load(self.path, allow_pickle=False) as data:
            columns = {k: data[k] for k in data.files}
        lab = self.labels
        out = {}
        for i, key in enumerate(columns["key"].tolist()):
            abstain = _split(str(columns["abstain"][i]))
            score = PhotoScore(
                photo_sha256=str(columns["sha256"][i]),
                model_version=str(columns["model_version"][i]),
                room=dict(zip(lab.room, map(float, columns["room"][i]), strict=True)),
                condition=dict(
                    zip(lab.condition, map(float, columns["condition"][i]), strict=True)
                ),
                signs=dict(zip(lab.signs, map(float, columns["signs"][i]), strict=True)),
                embedding=np.zeros(0, dtype=np.float32),
                abstain=bool(abstain),
                abstain_reasons=abstain,
            )
            status, reasons = str(columns["quality"][i]), _split(str(columns["reasons"][i]))
            out[key] = RealPhoto(key, score, status, reasons, str(columns["hash"][i]))
        return out

    def save(self, photos: dict[str, RealPhoto]) -> None:
        """Add `photos` to the file: under the folder's lock, the file is read again and written
        whole with them, so photos another run saved since this one loaded the file are kept."""
        with _locked(self.path.parent):
            self._write({**self.load(), **photos})

    def _write(self, photos: dict[str, RealPhoto]) -> None:
        rows = list(photos.values())
        lab = self.labels
        # numpy adds .npz to a path that lacks it, so it writes to the open temporary file.
        with atomic_file(self.path) as tmp, tmp.open("wb") as handle:
            np.savez_compressed(
                handle,
                key=np.array([r.key for r in rows]),
                sha256=np.array([r.score.photo_sha256 for r in rows]),
                model_version=np.array([r.score.model_version for r in rows]),
                room=np.array([[r.score.room[k] for k in lab.room] for r in rows], np.float32),
                condition=np.array(
                    [[r.score.condition[k] for k in lab.condition] for r in rows], np.float32
                ),
                signs=np.array([[r.score.signs[k] for k in lab.signs] for r in rows], np.float32),
                abstain=np.array([_SEP.join(r.score.abstain_reasons) for r in rows]),
                quality=np.array([r.quality_status for r in rows]),
                reasons=np.array([_SEP.join(r.quality_reasons) for r in rows]),
                hash=np.array([r.photo_hash for r in rows]),
            )


def _split(text: str) -> tuple[str, ...]:
    return tuple(t for t in text.split(_SEP) if t)


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on `folder` (made when missing), waiting for another save's."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = _lock(folder) if fcntl is not None else None
    try:
        yield
    finally:
        if fd is not None:
            os.close(fd)  # releases the lock


def _lock(folder: Path) -> int | None:
    """A descriptor holding `folder`'s lock, or None where it cannot be had (saves then go on
    unlocked, each still replacing the file whole)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except PermissionError:  # a folder this process may write in but not open (mode -wx)
        log.info("%s cannot be opened to lock; saves into it are not kept apart", folder)
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError as exc:
        os.close(fd)
        if exc.errno not in _NO_LOCKS:
            raise
        log.info("%s cannot be locked (%s); saves into it are not kept apart", folder, exc)
        return None
    return fd
