"""Model scores for annotation: run the engine over a manifest, or read/write them as JSONL.

Pre-annotations (`push`) and selection (`select`) both need each photo's PhotoScore; scoring
once and keeping the JSONL (with embeddings) lets `select` run without the model.

A scores file is checked line by line when read: each head must have the taxonomy's labels
with probabilities from 0 to 1 (the heads are read in the taxonomy's order, so a score of
another taxonomy would be read as the wrong labels), and selection also needs the embedding
(`score --json` leaves it out; `annotate push --save-scores` keeps it).

A probability or embedding value may be null (written for NaN: the model gave no number, e.g.
an fp16 overflow) only in a score that abstains, as the engine's do: such a photo is pushed
without a pre-annotation and left out of selection (`PhotoScore.finite`), never refused with
the whole file.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from shanyraq.atomic import atomic_file
from shanyraq.errors import ImageError, ShanyraqError, read_text
from shanyraq.manifest import Manifest, ManifestRow
from shanyraq.taxonomy import Taxonomy
from vision.score import PhotoScore

logger = logging.getLogger(__name__)

SAVE_HINT = (
    "make the file with `shanyraq annotate push MANIFEST --model DIR --save-scores FILE`, "
    "or give --model DIR instead"
)
_SUM_TOLERANCE = 1e-3  # calibrated probabilities of a head add up to 1, written as floats
_ROWS_NAMED = 5  # unreadable photos named in the error; every one is logged


class ScoresError(ShanyraqError):
    code = "annotation_scores_invalid"


def write_scores(path: Path, scores: Iterable[PhotoScore]) -> Path:
    """One JSON object per line, embeddings included; written atomically."""
    with atomic_file(path) as tmp, tmp.open("w", encoding="utf-8") as handle:
        for score in scores:
            handle.write(json.dumps(score.to_dict(with_embedding=True), allow_nan=False) + "\n")
    return path


def read_scores(
    path: Path, *, taxonomy: Taxonomy | None = None, need_embeddings: bool = False
) -> dict[str, PhotoScore]:
    """Scores keyed by photo sha256. With `taxonomy`, every score must fit it (`fit_taxonomy`:
    its heads come back in the taxonomy's order); with `need_embeddings`, every score needs
    an embedding, all of one length. A line that does not is refused, naming the line."""
    text = read_text(path, ScoresError, f"; {SAVE_HINT}")
    scores: dict[str, PhotoScore] = {}
    width: int | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            score = PhotoScore.from_dict(json.loads(line))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ScoresError(
                f"{path}, line {number}: not a PhotoScore ({exc}); {SAVE_HINT}"
            ) from None
        try:
            if taxonomy is not None:
                score = fit_taxonomy(score, taxonomy)
            if need_embeddings:
                check_embedding(score.embedding, width, nan_allowed=score.abstain)
        except ValueError as exc:
            raise ScoresError(f"{path}, line {number}: {exc}; {SAVE_HINT}") from None
        width = width or score.embedding.size
        scores[score.photo_sha256] = score
    return scores


def check_embedding(embedding: np.ndarray, width: int | None, *, nan_allowed: bool = False) -> None:
    """Raise ValueError unless `embedding` is there, `width` long (when given) and finite
    (`nan_allowed`: NaN, the model gave no number, may stand in it)."""
    if embedding.size == 0:
        raise ValueError(
            "the score has no embedding, which selection needs (`score --json` leaves it out)"
        )
    if not (np.isfinite(embedding) | (nan_allowed & np.isnan(embedding))).all():
        raise ValueError(
            "the embedding has a value that is not a finite number"
            + ("" if nan_allowed else " (null only in a score that abstains)")
        )
    if width is not None and embedding.size != width:
        raise ValueError(f"the embedding has {embedding.size} values, the lines before it {width}")


def fit_taxonomy(score: PhotoScore, taxonomy: Taxonomy) -> PhotoScore:
    """`score` with each head in the taxonomy's order. Raise ValueError saying why when a
    head's labels are not the taxonomy's, or a probability is not a number from 0 to 1 (room
    and condition adding up to 1). NaN (null in the file: the model gave no number) is taken
    in a score that abstains; its head's sum is not checked."""
    heads: list[tuple[str, Mapping[Any, float], Sequence[Any], bool]] = [
        ("room", score.room, taxonomy.room_names, True),
        ("condition", score.condition, taxonomy.condition_values, True),
        ("signs", score.signs, taxonomy.sign_names, False),
    ]
    for head, probs, labels, sums_to_one in heads:
        unknown = sorted(str(k) for k in probs if k not in labels)
        missing = [str(k) for k in labels if k not in probs]
        if unknown:
            raise ValueError(
                f"its {head} head has labels that configs/taxonomy.yaml does not: "
                f"{', '.join(unknown)}"
            )
        if missing:
            raise ValueError(f"its {head} head has no probability for {', '.join(missing)}")
        nans = [k for k, p in probs.items() if math.isnan(p)]
        bad = [
            k
            for k, p in probs.items()
            if not ((math.isnan(p) and score.abstain) or (math.isfinite(p) and 0.0 <= p <= 1.0))
        ]
        if bad:
            null = "; null only in a score that abstains" if set(bad) & set(nans) else ""
            raise ValueError(
                f"its {head} head has probabilities that are not numbers from 0 to 1 "
                f"({', '.join(map(str, bad))}{null})"
            )
        if sums_to_one and not nans and abs(sum(probs.values()) - 1.0) > _SUM_TOLERANCE:
            raise ValueError(f"its {head} probabilities add up to {sum(probs.values()):.4g}, not 1")
    return replace(
        score,
        room={k: score.room[k] for k in taxonomy.room_names},
        condition={k: score.condition[k] for k in taxonomy.condition_values},
        signs={k: score.signs[k] for k in taxonomy.sign_names},
    )


def score_manifest(
    manifest: Manifest, model_dir: Path, *, batch_size: int = 32
) -> dict[str, PhotoScore]:
    """Score every photo of `manifest` with the model artifact in `model_dir`.

    Photos that cannot be read are refused together, naming their rows (ImageError): files
    that are not there before the model is loaded, damaged ones once every photo has been
    tried, so that one run finds them all."""
    from tqdm import tqdm

    from shanyraq.config import get_settings
    from vision.engine import Engine
    from vision.io import decode_file
    from vision.io_checks import unreadable_reason

    rows = list(manifest)
    missing = [(r, "no photo file there") for r in rows if not r.resolve(manifest.root).is_file()]
    _refuse_unreadable(missing, manifest.root)
    engine = Engine.load(model_dir, alone=True)
    # As uploads decode (EngineConfig.decode_side_for): the pixels the model scores there.
    side = engine.config.decode_side_for(engine.artifact.preprocessing.size)
    max_pixels = get_settings().io.max_pixels
    scores: dict[str, PhotoScore] = {}
    unreadable: list[tuple[ManifestRow, str]] = []
    with tqdm(total=len(rows), desc="scoring photos", unit="photo") as bar:
        for start in range(0, len(rows), batch_size):
            batch = rows[start : start + batch_size]
            read, images = [], []
            for row in batch:
                try:
                    path = row.resolve(manifest.root)
                    images.append(decode_file(path, max_pixels=max_pixels, target_size=side).pixels)
                    read.append(row)
                except (ImageError, OSError) as exc:  # named with the others at the end
                    unreadable.append((row, unreadable_reason(exc)))
            if read:
                for score in engine.score(images, sha256s=[r.sha256 for r in read]):
                    scores[score.photo_sha256] = score
            bar.update(len(batch))
    _refuse_unreadable(unreadable, manifest.root, scored=len(rows) - len(unreadable))
    logger.info("scored %d photos with %s", len(scores), engine.model_version)
    return scores


def _refuse_unreadable(
    unreadable: Sequence[tuple[ManifestRow, str]], root: Path, *, scored: int = 0
) -> None:
    """Raise an ImageError naming the first few unreadable rows, their files and why (the
    others are logged), and what to do; nothing when there are none. `scored`: photos
    scored before the refusal."""
    if not unreadable:
        return
    for row, why in unreadable[_ROWS_NAMED:]:
        logger.warning("cannot read the photo of manifest row %r either: %s", row.path, why)
    named = "; ".join(
        f"row {row.path!r} ({row.resolve(root)}: {why})" for row, why in unreadable[:_ROWS_NAMED]
    )
    more = len(unreadable) - _ROWS_NAMED
    raise ImageError(
        f"{len(unreadable)} photo(s) of the manifest cannot be read to score them"
        + (f" (the other {scored} were scored, but no score is used)" if scored else "")
        + f": {named}"
        + (f"; and {more} more, logged above" if more > 0 else "")
        + "; replace each file or remove its row from the manifest, then run the command again"
    )


def one_model(by_sha: dict[str, PhotoScore], path: Path) -> dict[str, PhotoScore]:
    """`by_sha` when one photo model made every score; a scores file of several is refused
    (`annotate push`). Label Studio shows annotators the predictions of the project's model
    version only: a push of two models' scores would leave some photos without their
    pre-annotation."""
    versions = sorted({score.model_version for score in by_sha.values()})
    if len(versions) > 1:
        raise ScoresError(
            f"{path}: the scores come from {len(versions)} photo models ({', '.join(versions)}); "
            f"push one model's scores at a time; {SAVE_HINT}"
        )
    return by_sha
