"""`annotate select` on a manifest: its unlabelled rows picked, and the picks written with
their record.

The rows already labelled, and the photos already waiting in the Label Studio project, are no
candidates; they block their near-duplicates (by perceptual hash, `annotation.select`). The picks
and a record of how they were chosen (OUT.json) are written as a pair.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from annotation.select import SelectionParams, select_photos, short_by
from shanyraq.errors import ImageError, ManifestError, ShanyraqError
from shanyraq.manifest import ManifestRow
from vision.score import PhotoScore

logger = logging.getLogger(__name__)


def photo_hash(path: Path, *, max_pixels: int) -> tuple[int, int]:
    """pHash and dHash of a photo file. One that cannot be read (missing, a folder, not a photo,
    damaged) raises an ImageError naming the file and why, without the decoder's advice, which
    is written for an inspector's upload."""
    from vision.hashing import perceptual_hash
    from vision.io import decode_file
    from vision.io_checks import unreadable_reason

    try:
        h = perceptual_hash(decode_file(path, max_pixels=max_pixels, target_size=128).pixels)
    except ImageError as exc:
        raise type(exc)(f"{path}: {unreadable_reason(exc)}") from None
    except OSError as exc:
        raise ImageError(f"{path}: {unreadable_reason(exc)}") from None
    return h.phash, h.dhash


def _max_pixels() -> int:
    from shanyraq.config import get_settings

    return get_settings().io.max_pixels


def row_hashes(rows: Sequence[ManifestRow], root: Path) -> np.ndarray:
    """(N, 2) uint64 pHash and dHash of each row's photo, for the near-duplicate checks. A
    photo that cannot be read is an ImageError naming its row: selection refuses rather than
    pick a photo that cannot be pushed, or let a labelled one's copies through unblocked."""
    limit = _max_pixels()
    out = np.zeros((len(rows), 2), dtype=np.uint64)
    for i, row in enumerate(rows):
        try:
            out[i] = photo_hash(row.resolve(root), max_pixels=limit)
        except ImageError as exc:
            raise type(exc)(
                f"the photo of manifest row {row.path!r} cannot be read for the near-duplicate "
                f"check ({exc.message}); replace the file or remove its row, then select again"
            ) from None
    return out


def _check_files(rows: Sequence[ManifestRow], root: Path) -> None:
    """Refuse rows whose photo file is not there, counted before any photo is hashed."""
    missing = [r.path for r in rows if not r.resolve(root).is_file()]
    if missing:
        raise ManifestError(
            f"{len(missing)} photo(s) of the manifest not found under {root}, e.g. row "
            f"{missing[0]!r}; selection hashes every photo for the near-duplicate check: restore "
            "them or remove their rows (`shanyraq data check MANIFEST` lists every problem), "
            "then select again"
        )


def _project_hashes(paths: Sequence[Path | None]) -> list[tuple[int, int]]:
    """Hashes of the project's photos outside the manifest that can be read here; the others
    (no file known, missing, unreadable) are logged and block no near-duplicates."""
    limit = _max_pixels()
    hashes: list[tuple[int, int]] = []
    unread: list[str] = []
    for path in paths:
        try:
            if path is None:
                raise ImageError("no file known")
            hashes.append(photo_hash(path, max_pixels=limit))
        except ImageError as exc:
            unread.append(exc.message)
    if unread:
        logger.warning(
            "%d photo(s) of the project have no readable file here to hash: their "
            "near-duplicates are not blocked (e.g. %s)",
            len(unread),
            unread[0],
        )
    return hashes


class NothingToSelectError(ShanyraqError):
    """The pool has no photo left to select: every one is labelled or already in the project."""

    code = "nothing_to_select"


def check_unlabelled(rows: Sequence[ManifestRow], *, manifest: Path) -> None:
    """Refuse a pool without one unlabelled photo (a row with no room label), before scoring."""
    if all(r.room is not None for r in rows):
        what = f"every one of its {len(rows)} rows has a room label" if rows else "it has no rows"
        raise NothingToSelectError(
            f"no unlabelled photos in {manifest}: {what}; nothing to select (give the manifest "
            "of the photos still to label)"
        )


@dataclass(frozen=True)
class ManifestSelection:
    picked: list[ManifestRow]
    candidates: list[ManifestRow]  # the rows selection chose from
    # Unlabelled rows left out: the model gave no numbers for their embedding (NaN), so they
    # have no place among the others; a person looks at them (`shanyraq score`).
    unplaced: list[ManifestRow] = field(default_factory=list)
    # Candidates left out although the budget had room: near-duplicates of a pick, of a labelled
    # photo or of one in the project (`annotation.select.short_by`); 0 when the budget is filled.
    near_duplicates: int = 0


def _placed(score: PhotoScore) -> bool:
    """Whether the photo has a place in embedding space: every embedding value finite."""
    return bool(np.isfinite(score.embedding).all())


