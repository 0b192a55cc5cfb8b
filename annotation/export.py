"""Pull annotations out of Label Studio into a manifest, with agreement and corrections.

Each photo with at least one submitted (not cancelled) annotation becomes one manifest row
(one vote per annotator: their latest annotation; the tasks of a photo pushed twice are
merged, their votes pooled; a task `push` did not make, copies that disagree on the photo's
sha256, family or split, and answers with labels the taxonomy lacks are left out and named
in the report): labels merged across annotators, path rewritten relative to the output
manifest, family, split and sha256 taken from the task data `push` wrote. Beside the
manifest go a report (agreement per head, corrections of the model per head, annotator
weights, every photo in several tasks, annotated or not, and the photos whose labels a tie
left empty) and a CSV of the photos where annotators disagreed, for review.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from annotation.agreement import (
    HeadAgreement,
    Merged,
    MergeMethod,
    Votes,
    agreement_by_head,
    merge_all,
)
from annotation.answers import AnnotatedTask, project_model_version, read_project
from annotation.answers import fetch_annotated as fetch_annotated  # re-exported: tests, callers
from annotation.answers import parse_task as parse_task  # re-exported: tests, callers
from annotation.client import Connection
from annotation.corrections import (
    HeadCorrections,
    count_corrections,
)
from annotation.label_config import PhotoLabels
from shanyraq.atomic import atomic_file
from shanyraq.manifest import ManifestRow, encode_signs, write_manifest
from shanyraq.taxonomy import HeadName, Taxonomy

logger = logging.getLogger(__name__)

SOURCE = "label-studio"


@dataclass(frozen=True)
class TieEmptied:
    """A photo whose labels a tie left (partly) empty: the heads that tied, the signs that
    tied, and the heads empty in its manifest row (`_tie_emptied`)."""

    task_ids: list[int]
    photo: str
    tied: tuple[HeadName, ...]
    tied_signs: tuple[str, ...]
    empty: tuple[HeadName, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "tasks": self.task_ids,
            "photo": self.photo,
            "tied": list(self.tied),
            "tied_signs": list(self.tied_signs),
            "empty": list(self.empty),
        }


@dataclass
class PullReport:
    rows: list[ManifestRow]
    agreement: dict[HeadName, HeadAgreement]
    corrections: dict[HeadName, HeadCorrections]
    weights: dict[str, float]
    disagreements: list[dict[str, str]] = field(default_factory=list)
    not_from_push: list[int] = field(default_factory=list)  # task ids left out: see build_report
    off_taxonomy: dict[int, list[str]] = field(default_factory=dict)  # left out, with the labels
    duplicates_merged: int = 0  # tasks of a photo merged into its first task
    conflicting_copies: list[dict[str, list[Any]]] = field(default_factory=list)  # left out
    # Every photo in several tasks: {"tasks": ids, "annotated": those with answers}.
    duplicate_tasks: list[dict[str, list[int]]] = field(default_factory=list)
    tie_emptied: list[TieEmptied] = field(default_factory=list)

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
                    **({"why_no_alpha": _why_no_alpha(a)} if math.isnan(a.alpha) else {}),
                }
                for h, a in self.agreement.items()
            },
            "corrections": {h: c.to_dict() for h, c in self.corrections.items()},
            "annotator_weights": {a: round(w, 4) for a, w in sorted(self.weights.items())},
            "disagreements": len(self.disagreements),
            "tasks_not_from_push": self.not_from_push,
            "tasks_off_taxonomy": {str(t): labels for t, labels in self.off_taxonomy.items()},
            "duplicate_tasks_merged": self.duplicates_merged,
            "tasks_conflicting_copies": self.conflicting_copies,
            "duplicate_tasks": self.duplicate_tasks,
            "labels_left_empty_by_a_tie": [t.to_dict() for t in self.tie_emptied],
        }


def _why_no_alpha(agreement: HeadAgreement) -> str:
    """Why a head's alpha is null, in words for the pull report."""
    if agreement.photos == 0:
        return "no photo has answers from two annotators on this head"
    return (
        f"all {agreement.photos} photo(s) with two answers or more got the same answer on this "
        "head, so agreement cannot be told from chance; label more varied photos twice"
    )


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
        extra={"annotators": str(len(task.votes)), "label_studio_task": _task_ids(task)},
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
                "task_id": _task_ids(task),
                "head": head,
                "answers": " | ".join(answers),
                "resolved": "no" if head in unresolved else "yes",
            }
        )
    return rows


