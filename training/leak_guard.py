"""The leak guard of `shanyraq evaluate`: photos (and families) a model was trained or validated
on, found from its training manifest, so figures measured on them are refused.

The training manifest is looked for where the recipe names it (from the working folder, then
from the project root, the folder of configs/), and where the run folder's run.json recorded
it (absolute). A file found is taken only if it hashes to the manifest's sha256, as run.json
gives it or, without run.json, as model.json's training data hash is for a recipe trained on
its manifest: another file of the same name (a newer version of the dataset) is not the model's
training manifest, and taken for it would hide the photos the model saw.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from shanyraq.config import default_configs_dir
from shanyraq.errors import ManifestError, ShanyraqError, read_json_file
from shanyraq.manifest import ManifestRow, read_manifest, sha256_file
from shanyraq.splits import same_family
from training.dataset_splits import style_of
from training.recipe import DataSection
from training.run_folder import RUN_JSON
from vision.artifact import ModelArtifact

logger = logging.getLogger(__name__)

FAMILIES_SHOWN = 3  # family ids named when evaluated photos share a family with training


class RunManifest(BaseModel):
    """What the leak guard reads from run.json (training.run_folder.run_record writes more)."""

    model_config = ConfigDict(extra="ignore")

    manifest: Path
    manifest_sha256: str
    training_data_sha256: str | None = None


@dataclass(frozen=True)
class TrainingPhotos:
    """The stored photos a model learnt from or was tuned on, as far as its artifact tells.

    `unknown_reason` is set when they cannot be known (no recipe, manifest gone).
    """

    sha256: frozenset[str] = frozenset()
    family_ids: frozenset[str] = frozenset()  # the families of those photos (rows with one)
    manifest: Path | None = None
    splits: tuple[str, ...] = ()
    unknown_reason: str | None = None


def run_manifest(artifact: ModelArtifact, model_dir: Path | None) -> RunManifest | None:
    """The training manifest recorded by the run folder the artifact sits in (RUN/artifact),
    when that run trained this model (same training data digest); else None."""
    if model_dir is None or not (model_dir.parent / RUN_JSON).is_file():
        return None
    path = model_dir.parent / RUN_JSON
    try:
        record = RunManifest.model_validate(read_json_file(path, "a training run's record"))
    except (ShanyraqError, ValidationError):
        logger.info("%s is unreadable: not used to find the training manifest", path)
        return None
    trained_on = record.training_data_sha256 or record.manifest_sha256
    return record if trained_on == artifact.training_data_sha256 else None


def _candidates(recorded: Path, run: RunManifest | None) -> list[Path]:
    """Where the training manifest may be, in order, each once."""
    found = [recorded]
    if run is not None:
        found.append(run.manifest)
    if not recorded.is_absolute():
        found.append(default_configs_dir().parent / recorded)
    return list(dict.fromkeys(found))


def expected_sha256(
    artifact: ModelArtifact, data: DataSection, run: RunManifest | None
) -> tuple[str | None, str]:
    """The sha256 the training manifest must have, and where it is recorded: run.json's, else
    model.json's training data hash when the model trained on the manifest (a stream's is the
    hash of its settings); None when neither says."""
    if run is not None:
        return run.manifest_sha256, "run.json"
    if data.stream is None and artifact.training_data_sha256:
        return artifact.training_data_sha256, "model.json"
    return None, ""


def find_training_manifest(
    recorded: Path,
    run: RunManifest | None,
    *,
    expected: str | None,
    recorded_in: str,
) -> tuple[Path | None, str | None]:
    """The training manifest's file, or None and why it was not found. `expected`: its sha256
    (expected_sha256), recorded in `recorded_in`; None takes the first file found."""
    candidates = _candidates(recorded, run)
    differing = []
    for path in candidates:
        if not path.is_file():
            continue
        if expected is not None and sha256_file(path) != expected:
            differing.append(str(path))
            continue
        return path, None
    if differing:
        return None, (
            f"training manifest {recorded} found at {', '.join(differing)}, but its sha256 "
            f"is not the {str(expected)[:16]} the model was trained on ({recorded_in}): that "
            "file changed since training, or is another file of the same name"
        )
    return None, (
        f"training manifest {recorded} not found (looked for "
        f"{', '.join(str(p) for p in candidates)}; relative paths from {Path.cwd()} and the "
        "project root)"
    )


def training_photos(artifact: ModelArtifact, *, model_dir: Path | None = None) -> TrainingPhotos:
    """The model's train and val photos from its recipe's manifest (val only for a stream).

    Validation photos count too: they chose the best epoch and fitted the calibration. A
    recipe with `data.stream` rendered its training photos on the fly, so its manifest's
    train split was never used. Held-out styles are left out, as `load_splits` leaves them.
    `model_dir`: the artifact's folder, whose run folder's run.json may say where the
    manifest is and what it hashed to.
    """
    recipe_data = artifact.training_config.get("data")
    if not recipe_data:
        return TrainingPhotos(unknown_reason="the model records no training recipe")
    try:
        data = DataSection.model_validate(recipe_data)
    except ValidationError as exc:
        return TrainingPhotos(
            unknown_reason=f"the model's recipe has an unreadable data section "
            f"({exc.error_count()} error(s))"
        )
    run = run_manifest(artifact, model_dir)
    expected, recorded_in = expected_sha256(artifact, data, run)
    path, reason = find_training_manifest(
        data.manifest, run, expected=expected, recorded_in=recorded_in
    )
    if path is None:
        return TrainingPhotos(manifest=data.manifest, unknown_reason=reason)
    try:
        manifest = read_manifest(path)
    except ManifestError as exc:
        return TrainingPhotos(manifest=path, unknown_reason=exc.message)
    splits = ("val",) if data.stream is not None else ("train", "val")
    held = set(data.held_out_styles)
    seen = [r for r in manifest.rows if r.split in splits and style_of(r) not in held]
    return TrainingPhotos(
        sha256=frozenset(r.sha256 for r in seen),
        family_ids=frozenset(r.family_id for r in seen if r.family_id),
        manifest=path,
        splits=splits,
    )


def _overlaps(
    seen: TrainingPhotos, rows: Sequence[ManifestRow], *, version: str
) -> list[tuple[list[ManifestRow], str]]:
    """Rows the model saw in training, each kind with what it is: the same photos (sha256),
    then other photos of the families it saw (family_id; ids differing only in case or
    surrounding space are one family, as shanyraq.splits splits them)."""
    where = f"splits {', '.join(seen.splits)} of {seen.manifest}"
    seen_families = {same_family(f) for f in seen.family_ids}
    same_photo = [r for r in rows if r.sha256 in seen.sha256]
    other_photo = [
        r for r in rows if r.sha256 not in seen.sha256 and same_family(r.family_id) in seen_families
    ]
    families = sorted({r.family_id for r in other_photo})
    shown = ", ".join(families[:FAMILIES_SHOWN]) + (
        f" and {len(families) - FAMILIES_SHOWN} more" if len(families) > FAMILIES_SHOWN else ""
    )
    return [
        (same_photo, f"photos model {version} was trained or validated on (same sha256 as "
                     f"rows in {where})"),
        (other_photo, f"other photos of {_n_families(other_photo)} families model {version} "
                      f"was trained or validated on ({shown}: same family_id as rows in {where})"),
    ]  # fmt: skip


def _n_families(rows: Sequence[ManifestRow]) -> int:
    return len({same_family(r.family_id) for r in rows})


def check_overlap(
    artifact: ModelArtifact,
    rows: Sequence[ManifestRow],
    *,
    allow_overlap: bool = False,
    model_dir: Path | None = None,
) -> dict[str, Any]:
    """Fields for metrics["data"]: how many of `rows` the model saw in training, as the same
    photo (sha256) or as another photo of a family it saw (family_id).

    Figures measured on such photos are inflated (splits are by family: another photo of a
    home the model learnt from is no unseen photo), so they are refused unless allowed.
    Held-out-style photos stay measurable from every split: their families are not counted
    as seen, as `training_photos` leaves them out.
    """
    seen = training_photos(artifact, model_dir=model_dir)
    if seen.unknown_reason is not None:
        logger.warning(
            "evaluated photos not checked against model %s's training photos: %s",
            artifact.model_version,
            seen.unknown_reason,
        )
        return {
            "training_photos_known": False,
            "training_photos_unknown_reason": seen.unknown_reason,
            "overlap_with_training": None,
            "family_overlap_with_training": None,
        }
    found = _overlaps(seen, rows, version=artifact.model_version)
    for overlapping, what in found:
        if overlapping and not allow_overlap:
            raise ManifestError(
                f"{len(overlapping)} of the {len(rows)} photos to evaluate are {what}; figures "
                "on them would be inflated. Evaluate on photos (and families) the model never "
                "saw, or pass --allow-overlap to measure anyway with a warning in the report"
            )
    for overlapping, what in found:
        if overlapping:
            logger.warning(
                "%d of the %d evaluated photos are %s; the report carries a warning",
                len(overlapping),
                len(rows),
                what,
            )
    (same_photo, _), (other_photo, _) = found
    return {
        "training_photos_known": True,
        "training_manifest": str(seen.manifest),
        "training_splits_compared": list(seen.splits),
        "overlap_with_training": len(same_photo),
        "family_overlap_with_training": len(other_photo),
        "families_overlapping_training": _n_families(other_photo),
    }
