"""Pull annotations out of Label Studio into a manifest, with agreement and corrections.

Each task with at least one submitted (not cancelled) annotation becomes one manifest row
(one vote per annotator: their latest annotation; a task `push` did not make, or one whose
answers have labels the taxonomy lacks, is left out and named in the report):
labels merged across annotators, path rewritten relative to the output manifest, family,
split and sha256 taken from the task data `push` wrote. Beside the manifest go a report
(agreement per head, corrections of the model per head, annotator weights) and a CSV of the
photos where annotators disagreed, for review.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from annotation.agreement import HeadAgreement, MergeMethod, Votes, agreement_by_head, merge_all
from annotation.client import Connection, LabelStudioAnswerError
from annotation.corrections import HeadCorrections, count_corrections
from annotation.label_config import PhotoLabels, labels_from_result, labels_off_taxonomy
from shanyraq.atomic import atomic_file
from shanyraq.manifest import ManifestRow, encode_signs, write_manifest
from shanyraq.taxonomy import HeadName, Taxonomy

logger = logging.getLogger(__name__)

SOURCE = "label-studio"


@dataclass(frozen=True)
class AnnotatedTask:
    task_id: int
    data: dict[str, Any]
    votes: list[tuple[str, PhotoLabels]]
    prediction: PhotoLabels | None = None
    off_taxonomy: tuple[str, ...] = ()  # labels the taxonomy lacks in the answers that count


def _as_dict(item: Any) -> dict[str, Any]:
    return item if isinstance(item, dict) else item.model_dump()


def _submitted_at(annotation: dict[str, Any]) -> tuple[float, int]:
    """When an annotation was last saved (POSIX time, 0 when not given), then its id: the
    order of one annotator's annotations of a task."""
    saved = annotation.get("updated_at") or annotation.get("created_at")
    try:
        stamp = datetime.fromisoformat(str(saved)).timestamp() if saved else 0.0
    except ValueError:
        stamp = 0.0
    return (stamp, int(annotation.get("id") or 0))


def _annotator(annotation: dict[str, Any]) -> str:
    """Who made an annotation: the user's id. Label Studio sets it to null when the user is
    deleted; such annotations cannot be told apart by person, so each is an annotator of its
    own, not all of them one whose latest answer would hide the others'."""
    who = annotation.get("completed_by")
    return f"deleted user (annotation {annotation.get('id')})" if who is None else str(who)


def parse_task(task: Any, taxonomy: Taxonomy) -> AnnotatedTask:
    """The task's votes: one per annotator, their latest submitted (not cancelled) annotation
    with a room. Label Studio lets one user submit several annotations of a task (another tab,
    the API); counted apart, they would outvote the others and agree with themselves. A latest
    answer with labels the taxonomy lacks is named in `off_taxonomy` (see build_report)."""
    annotations = [_as_dict(a) for a in (task.annotations or [])]
    latest: dict[str, tuple[tuple[float, int], PhotoLabels, tuple[str, ...]]] = {}
    for a in annotations:
        if a.get("was_cancelled"):
            continue
        result = a.get("result") or []
        labels, off = labels_from_result(taxonomy, result), labels_off_taxonomy(taxonomy, result)
        if labels.room is None and not off:
            continue
        who, saved = _annotator(a), _submitted_at(a)
        if who not in latest or saved >= latest[who][0]:
            latest[who] = (saved, labels, off)
    by_id = sorted(latest.items(), key=lambda item: item[1][0][1])  # in annotation id order
    votes = [(who, labels) for who, (_, labels, _) in by_id if labels.room is not None]
    off_taxonomy = tuple(dict.fromkeys(label for _, (_, _, off) in by_id for label in off))
    predictions = [_as_dict(p) for p in (task.predictions or [])]
    prediction = labels_from_result(taxonomy, predictions[-1]["result"]) if predictions else None
    return AnnotatedTask(int(task.id), dict(task.data or {}), votes, prediction, off_taxonomy)


def fetch_annotated(conn: Connection, project_id: int, taxonomy: Taxonomy) -> list[AnnotatedTask]:
    """Every task of the project that has at least one submitted annotation (with a room, or
    with labels the taxonomy lacks, which build_report names)."""
    with conn.errors("reading annotations"):
        tasks: list[Any] = list(
            conn.sdk.tasks.list(
                project=project_id, fields="all", only_annotated=True, page_size=200
            )
        )
    parsed = [_parsed(t, taxonomy, conn) for t in tasks]
    return [t for t in parsed if t.votes or t.off_taxonomy]


