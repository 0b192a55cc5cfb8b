"""Reading Label Studio's annotated tasks: one photo's votes, and the model answers they began from.

One vote per annotator and photo: their latest submitted (not cancelled) annotation, over all
the photo's tasks (a photo pushed twice is two tasks, `same_photo`). Each vote carries the
prediction it started from, where that is known (`prediction_seen`). A copy of a photo nobody
answered is no part of its votes, yet it is named (`ProjectAnswers.several_tasks`): it waits in
the annotators' queue. annotation.export turns these into manifest rows and the pull report.
"""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from annotation.client import Connection, LabelStudioAnswerError
from annotation.corrections import latest_model_version, prediction_seen, saved_order
from annotation.label_config import PhotoLabels, read_result
from shanyraq.taxonomy import Taxonomy

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnnotatedTask:
    """One photo's answers: `votes` one per annotator; `started_from` the model's answer each
    vote began from, in vote order (None where there was none; empty when not known);
    `copies` the ids of the photo's other tasks, merged into this one; `conflicts` the task
    data (sha256, family_id, split) on which those tasks disagree (see _set_aside)."""

    task_id: int
    data: dict[str, Any]
    votes: list[tuple[str, PhotoLabels]]
    started_from: tuple[PhotoLabels | None, ...] = ()
    off_taxonomy: tuple[str, ...] = ()  # labels the taxonomy lacks in the answers that count
    copies: tuple[int, ...] = ()
    conflicts: tuple[str, ...] = ()

    @property
    def task_ids(self) -> list[int]:
        return sorted((self.task_id, *self.copies))

    def correction_pairs(self) -> list[tuple[PhotoLabels, PhotoLabels]]:
        """(model's answer, annotator's answer) for each vote that started from a prediction."""
        starts = self.started_from or (None,) * len(self.votes)
        return [
            (seen, labels)
            for seen, (_, labels) in zip(starts, self.votes, strict=True)
            if seen is not None
        ]


@dataclass(frozen=True)
class _Answer:
    annotator: str
    saved: tuple[float, int]
    labels: PhotoLabels
    off_taxonomy: tuple[str, ...]
    started_from: PhotoLabels | None


def _as_dict(item: Any) -> dict[str, Any]:
    return item if isinstance(item, dict) else item.model_dump()


def _annotator(annotation: dict[str, Any]) -> str:
    """Who made an annotation: the user's id. Label Studio sets it to null when the user is
    deleted; such annotations cannot be told apart by person, so each is an annotator of its
    own, not all of them one whose latest answer would hide the others'. Some exports give the
    user as an object: its id is the annotator."""
    who = annotation.get("completed_by")
    if isinstance(who, Mapping):
        who = who.get("id")
    return f"deleted user (annotation {annotation.get('id')})" if who is None else str(who)


def _answers(task: Any, taxonomy: Taxonomy, model_version: str | None) -> list[_Answer]:
    """The task's submitted (not cancelled) annotations with a room or with labels the
    taxonomy lacks, each with the prediction it started from (`prediction_seen`), both read
    by `read_result`. An annotation's one-answer head given several answers
    ('room=kitchen|bedroom') is left out of its labels and named in `off_taxonomy`, as a label
    the taxonomy lacks is: without a room it is no vote, and build_report names it. A
    prediction's such head is left out of the answer it is compared with (no correction is
    counted on it, nor, without a room, on its condition and signs) and logged as a warning
    naming the task: it is the model's answer, not one an annotator can fix."""
    predictions = [_as_dict(p) for p in (task.predictions or [])]
    answers: list[_Answer] = []
    model_several: dict[str, tuple[str, ...]] = {}  # prediction id -> heads it answers twice
    for a in (_as_dict(a) for a in (task.annotations or [])):
        if a.get("was_cancelled"):
            continue
        reading = read_result(taxonomy, a.get("result") or [])
        off = reading.off_taxonomy + reading.several
        if reading.labels.room is None and not off:
            continue
        seen = prediction_seen(a, predictions, model_version=model_version)
        started = None if seen is None else read_result(taxonomy, seen.get("result") or [])
        if seen is not None and started is not None and started.several:
            model_several[str(seen.get("id"))] = started.several
        answers.append(
            _Answer(
                _annotator(a),
                saved_order(a, "updated_at", "created_at"),
                reading.labels,
                off,
                None if started is None else started.labels,
            )
        )
    for prediction_id, several in model_several.items():
        logger.warning(
            "task %s: prediction %s gives several answers to one head (%s); that head is not "
            "compared with the annotators' answers",
            getattr(task, "id", "?"),
            prediction_id,
            ", ".join(several),
        )
    return answers


def _one_photo(
    tasks: Sequence[Any], taxonomy: Taxonomy, model_version: str | None
) -> AnnotatedTask:
    """The votes on one photo, over all its tasks: one per annotator, their latest answer.
    Label Studio lets one user submit several annotations of a task (another tab, the API),
    and a photo pushed twice is two tasks; counted apart, one person's answers would outvote
    the others and agree with themselves. A latest answer with labels the taxonomy lacks is
    named in `off_taxonomy` (see build_report). A task nobody answered is not one of the
    photo's copies and its data no conflict: no annotator saw it."""
    per_task = [(task, _answers(task, taxonomy, model_version)) for task in tasks]
    answered = [task for task, answers in per_task if answers] or list(tasks)
    first = min(answered, key=lambda t: int(t.id))
    latest: dict[str, _Answer] = {}
    for _, answers in per_task:
        for answer in answers:
            kept = latest.get(answer.annotator)
            if kept is None or answer.saved >= kept.saved:
                latest[answer.annotator] = answer
    by_id = sorted(latest.values(), key=lambda a: a.saved[1])  # in annotation id order
    voting = [a for a in by_id if a.labels.room is not None]
    return AnnotatedTask(
        task_id=int(first.id),
        data=dict(first.data or {}),
        votes=[(a.annotator, a.labels) for a in voting],
        started_from=tuple(a.started_from for a in voting),
        off_taxonomy=tuple(dict.fromkeys(label for a in by_id for label in a.off_taxonomy)),
        copies=tuple(sorted(int(t.id) for t in answered if t is not first)),
        conflicts=_conflicts(answered),
    )