def _task_ids(task: AnnotatedTask) -> str:
    return ";".join(map(str, task.task_ids))


def _ids(task_ids: Sequence[int]) -> str:
    return ", ".join(map(str, task_ids[:10])) + (" ..." if len(task_ids) > 10 else "")


@dataclass(frozen=True)
class _SetAside:
    kept: list[AnnotatedTask]
    not_from_push: list[int]
    conflicting: list[dict[str, list[Any]]]
    off_taxonomy: dict[int, list[str]]


def _set_aside(tasks: Sequence[AnnotatedTask]) -> _SetAside:
    """The tasks to write, and those left out, to be named in the report.

    A task that `push` did not make (a storage sync, an upload in Label Studio) has no sha256
    or photo path to rebuild its manifest row from. Tasks of one photo that disagree on its
    sha256 (the file at a path changed between pushes: which one did each annotator see?),
    family or split cannot be one row without a guess. An answer with a label the taxonomy
    lacks (a choice added to the project's config in Label Studio) cannot be written, and
    without it the other answers would label the photo alone.
    """
    foreign = [t.task_id for t in tasks if not (t.data.get("sha256") and t.data.get("photo"))]
    if foreign:
        logger.warning(
            "%d annotated task(s) have no sha256 or photo in their data (not imported by "
            "`shanyraq annotate push`, or edited since) and are left out of the manifest: ids %s",
            len(foreign),
            _ids(foreign),
        )
    conflicting = [t for t in tasks if t.conflicts and t.task_id not in foreign]
    if conflicting:
        logger.warning(
            "%d photo(s) are in several tasks whose %s differ and are left out of the "
            "manifest: tasks %s; delete the wrong task of each in Label Studio",
            len(conflicting),
            "/".join(sorted({f for t in conflicting for f in t.conflicts})),
            _ids([i for t in conflicting for i in t.task_ids]),
        )
    off = {t.task_id: list(t.off_taxonomy) for t in tasks if t.off_taxonomy and not t.conflicts}
    off = {task_id: labels for task_id, labels in off.items() if task_id not in foreign}
    if off:
        logger.warning(
            "%d annotated task(s) have labels that configs/taxonomy.yaml lacks (%s) and are "
            "left out of the manifest: ids %s; relabel them within the taxonomy",
            len(off),
            ", ".join(sorted({label for labels in off.values() for label in labels})),
            _ids(list(off)),
        )
    left_out = set(foreign) | set(off) | {t.task_id for t in conflicting}
    return _SetAside(
        kept=[t for t in tasks if t.task_id not in left_out],
        not_from_push=foreign,
        conflicting=[{"tasks": t.task_ids, "differ": list(t.conflicts)} for t in conflicting],
        off_taxonomy=off,
    )


def _duplicates(
    tasks: Sequence[AnnotatedTask], several: Sequence[Sequence[int]]
) -> list[dict[str, list[int]]]:
    """Each photo in several tasks (`several`, from the project's full task list, plus any
    copies merged here that it lacks), with those of its tasks that were annotated."""
    groups = [tuple(sorted(g)) for g in several]
    listed = {i for g in groups for i in g}
    groups += [tuple(t.task_ids) for t in tasks if t.copies and not set(t.task_ids) <= listed]
    annotated = {i for t in tasks for i in t.task_ids}
    found = [{"tasks": list(g), "annotated": [i for i in g if i in annotated]} for g in groups]
    found.sort(key=lambda d: d["tasks"])
    if found:
        logger.warning(
            "%d photo(s) are in several tasks of the project (tasks %s): annotated copies are "
            "merged into one row; delete the copies nobody annotated in Label Studio, or they "
            "will be labelled again",
            len(found),
            "; ".join(_ids(d["tasks"]) for d in found[:10]) + (" ..." if len(found) > 10 else ""),
        )
    return found