def _parsed(task: Any, taxonomy: Taxonomy, conn: Connection) -> AnnotatedTask:
    """parse_task, or one error naming the task when its annotations are not in the shape
    Label Studio gives them (another version, or not Label Studio)."""
    try:
        return parse_task(task, taxonomy)
    except (TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
        raise LabelStudioAnswerError(
            f"Label Studio at {conn.url} sent task {getattr(task, 'id', '?')} in a shape "
            f"Shanyraq cannot read ({type(exc).__name__}: {exc}); check that the server is "
            "a Label Studio version label-studio-sdk works with (nothing was written)"
        ) from None


@dataclass
class PullReport:
    rows: list[ManifestRow]
    agreement: dict[HeadName, HeadAgreement]
    corrections: dict[HeadName, HeadCorrections]
    weights: dict[str, float]
    disagreements: list[dict[str, str]] = field(default_factory=list)
    not_from_push: list[int] = field(default_factory=list)  # task ids left out: see build_report
    off_taxonomy: dict[int, list[str]] = field(default_factory=dict)  # left out, with the labels

    def to_dict(self) -> dict[str, Any]:
        def clean(x: float) -> float | None:
            return None if math.isnan(x) else round(x, 4)

        return {
            "photos": len(self.rows),
            "agreement": {
                h: {
                    "krippendorff_alpha": clean(a.alpha),
                    "photos": a.photos,
                    "unanimous": a.unanimous,
                }
                for h, a in self.agreement.items()
            },
            "corrections": {h: c.to_dict() for h, c in self.corrections.items()},
            "annotator_weights": {a: round(w, 4) for a, w in sorted(self.weights.items())},
            "disagreements": len(self.disagreements),
            "tasks_not_from_push": self.not_from_push,
            "tasks_off_taxonomy": {str(t): labels for t, labels in self.off_taxonomy.items()},
        }


def _row(
    task: AnnotatedTask, labels: PhotoLabels, *, document_root: Path, out_dir: Path
) -> ManifestRow:
    photo = document_root / str(task.data.get("photo", ""))
    return ManifestRow(
        path=Path(os.path.relpath(photo, out_dir)).as_posix(),
        sha256=str(task.data.get("sha256", "")),
        family_id=str(task.data.get("family_id", "")),
        split=str(task.data.get("split", "")),
        room=labels.room,
        condition=labels.condition,
        signs=labels.signs,
        source=SOURCE,
        extra={"annotators": str(len(task.votes)), "label_studio_task": str(task.task_id)},
    )


def _disagreement_rows(
    task: AnnotatedTask,
    heads: Sequence[HeadName],
    unresolved: Sequence[HeadName],
    taxonomy: Taxonomy,
) -> list[dict[str, str]]:
    """One row per disputed head, with the answers that were voted on it: condition and
    signs only those of annotators who saw a home (a not_dwelling answer has none, though it
    is parsed with an empty set of signs, which would show as "none")."""
    rows = []
    for head in heads:
        answers = []
        for who, labels in task.votes:
            if head != "room" and labels.room in (None, taxonomy.not_dwelling):
                continue
            value = getattr(labels, head)
            shown = (
                encode_signs(value) if head == "signs" else ("" if value is None else str(value))
            )
            answers.append(f"{who}={shown}")
        rows.append(
            {
                "sha256": str(task.data.get("sha256", "")),
                "photo": str(task.data.get("photo", "")),
                "task_id": str(task.task_id),
                "head": head,
                "answers": " | ".join(answers),
                "resolved": "no" if head in unresolved else "yes",
            }
        )
    return rows


def _ids(task_ids: Sequence[int]) -> str:
    return ", ".join(map(str, task_ids[:10])) + (" ..." if len(task_ids) > 10 else "")


def _set_aside(
    tasks: Sequence[AnnotatedTask],
) -> tuple[list[AnnotatedTask], list[int], dict[int, list[str]]]:
    """(tasks to write, ids of tasks not from push, tasks with labels off the taxonomy).

    A task that `push` did not make (a storage sync, an upload in Label Studio) has no sha256
    or photo path to rebuild its manifest row from. An answer with a label the taxonomy lacks
    (a choice added to the project's config in Label Studio) cannot be written, and without it
    the other answers would label the photo alone. Both are left out, and named in the report.
    """
    foreign = [t.task_id for t in tasks if not (t.data.get("sha256") and t.data.get("photo"))]
    if foreign:
        logger.warning(
            "%d annotated task(s) have no sha256 or photo in their data (not imported by "
            "`shanyraq annotate push`, or edited since) and are left out of the manifest: ids %s",
            len(foreign),
            _ids(foreign),
        )
    off = {t.task_id: list(t.off_taxonomy) for t in tasks if t.off_taxonomy}
    off = {task_id: labels for task_id, labels in off.items() if task_id not in foreign}
    if off:
        logger.warning(
            "%d annotated task(s) have labels that configs/taxonomy.yaml lacks (%s) and are "
            "left out of the manifest: ids %s; relabel them within the taxonomy",
            len(off),
            ", ".join(sorted({label for labels in off.values() for label in labels})),
            _ids(list(off)),
        )
    left_out = set(foreign) | set(off)
    return [t for t in tasks if t.task_id not in left_out], foreign, off


def build_report(
    tasks: Sequence[AnnotatedTask],
    taxonomy: Taxonomy,
    *,
    method: MergeMethod,
    document_root: Path,
    out_dir: Path,
) -> PullReport:
    tasks, foreign, off_taxonomy = _set_aside(tasks)
    votes: list[Votes] = [t.votes for t in tasks]
    outcome = merge_all(votes, taxonomy, method=method)
    rows, disagreements = [], []
    for task, merged in zip(tasks, outcome.merged, strict=True):
        rows.append(_row(task, merged.labels, document_root=document_root, out_dir=out_dir))
        disagreements += _disagreement_rows(task, merged.disagreed, merged.unresolved, taxonomy)
    pairs = [(t.prediction, labels) for t in tasks if t.prediction for _, labels in t.votes]
    return PullReport(
        rows=rows,
        agreement=agreement_by_head(votes, taxonomy),
        corrections=count_corrections(pairs, taxonomy=taxonomy),
        weights=outcome.weights,
        disagreements=disagreements,
        not_from_push=foreign,
        off_taxonomy=off_taxonomy,
    )


def report_paths(manifest_path: Path) -> tuple[Path, Path]:
    """Where a pull into `manifest_path` puts its report and its disagreements."""
    return (
        manifest_path.with_suffix(".report.json"),
        manifest_path.with_suffix(".disagreements.csv"),
    )


def write_report(report: PullReport, manifest_path: Path) -> tuple[Path, Path, Path]:
    """The manifest, `<name>.report.json` and `<name>.disagreements.csv`: all three are written
    under temporary names first and renamed into place only when every one is whole, so a
    failure leaves the old three (or none) and no temporary file."""
    report_path, disagreements_path = report_paths(manifest_path)
    with (
        atomic_file(report_path) as report_tmp,
        atomic_file(disagreements_path) as disagreements_tmp,
        atomic_file(manifest_path) as manifest_tmp,
    ):
        write_manifest(manifest_tmp, report.rows)
        report_tmp.write_text(json.dumps(report.to_dict(), indent=2), encoding="utf-8")
        with disagreements_tmp.open("w", newline="", encoding="utf-8") as handle:
            columns = ["sha256", "photo", "task_id", "head", "answers", "resolved"]
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(report.disagreements)
    return manifest_path, report_path, disagreements_path


def pull(
    conn: Connection,
    project_id: int,
    *,
    taxonomy: Taxonomy,
    document_root: Path,
    out: Path,
    method: MergeMethod,
) -> PullReport:
    """Fetch, merge, measure and write; nothing is written unless the fetch succeeded."""
    tasks = fetch_annotated(conn, project_id, taxonomy)
    report = build_report(
        tasks,
        taxonomy,
        method=method,
        document_root=document_root.resolve(),
        out_dir=out.resolve().parent,
    )
    write_report(report, out)
    logger.info("pulled %d annotated photos into %s", len(report.rows), out)
    return report