def select_from_manifest(
    rows: Sequence[ManifestRow],
    root: Path,
    scores: Mapping[str, PhotoScore],
    params: SelectionParams,
    *,
    in_project: Mapping[str, Path | None] | None = None,
) -> ManifestSelection:
    """The unlabelled manifest rows to label next (every row needs a score, by sha256).

    `in_project` (sha256 -> the photo's file, None when unknown) lists the photos already in
    the Label Studio project. They are not candidates, and, like labelled rows, they block
    their near-duplicates: an edited or re-encoded copy of a photo waiting for its annotation
    is not sent again. Photos of the project outside this manifest block by hash alone.
    """
    in_project = in_project or {}
    unlabelled = [r for r in rows if r.room is None and r.sha256 not in in_project]
    candidates = [r for r in unlabelled if _placed(scores[r.sha256])]
    unplaced = [r for r in unlabelled if not _placed(scores[r.sha256])]
    references = [r for r in rows if r.room is not None or r.sha256 in in_project]
    if unplaced:
        logger.warning(
            "%d unlabelled photo(s) left out: the model gave no numbers for their embedding, "
            "e.g. %s",
            len(unplaced),
            unplaced[0].path,
        )
    if not candidates and unplaced:
        raise NothingToSelectError(
            f"no unlabelled photo can be selected: the model gave no numbers (NaN) for the "
            f"embedding of each of the {len(unplaced)} left, e.g. {unplaced[0].path}; check the "
            "model with `shanyraq score PHOTO --model DIR`"
        )
    if not candidates:
        pushed = sum(r.room is None for r in rows)
        raise NothingToSelectError(
            f"no unlabelled photo left to select: {len(rows) - pushed} of the {len(rows)} are "
            f"labelled and the other {pushed} are already in the Label Studio project"
        )
    _check_files(candidates + references, root)
    in_manifest = {r.sha256 for r in rows}
    outside = _project_hashes([p for sha, p in in_project.items() if sha not in in_manifest])
    reference_hashes = np.concatenate(
        [row_hashes(references, root), np.array(outside, dtype=np.uint64).reshape(-1, 2)]
    )
    chosen = select_photos(
        [scores[r.sha256] for r in candidates],
        params,
        labelled=[
            scores[r.sha256] for r in references if r.sha256 in scores and _placed(scores[r.sha256])
        ],
        hashes=row_hashes(candidates, root),
        labelled_hashes=reference_hashes if len(reference_hashes) else None,
    )
    left_out = short_by(len(chosen), budget=params.budget, candidates=len(candidates))
    return ManifestSelection([candidates[i] for i in chosen], candidates, unplaced, left_out)


def selection_record_path(out: Path) -> Path:
    """Where `annotate select --out OUT` says how it chose: OUT plus ".json" (picked.csv.json)."""
    return out.with_name(out.name + ".json")


def selection_record(
    selection: ManifestSelection,
    params: SelectionParams,
    *,
    manifest: Path,
    out: Path,
    scores_source: Mapping[str, Any],
    in_project: int | None,
    written: Path | None = None,
) -> dict[str, Any]:
    """What a selection was made from and how, so it can be told apart from another or re-run:
    the pool manifest and the written picks (sha256), where the scores came from (with the model
    versions they hold), every selection parameter (budget and k-means seed among them) and the
    code version. `in_project`: photos already in the Label Studio project (None: not asked).
    `written`: the file the picks are in now, if not yet `out` (a temporary name)."""
    from datetime import UTC, datetime

    from shanyraq.manifest import sha256_file
    from shanyraq.provenance import code_version

    return {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "code_version": code_version(),
        "manifest": str(manifest.resolve()),
        "manifest_sha256": sha256_file(manifest),
        "out": str(out.resolve()),
        "out_sha256": sha256_file(written or out),
        "scores": dict(scores_source),
        "budget": params.budget,
        "seed": params.seed,
        "params": {**asdict(params), "head_weights": dict(params.weights())},
        "skip_pushed": in_project is not None,
        "in_project": in_project,
        "candidates": len(selection.candidates),
        "picked": len(selection.picked),
        # Left out, the model gave no numbers for their embedding: a person looks at them.
        "unplaced": [r.path for r in selection.unplaced],
        # Left out although the budget had room: near-duplicates of a pick, of a labelled photo
        # or of one already in the project.
        "near_duplicates": selection.near_duplicates,
    }


def write_selection(
    out: Path,
    picked: Sequence[ManifestRow],
    record: Callable[[Path], Mapping[str, Any]],
    *,
    overwrite: bool = True,
    root: Path | None = None,
) -> Path:
    """Write the picked manifest to `out` and `record(file the picks are in)` to OUT.json, as a
    pair: both are written under temporary names first, then the manifest is renamed into
    place and the record last. The record's rename is the commit point: it names the
    manifest's sha256, so an older record left beside a newer manifest shows as a mismatch,
    and any failure before it leaves both files as they were. Returns the record's path.
    Without `overwrite` a manifest that appeared at `out` meanwhile is kept: FileExistsError,
    and neither file is written. `root`: the folder the picks' paths are relative to (the
    pool manifest's); given, they are written relative to `out`'s folder
    (shanyraq.manifest.rebased)."""
    from shanyraq.atomic import atomic_file
    from shanyraq.manifest import rebased, write_manifest

    if root is not None:
        picked = rebased(picked, root, out)
    record_path = selection_record_path(out)
    with (
        atomic_file(record_path) as record_tmp,
        atomic_file(out, replace=overwrite) as out_tmp,
    ):
        write_manifest(out_tmp, picked)
        record_tmp.write_text(json.dumps(record(out_tmp), indent=2), encoding="utf-8")
    return record_path
