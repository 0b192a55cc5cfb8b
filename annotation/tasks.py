"""Import manifest photos as Label Studio tasks, with the model's answers as predictions.

A task's data carries the photo's local-files URL plus what `pull` needs to rebuild its
manifest row (sha256, path under the document root, family, split, source). Photos already in
the project (same sha256) are skipped, so running `push` again after a failure sends only
what is missing. A photo the model gave no numbers for (NaN, `PhotoScore.finite`) is pushed
without a prediction: there is no answer to correct, and NaN is not JSON.

An import is never sent twice blindly. The SDK would retry its POST on a 5xx answer, and
Label Studio may have stored the tasks before failing: each import is sent without the SDK's
retries, and after an answer that leaves it unclear the project is listed again and only the
photos that did not arrive are sent (`_import_batch`).

A photo already in the project is not imported again, but its task is given the push's
prediction when it has none of that model version (pushed before with another model, or with
none): Label Studio shows annotators only the predictions of the project's model version, which
`annotate push` sets to its model's (`annotation.prediction_sync`).

Label Studio serves a photo only from below a local-files storage's path: the photos folder
`init` made it for (project.photos_folder). A photo elsewhere, even below the document root,
would be imported but never shown (404), so `push_rows` refuses a photo below none of the
project's storages before importing anything, whoever calls it
(`annotation.storage.check_photos_served`); given the photos folder, it also refuses one that
the project does not list as a storage (the config changed since `init`: `check_served`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, cast
from urllib.parse import quote

from annotation.client import NO_RETRIES, Connection
from annotation.label_config import PhotoLabels, result_from_labels
from annotation.prediction_sync import (
    add_predictions,
    missing_predictions,
    other_models_only,
    prediction_versions,
)
from annotation.project import PhotosOutsideRootError
from annotation.resend import send_once
from annotation.select import SelectionParams
from annotation.storage import check_photos_served, check_served, list_storages
from annotation.uncertainty import combined_uncertainty
from shanyraq.manifest import ManifestRow
from shanyraq.taxonomy import Taxonomy
from vision.score import PhotoScore, median_grade

logger = logging.getLogger(__name__)

LOCAL_FILES_PREFIX = "/data/local-files/?d="
IMPORT_ATTEMPTS = 3  # per batch, as the SDK's own retries (one try and two more)
IMPORT_RETRY_DELAY_S = 1.0  # before the second attempt; doubled before each next one


@dataclass(frozen=True)
class PushReport:
    created: int
    with_predictions: int
    skipped_existing: int
    task_ids: tuple[int, ...] = ()
    unanswered: int = 0  # scored, but the model gave no numbers: pushed without a prediction
    predictions_added: int = 0  # to tasks already there, which had none of the push's model
    other_models_only: tuple[int, ...] = ()  # tasks not pushed now, with other models' only

    def summary(self, project_id: int) -> str:
        """What `annotate push` says it did."""
        said = (
            f"pushed {self.created} task(s) ({self.with_predictions} with predictions), "
            f"skipped {self.skipped_existing} already in project {project_id}"
        )
        if self.predictions_added:
            said += f"; added this model's prediction to {self.predictions_added} of their task(s)"
        if self.other_models_only:
            said += (
                f"; {len(self.other_models_only)} other task(s) have only other models' "
                "predictions, so Label Studio shows them without a pre-annotation now: push "
                "their manifest again with this model (tasks " + _ids(self.other_models_only) + ")"
            )
        return said


def _ids(task_ids: Sequence[int]) -> str:
    return ", ".join(map(str, task_ids[:10])) + (" ..." if len(task_ids) > 10 else "")


def document_path(photo: Path, document_root: Path) -> str:
    """The photo's path relative to the document root, POSIX style (what Label Studio serves)."""
    try:
        relative = photo.resolve().relative_to(document_root)
    except ValueError:
        raise PhotosOutsideRootError(
            f"{photo} is not below the document root {document_root}: Label Studio can only "
            "serve photos from there; move the photos or change project.document_root"
        ) from None
    return PurePosixPath(*relative.parts).as_posix()


class PhotosOutsideFolderError(PhotosOutsideRootError):
    code = "annotation_photos_outside_folder"


