"""How often annotators changed the model's pre-annotation, per head.

A high rate on a head says the model is weak there; the changed photos are the ones the next
training run most needs. Only annotations of tasks that carried a prediction are counted, and
a head counts only where both the model and the annotator gave an answer: condition and signs
only where both saw a home (a not_dwelling answer has none, though it is parsed with an empty
set of signs).

Each annotation is compared with the prediction it started from (`prediction_seen`), not with
whichever prediction the task lists last: a task can hold several (a newer model pushed, an
ML backend), and a change counted against one the annotator never saw is no correction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from annotation.label_config import PhotoLabels
from shanyraq.taxonomy import HEADS, HeadName, Taxonomy


@dataclass(frozen=True)
class HeadCorrections:
    compared: int
    changed: int
    # (model's answer, annotator's answer) -> count, for the commonest changes
    changes: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float | None:
        return self.changed / self.compared if self.compared else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "compared": self.compared,
            "changed": self.changed,
            "rate": self.rate,
            "changes": self.changes,
        }


def saved_order(item: Mapping[str, Any], *stamps: str) -> tuple[float, int]:
    """When a Label Studio object was saved (POSIX time of the first of `stamps` it has, 0
    when none or unreadable), then its id: the order of annotations, or of predictions.
    A time stamp without a time zone is taken as UTC, the time Label Studio stores: read as
    this machine's local time, it would sort against stamps with one ("...Z") by the offset."""
    saved = next((item.get(key) for key in stamps if item.get(key)), None)
    try:
        when = datetime.fromisoformat(str(saved)) if saved else None
        if when is not None and when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        stamp = when.timestamp() if when is not None else 0.0
    except ValueError:
        stamp = 0.0
    try:
        number = int(item.get("id") or 0)
    except (TypeError, ValueError):
        number = 0
    return (stamp, number)


def _newest(predictions: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The prediction made last (created_at, then id, then place in the list)."""
    if not predictions:
        return None
    ranked = enumerate(predictions)
    return max(ranked, key=lambda item: (saved_order(item[1], "created_at"), item[0]))[1]


def latest_model_version(predictions: Sequence[Mapping[str, Any]]) -> str | None:
    """The model version of the newest prediction: the one `annotate push` pushed last, and
    set as the project's model version, which is what Label Studio shows annotators."""
    newest = _newest([p for p in predictions if p.get("model_version")])
    return None if newest is None else str(newest["model_version"])


def prediction_seen(
    annotation: Mapping[str, Any],
    predictions: Sequence[Mapping[str, Any]],
    *,
    model_version: str | None,
) -> Mapping[str, Any] | None:
    """The prediction an annotation is compared with.

    The one Label Studio records it started from (`parent_prediction`), when it names one;
    None when that prediction is no longer among the task's (deleted since): another model's
    answer would count changes the annotator never made. An annotation that names none (made
    through the API, by a Label Studio that does not record it) is compared with the task's
    newest prediction of `model_version`, the project's (the version pushed last,
    `latest_model_version`): Label Studio shows annotators only the predictions of it (those
    with none, when it has none). None when the task has none of it (pushed with an older
    model, or holding only an ML backend's): the annotator saw no prediction.
    """
    parent = annotation.get("parent_prediction")
    if parent is not None:
        return next((p for p in predictions if str(p.get("id")) == str(parent)), None)
    version = model_version or ""
    return _newest([p for p in predictions if str(p.get("model_version") or "") == version])


def _answer(labels: PhotoLabels, head: HeadName, *, not_dwelling: str) -> str | None:
    value = getattr(labels, head)
    if value is None or (head != "room" and labels.room in (None, not_dwelling)):
        return None
    if head == "signs":
        return ";".join(sorted(value)) or "none"
    return str(value)


def count_corrections(
    pairs: Sequence[tuple[PhotoLabels, PhotoLabels]],
    *,
    taxonomy: Taxonomy,
    top: int = 10,
) -> dict[HeadName, HeadCorrections]:
    """`pairs` are (model's labels, annotator's labels), one per annotation; `taxonomy` names
    the not_dwelling room."""
    not_dwelling = taxonomy.not_dwelling
    result: dict[HeadName, HeadCorrections] = {}
    for head in HEADS:
        compared, changed = 0, 0
        changes: Counter[str] = Counter()
        for predicted, annotated in pairs:
            before = _answer(predicted, head, not_dwelling=not_dwelling)
            after = _answer(annotated, head, not_dwelling=not_dwelling)
            if before is None or after is None:
                continue
            compared += 1
            if before != after:
                changed += 1
                changes[f"{before} -> {after}"] += 1
        result[head] = HeadCorrections(compared, changed, dict(changes.most_common(top)))
    return result
