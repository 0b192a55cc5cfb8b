"""How often annotators changed the model's pre-annotation, per head.

A high rate on a head says the model is weak there; the changed photos are the ones the next
training run most needs. Only annotations of tasks that carried a prediction are counted, and
a head counts only where both the model and the annotator gave an answer: condition and signs
only where both saw a home (a not_dwelling answer has none, though it is parsed with an empty
set of signs).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
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