def _tie_emptied(kept: Sequence[AnnotatedTask], merged: Sequence[Merged]) -> list[TieEmptied]:
    """The photos whose labels a tie left (partly) empty. A tie on one sign empties the photo's
    signs (the manifest has no "unknown" for one sign: annotation.agreement), so the report
    names the sign to settle."""
    heads: tuple[HeadName, ...] = ("room", "condition", "signs")
    found = [
        TieEmptied(
            task_ids=task.task_ids,
            photo=str(task.data.get("photo", "")),
            tied=m.unresolved,
            tied_signs=m.tied_signs,
            empty=tuple(h for h in heads if getattr(m.labels, h) is None),
        )
        for task, m in zip(kept, merged, strict=True)
        if m.unresolved
    ]
    if found:
        signs = sorted({s for t in found for s in t.tied_signs})
        logger.warning(
            "%d photo(s) have labels left empty by a tie between annotators%s (tasks %s); "
            "have one more annotator label them and pull again",
            len(found),
            f" (a tie on {', '.join(signs)} empties the photo's signs)" if signs else "",
            _ids([i for t in found for i in t.task_ids]),
        )
    return found


def build_report(
    tasks: Sequence[AnnotatedTask],
    taxonomy: Taxonomy,
    *,
    method: MergeMethod,
    document_root: Path,
    out_dir: Path,
    several_tasks: Sequence[Sequence[int]] = (),
) -> PullReport:
    """`several_tasks`: the task ids of each photo in several tasks of the project, annotated
    or not (`ProjectAnswers.several_tasks`); without it only the copies merged here are named."""
    aside = _set_aside(tasks)
    votes: list[Votes] = [t.votes for t in aside.kept]
    outcome = merge_all(votes, taxonomy, method=method)
    rows, disagreements = [], []
    for task, merged in zip(aside.kept, outcome.merged, strict=True):
        rows.append(_row(task, merged.labels, document_root=document_root, out_dir=out_dir))
        disagreements += _disagreement_rows(task, merged.disagreed, merged.unresolved, taxonomy)
    pairs = [pair for t in aside.kept for pair in t.correction_pairs()]
    return PullReport(
        rows=rows,
        agreement=agreement_by_head(votes, taxonomy),
        corrections=count_corrections(pairs, taxonomy=taxonomy),
        weights=outcome.weights,
        disagreements=disagreements,
        not_from_push=aside.not_from_push,
        off_taxonomy=aside.off_taxonomy,
        duplicates_merged=sum(len(t.copies) for t in aside.kept),
        conflicting_copies=aside.conflicting,
        duplicate_tasks=_duplicates(tasks, several_tasks),
        tie_emptied=_tie_emptied(aside.kept, outcome.merged),
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
    """Fetch, merge, measure and write; nothing is written unless the fetch succeeded.
    Corrections are counted against the predictions the project shows annotators: its model
    version's (`project_model_version`), not whichever prediction came last."""
    shown = project_model_version(conn, project_id)
    project = read_project(conn, project_id, taxonomy, model_version=shown)
    report = build_report(
        project.annotated,
        taxonomy,
        method=method,
        document_root=document_root.resolve(),
        out_dir=out.resolve().parent,
        several_tasks=project.several_tasks,
    )
    write_report(report, out)
    logger.info(
        "pulled %d annotated photos into %s (%d duplicate task(s) merged)",
        len(report.rows),
        out,
        report.duplicates_merged,
    )
    return report