def _data(task: Any) -> dict[str, Any]:
    data = getattr(task, "data", None)
    return data if isinstance(data, dict) else {}


def _conflicts(tasks: Sequence[Any]) -> tuple[str, ...]:
    """The task data that one photo's tasks disagree on."""
    fields = ("sha256", "family_id", "split")
    return tuple(f for f in fields if len({str(_data(t).get(f) or "") for t in tasks}) > 1)


def same_photo(tasks: Sequence[Any]) -> list[list[Any]]:
    """Tasks grouped by photo, in the order of each photo's first task: tasks `push` made that
    share a sha256 (one photo, pushed twice by two pushes at once, or from two paths) or a
    photo path (one file) are one photo. A task without both is a photo of its own."""
    parent = list(range(len(tasks)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_with: dict[tuple[str, str], int] = {}
    for i, task in enumerate(tasks):
        data = _data(task)
        sha256, photo = str(data.get("sha256") or ""), str(data.get("photo") or "")
        if not (sha256 and photo):
            continue
        for key in (("sha256", sha256), ("photo", posixpath.normpath(photo))):
            a, b = root(i), root(first_with.setdefault(key, i))
            parent[max(a, b)] = min(a, b)
    groups: dict[int, list[Any]] = {}
    for i, task in enumerate(tasks):
        groups.setdefault(root(i), []).append(task)
    return list(groups.values())


def parse_task(task: Any, taxonomy: Taxonomy, *, model_version: str | None = None) -> AnnotatedTask:
    """One task's votes (`_one_photo`). `model_version` is the project's (what Label Studio
    showed annotators, `prediction_seen`); without it, the task's newest prediction's is taken
    for it."""
    if model_version is None:
        model_version = latest_model_version([_as_dict(p) for p in (task.predictions or [])])
    return _one_photo([task], taxonomy, model_version)


@dataclass(frozen=True)
class ProjectAnswers:
    """What pull reads of a project: `annotated`, every photo with at least one submitted
    annotation (with a room, or with labels the taxonomy lacks, which build_report names), a
    photo in several tasks one (`same_photo`), its annotators' votes pooled; `several_tasks`,
    the task ids of each photo in more than one task, annotated or not."""

    annotated: list[AnnotatedTask]
    several_tasks: list[tuple[int, ...]]


def read_project(
    conn: Connection, project_id: int, taxonomy: Taxonomy, *, model_version: str | None = None
) -> ProjectAnswers:
    """Every task of the project, read once. Not `only_annotated`: some Label Studio versions
    ignore it and others honour it, and a copy of a photo nobody labelled must be seen either
    way, to be named (it is labelled again otherwise). `model_version` is the project's
    (`project_model_version`; "" when it has none); without it, the version of the project's
    newest prediction is taken for it, which an ML backend or a manual import adding
    predictions after the last push makes wrong."""
    with conn.errors("reading annotations"):
        tasks: list[Any] = list(
            conn.sdk.tasks.list(project=project_id, fields="all", page_size=200)
        )
    version = model_version
    if version is None:
        predictions: list[dict[str, Any]] = []
        for task in tasks:
            with _readable(conn, task):
                predictions += [_as_dict(p) for p in (task.predictions or [])]
        version = latest_model_version(predictions)
    parsed, several = [], []
    for photo in same_photo(tasks):
        with _readable(conn, *photo):
            parsed.append(_one_photo(photo, taxonomy, version))
            if len(photo) > 1:
                several.append(tuple(sorted(int(t.id) for t in photo)))
    return ProjectAnswers([t for t in parsed if t.votes or t.off_taxonomy], sorted(several))


def project_model_version(conn: Connection, project_id: int) -> str:
    """The project's model version, "" when it has none: Label Studio shows annotators only
    the predictions of it (those with none, when it has none). `annotate push` sets it
    (project.set_model_version), as Label Studio does on the first import of predictions; an
    ML backend or a manual import adding predictions later leaves it."""
    with conn.errors("reading the project's model version"):
        project = conn.sdk.projects.get(project_id)
    return str(getattr(project, "model_version", None) or "")


def fetch_annotated(
    conn: Connection, project_id: int, taxonomy: Taxonomy, *, model_version: str | None = None
) -> list[AnnotatedTask]:
    """The project's annotated photos (`read_project`)."""
    return read_project(conn, project_id, taxonomy, model_version=model_version).annotated


@contextmanager
def _readable(conn: Connection, *tasks: Any) -> Iterator[None]:
    """One error naming the tasks (one photo's) when one is not in the shape Label Studio
    gives tasks (another version, or not Label Studio)."""
    try:
        yield
    except (TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
        ids = ", ".join(str(getattr(task, "id", "?")) for task in tasks)
        raise LabelStudioAnswerError(
            f"Label Studio at {conn.url} sent task{'s' if len(tasks) > 1 else ''} {ids} in a shape "
            f"Shanyraq cannot read ({type(exc).__name__}: {exc}); check that the server is "
            "a Label Studio version label-studio-sdk works with (nothing was written)"
        ) from None
