"""Model scores for annotation: run the engine over a manifest, or read/write them as JSONL.

Pre-annotations (`push`) and selection (`select`) both need each photo's PhotoScore; scoring
once and keeping the JSONL (with embeddings) lets `select` run without the model.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path

from shanyraq.atomic import atomic_file
from shanyraq.errors import ShanyraqError
from shanyraq.manifest import Manifest
from vision.score import PhotoScore

logger = logging.getLogger(__name__)


class ScoresError(ShanyraqError):
    code = "annotation_scores_invalid"


def write_scores(path: Path, scores: Iterable[PhotoScore]) -> Path:
    """One JSON object per line, embeddings included; written atomically."""
    with atomic_file(path) as tmp, tmp.open("w", encoding="utf-8") as handle:
        for score in scores:
            handle.write(json.dumps(score.to_dict(with_embedding=True)) + "\n")
    return path


def read_scores(path: Path) -> dict[str, PhotoScore]:
    """Scores keyed by photo sha256."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ScoresError(f"{path}: cannot read scores ({exc.strerror})") from None
    scores: dict[str, PhotoScore] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            score = PhotoScore.from_dict(json.loads(line))
        except (ValueError, KeyError, TypeError) as exc:
            raise ScoresError(f"{path}, line {number}: not a PhotoScore ({exc})") from None
        scores[score.photo_sha256] = score
    return scores


def score_manifest(
    manifest: Manifest, model_dir: Path, *, batch_size: int = 32
) -> dict[str, PhotoScore]:
    """Score every photo of `manifest` with the model artifact in `model_dir`."""
    from tqdm import tqdm

    from shanyraq.config import get_settings
    from vision.engine import Engine
    from vision.io import decode_file

    engine = Engine.load(model_dir, alone=True)
    size = engine.artifact.preprocessing.size
    max_pixels = get_settings().io.max_pixels
    scores: dict[str, PhotoScore] = {}
    rows = list(manifest)
    with tqdm(total=len(rows), desc="scoring photos", unit="photo") as bar:
        for start in range(0, len(rows), batch_size):
            chunk = rows[start : start + batch_size]
            images = [
                decode_file(
                    row.resolve(manifest.root), max_pixels=max_pixels, target_size=size
                ).pixels
                for row in chunk
            ]
            for score in engine.score(images, sha256s=[r.sha256 for r in chunk]):
                scores[score.photo_sha256] = score
            bar.update(len(chunk))
    logger.info("scored %d photos with %s", len(scores), engine.model_version)
    return scores