def check_in_photos_dir(
    rows: Sequence[ManifestRow], *, manifest_root: Path, photos_dir: Path
) -> None:
    """Refuse rows whose photo is not below `photos_dir` (symlinks followed, as `init` made the
    storage): Label Studio would not serve them to annotators."""
    photos_dir = photos_dir.resolve()
    outside = [r for r in rows if photos_dir not in r.resolve(manifest_root).resolve().parents]
    if outside:
        raise PhotosOutsideFolderError(
            f"{len(outside)} photo(s) are not in the photos folder {photos_dir}, e.g. "
            f"{outside[0].resolve(manifest_root)}: Label Studio serves annotators only the "
            "photos below it (the local-files storage `shanyraq annotate init` made), so nothing "
            "was imported; move the photos into it, or set project.photos_folder in "
            "configs/annotation.yaml to a folder below the document root that holds them all, "
            "change the path of the project's storage in Label Studio to it (project Settings > "
            "Cloud Storage) and run `shanyraq annotate init` again"
        )


def photo_url(relative: str) -> str:
    return LOCAL_FILES_PREFIX + quote(relative, safe="/")


def predicted_labels(
    score: PhotoScore, taxonomy: Taxonomy, *, sign_threshold: float
) -> PhotoLabels:
    room = score.top_room
    if room == taxonomy.not_dwelling:
        return PhotoLabels(room=room, condition=None, signs=frozenset())
    signs = frozenset(s for s, p in score.signs.items() if p >= sign_threshold)
    return PhotoLabels(room=room, condition=median_grade(score.condition), signs=signs)


def prediction_from_score(
    score: PhotoScore,
    taxonomy: Taxonomy,
    *,
    sign_threshold: float,
    ranking: SelectionParams | None = None,
) -> dict[str, Any]:
    """A Label Studio prediction: the model's answer per head, its version and a confidence:
    1 - the combined uncertainty `select` ranks by (`ranking`'s method and head weights,
    configs/annotation.yaml `selection`; default SelectionParams'), so Label Studio's
    uncertainty sampling (lowest score first) serves photos in select's order."""
    labels = predicted_labels(score, taxonomy, sign_threshold=sign_threshold)
    per_head = {
        "room": score.room[labels.room] if labels.room else 0.0,
        "condition": score.condition.get(labels.condition or 0, 0.0),
        "signs": min(
            (max(p, 1 - p) for p in score.signs.values()),
            default=1.0,
        ),
    }
    ranking = ranking or SelectionParams(budget=0)
    uncertainty = combined_uncertainty(
        [score], method=ranking.method, head_weights=ranking.weights()
    )
    return {
        "model_version": score.model_version,
        "score": round(float(1.0 - uncertainty[0]), 6),
        "result": result_from_labels(taxonomy, labels, scores=per_head),
    }


def task_for_row(
    row: ManifestRow,
    *,
    manifest_root: Path,
    document_root: Path,
    score: PhotoScore | None,
    taxonomy: Taxonomy,
    sign_threshold: float,
    ranking: SelectionParams | None = None,
) -> dict[str, Any]:
    relative = document_path(row.resolve(manifest_root), document_root)
    task: dict[str, Any] = {
        "data": {
            "image": photo_url(relative),
            "sha256": row.sha256,
            "photo": relative,
            "family_id": row.family_id,
            "split": row.split,
            "source": row.source,
        }
    }
    if score is not None and score.finite:
        task["predictions"] = [
            prediction_from_score(score, taxonomy, sign_threshold=sign_threshold, ranking=ranking)
        ]
    return task


def _project_tasks(conn: Connection, project_id: int) -> dict[str, tuple[int, str]]:
    """sha256 -> (task id, path under the document root, '' if the task does not say)."""
    with conn.errors("listing the project's tasks"):
        tasks: list[Any] = list(conn.sdk.tasks.list(project=project_id, page_size=500))
    return {
        str(t.data["sha256"]): (int(t.id), str(t.data.get("photo") or ""))
        for t in tasks
        if t.data and t.data.get("sha256")
    }


def project_photos(conn: Connection, project_id: int) -> dict[str, str]:
    """sha256 -> path under the document root ('' if the task does not say) of every photo
    already imported into the project."""
    return {sha: photo for sha, (_, photo) in _project_tasks(conn, project_id).items()}


def project_sha256s(conn: Connection, project_id: int) -> set[str]:
    """sha256 of every photo already imported into the project."""
    return set(project_photos(conn, project_id))


