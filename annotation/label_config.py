"""The Label Studio labelling config, generated from the taxonomy, and its result format.

Three controls named after the heads: `room` (single choice), `condition` (ordered single
choice, each grade's description as its hint) and `signs` (multiple choice). Condition and
signs are hidden for `not_dwelling` photos, which carry neither. The project description holds
a marker with the taxonomy's version and fingerprint so an older project is detected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import quoteattr

from shanyraq.taxonomy import Taxonomy

IMAGE_TAG = "image"
_MARKER_RE = re.compile(r"shanyraq-taxonomy version=(\d+) fingerprint=([0-9a-f]{64})")


@dataclass(frozen=True)
class PhotoLabels:
    """One annotator's (or the model's) answer for one photo; None = not given."""

    room: str | None
    condition: int | None
    signs: frozenset[str] | None


def condition_choice(taxonomy: Taxonomy, value: int) -> str:
    """The choice text of a grade, e.g. '1 emergency': the number keeps the order visible."""
    return f"{value} {taxonomy.grade(value).name}"


def _choice(value: str, hint: str) -> str:
    return f"    <Choice value={quoteattr(value)} hint={quoteattr(hint)}/>"


def _hidden_for_not_dwelling(taxonomy: Taxonomy) -> str:
    return (
        'visibleWhen="choice-unselected" whenTagName="room" '
        f"whenChoiceValue={quoteattr(taxonomy.not_dwelling)}"
    )


def build_label_config(taxonomy: Taxonomy) -> str:
    """The XML config for a project labelling photos against `taxonomy`."""
    hidden = _hidden_for_not_dwelling(taxonomy)
    rooms = [_choice(c.name, c.description) for c in taxonomy.room.classes]
    grades = [
        _choice(condition_choice(taxonomy, g.value), g.description)
        for g in taxonomy.condition.grades
    ]
    signs = [_choice(s.name, s.description) for s in taxonomy.signs.classes]
    lines = [
        "<View>",
        f'  <Image name="{IMAGE_TAG}" value="$image" zoom="true"/>',
        f"  <Header value={quoteattr('Room: ' + taxonomy.room.description)}/>",
        f'  <Choices name="room" toName="{IMAGE_TAG}" choice="single-radio" required="true">',
        *rooms,
        "  </Choices>",
        f"  <View {hidden}>",
        f"  <Header value={quoteattr('Condition: ' + taxonomy.condition.description)}/>",
        f'  <Choices name="condition" toName="{IMAGE_TAG}" choice="single-radio">',
        *grades,
        "  </Choices>",
        f"  <Header value={quoteattr('Signs: ' + taxonomy.signs.description)}/>",
        f'  <Choices name="signs" toName="{IMAGE_TAG}" choice="multiple">',
        *signs,
        "  </Choices>",
        "  </View>",
        "</View>",
    ]
    return "\n".join(lines) + "\n"


def taxonomy_marker(taxonomy: Taxonomy) -> str:
    return f"shanyraq-taxonomy version={taxonomy.version} fingerprint={taxonomy.fingerprint()}"


def read_marker(description: str | None) -> tuple[int, str] | None:
    """(version, fingerprint) from a project description, or None if it has no marker."""
    match = _MARKER_RE.search(description or "")
    return (int(match.group(1)), match.group(2)) if match else None


def _item(head: str, choices: list[str], score: float | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "from_name": head,
        "to_name": IMAGE_TAG,
        "type": "choices",
        "value": {"choices": choices},
    }
    if score is not None:
        item["score"] = round(float(score), 6)
    return item


def result_from_labels(
    taxonomy: Taxonomy, labels: PhotoLabels, *, scores: dict[str, float] | None = None
) -> list[dict[str, Any]]:
    """Label Studio `result` items for `labels` (heads that are None are left out)."""
    scores = scores or {}
    items = []
    if labels.room is not None:
        items.append(_item("room", [labels.room], scores.get("room")))
    if labels.condition is not None:
        choice = condition_choice(taxonomy, labels.condition)
        items.append(_item("condition", [choice], scores.get("condition")))
    if labels.signs:
        items.append(_item("signs", sorted(labels.signs), scores.get("signs")))
    return items


def _choices_by_head(result: list[dict[str, Any]]) -> dict[str, list[str]]:
    by_head: dict[str, list[str]] = {}
    for item in result or []:
        if item.get("type") == "choices" and item.get("from_name") in (
            "room",
            "condition",
            "signs",
        ):
            by_head[item["from_name"]] = list(item.get("value", {}).get("choices", []))
    return by_head


def labels_off_taxonomy(taxonomy: Taxonomy, result: list[dict[str, Any]]) -> tuple[str, ...]:
    """The choices of a result the taxonomy does not have, as 'head=choice': a choice added
    to the project's config in Label Studio, or an imported annotation. `labels_from_result`
    drops them, so the answer it gives is not the annotator's. The condition and signs of a
    not_dwelling answer are not read, so they are not named."""
    by_head = _choices_by_head(result)
    known = {
        "room": set(taxonomy.room_names),
        "condition": {condition_choice(taxonomy, v) for v in taxonomy.condition_values},
        "signs": set(taxonomy.sign_names),
    }
    heads = ["room"] if taxonomy.not_dwelling in by_head.get("room", []) else list(known)
    return tuple(f"{h}={c}" for h in heads for c in by_head.get(h, []) if c not in known[h])


def labels_from_result(taxonomy: Taxonomy, result: list[dict[str, Any]]) -> PhotoLabels:
    """Parse a submitted result. A labelled dwelling with no signs ticked has no signs
    (an empty set); a not_dwelling photo has no condition and no signs whatever was ticked.
    Choices the taxonomy does not have are dropped (`labels_off_taxonomy` names them)."""
    by_head = _choices_by_head(result)
    rooms = [r for r in by_head.get("room", []) if r in taxonomy.room_names]
    room = rooms[0] if rooms else None
    if room is None:
        return PhotoLabels(room=None, condition=None, signs=None)
    if room == taxonomy.not_dwelling:
        return PhotoLabels(room=room, condition=None, signs=frozenset())
    grade_of = {condition_choice(taxonomy, v): v for v in taxonomy.condition_values}
    grades = [grade_of[c] for c in by_head.get("condition", []) if c in grade_of]
    signs = frozenset(s for s in by_head.get("signs", []) if s in taxonomy.sign_names)
    return PhotoLabels(room=room, condition=grades[0] if grades else None, signs=signs)