def _import_batch(conn: Connection, project_id: int, batch: list[dict[str, Any]]) -> list[int]:
    """Import `batch` once, whatever the answers (annotation.resend.send_once): the new tasks'
    ids. After an unclear failure the project is listed again and only the photos not in it
    are sent again; when Label Studio may still be saving them, `push` is to run later."""
    todo, ids = batch, list[int]()

    def send() -> list[int]:
        response = conn.sdk.projects.import_tasks(
            project_id, request=cast(Any, todo), return_task_ids=True, request_options=NO_RETRIES
        )
        return ids + list(getattr(response, "task_ids", None) or [])

    def arrived() -> list[int] | None:
        nonlocal todo
        there = _project_tasks(conn, project_id)
        ids.extend(there[t["data"]["sha256"]][0] for t in todo if t["data"]["sha256"] in there)
        todo = [t for t in todo if t["data"]["sha256"] not in there]
        return None if todo else ids

    return send_once(
        conn, f"importing {len(batch)} task(s)", send=send, arrived=arrived,
        unsent=lambda: f"the {len(todo)} task(s) not in the project",
        attempts=IMPORT_ATTEMPTS, delay_s=IMPORT_RETRY_DELAY_S,
    )  # fmt: skip


def push_rows(
    conn: Connection,
    project_id: int,
    rows: Sequence[ManifestRow],
    *,
    manifest_root: Path,
    document_root: Path,
    scores: Mapping[str, PhotoScore],
    taxonomy: Taxonomy,
    sign_threshold: float,
    batch_size: int,
    ranking: SelectionParams | None = None,
    photos_dir: Path | None = None,
) -> PushReport:
    """Import the rows not yet in the project, in batches; each batch is one import, never
    stored twice (`_import_batch`), so a failure part-way leaves whole batches in and the next
    run sends the rest. Tasks are made
    in the rows' order (a selection's, best first), so Label Studio's sequential sampling
    serves them in it. Each task of a row already in the project that has no prediction of the
    row's score's model version is given one, once (`annotation.prediction_sync`); the tasks of
    other photos that have only other models' predictions are named (`other_models_only`).

    `sign_threshold` and `batch_size` come from configs/annotation.yaml `push`, `ranking`
    (the prediction scores' uncertainty: `prediction_from_score`) from its `selection`.
    A photo to import that is below the path of none of the project's local-files storages
    is refused before anything is sent (`check_photos_served`): Label Studio would not show
    it. `photos_dir` (project.photos_folder: `AnnotationConfig.photos_dir`), if given, is
    checked first, for messages that name it: refused if it is not the path of one of the
    project's storages (`check_served`), or if a photo is not below it (`check_in_photos_dir`).
    """
    from tqdm import tqdm

    document_root = document_root.resolve()
    storages = list_storages(conn, project_id)
    if photos_dir is not None:
        check_served(conn, project_id, photos_dir, listed=storages)
    listed = prediction_versions(conn, project_id)  # what a run cut short already sent
    todo, seen = [], set(listed)
    for row in rows:
        if row.sha256 not in seen:
            seen.add(row.sha256)
            todo.append(row)
    # Build every task first: a photo outside the document root fails before anything is sent.
    tasks = [
        task_for_row(
            row,
            manifest_root=manifest_root,
            document_root=document_root,
            score=scores.get(row.sha256),
            taxonomy=taxonomy,
            sign_threshold=sign_threshold,
            ranking=ranking,
        )
        for row in todo
    ]
    if photos_dir is not None:
        check_in_photos_dir(todo, manifest_root=manifest_root, photos_dir=photos_dir)
    check_photos_served(project_id, storages, [r.resolve(manifest_root).resolve() for r in todo])

    def predicted(score: PhotoScore) -> dict[str, Any]:
        return prediction_from_score(
            score, taxonomy, sign_threshold=sign_threshold, ranking=ranking
        )

    # Photos already there, pushed with another model or none, get this push's prediction.
    missing = missing_predictions(rows, listed, scores, predicted)
    task_ids: list[int] = []
    for start in tqdm(range(0, len(tasks), batch_size), desc="pushing tasks", unit="batch"):
        task_ids += _import_batch(conn, project_id, tasks[start : start + batch_size])
    for start in range(0, len(missing), batch_size):
        add_predictions(conn, project_id, missing[start : start + batch_size])
    others = other_models_only(listed, rows, scores)
    report = PushReport(
        created=len(tasks),
        with_predictions=sum(1 for t in tasks if "predictions" in t),
        skipped_existing=len(rows) - len(todo),
        task_ids=tuple(task_ids),
        unanswered=sum(1 for r in todo if r.sha256 in scores and not scores[r.sha256].finite),
        predictions_added=len(missing),
        other_models_only=others,
    )
    logger.info("pushed %d tasks (%d skipped)", report.created, report.skipped_existing)
    return report
