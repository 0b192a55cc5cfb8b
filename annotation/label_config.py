"""The Label Studio labelling config, generated from the taxonomy, and its result format.

Three controls named after the heads: `room` (single choice), `condition` (ordered single
choice, each grade's description as its hint) and `signs` (multiple choice). Condition and
signs are hidden for `not_dwelling` photos, which carry neither. Room and condition are
required, which Label Studio's UI checks only on a shown control (not on a not_dwelling
photo's grade); signs stay optional, "no sign" being an empty answer. The project description
holds a marker with the taxonomy's version and fingerprint so an older project is detected; a
project made with an older config (condition optional) is found as a changed config.
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
        f'  <Choices name="condition" toName="{IMAGE_TAG}" choice="single-radio" required="true">',
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


_ONE_ANSWER_HEADS = ("room", "condition")


@dataclass(frozen=True)
class ResultReading:
    """What a result says: `labels`; `off_taxonomy`, the choices the taxonomy lacks
    ('signs=leaking_roof'), dropped from `labels`; `several`, the one-answer heads given more
    than one answer ('room=kitchen|bedroom'), left out of `labels` (None)."""

    labels: PhotoLabels
    off_taxonomy: tuple[str, ...] = ()
    several: tuple[str, ...] = ()


def _choices_by_head(result: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Each head's choices over all its items, in order, each once: a result made through
    the API, imported, or saved under a config edited to `choice="multiple"` can split a
    head over several items."""
    by_head: dict[str, list[str]] = {}
    for item in result or []:
        head = item.get("from_name")
        if item.get("type") == "choices" and head in ("room", "condition", "signs"):
            given = by_head.setdefault(head, [])
            given += [c for c in item.get("value", {}).get("choices", []) if c not in given]
    return by_head


def read_result(taxonomy: Taxonomy, result: list[dict[str, Any]]) -> ResultReading:
    """The one reading of a Label Studio result, an annotator's or a model's.

    A one-answer head (room, condition) given several answers, in one item or over several,
    is left out and named in `several`: reading the first or the last item would record a
    guess as the answer. Signs split over several items are their union. A labelled dwelling
    with no signs ticked has no signs (an empty set); a not_dwelling photo has no condition
    and no signs whatever was ticked, and they are not read, so not named. Each caller says
    what it does with `off_taxonomy` and `several`."""
    by_head = _choices_by_head(result)
    home = by_head.get("room") != [taxonomy.not_dwelling]
    several = [
        h for h in _ONE_ANSWER_HEADS if len(by_head.get(h, [])) > 1 and (h == "room" or home)
    ]
    named = tuple(f"{h}={'|'.join(by_head.pop(h))}" for h in several)
    known = {
        "room": set(taxonomy.room_names),
        "condition": {condition_choice(taxonomy, v) for v in taxonomy.condition_values},
        "signs": set(taxonomy.sign_names),
    }
    heads = list(known) if home else ["room"]
    off = tuple(f"{h}={c}" for h in heads for c in by_head.get(h, []) if c not in known[h])
    return ResultReading(_labels(taxonomy, by_head), off, named)


def _labels(taxonomy: Taxonomy, by_head: dict[str, list[str]]) -> PhotoLabels:
    """Labels of one answer per one-answer head; choices the taxonomy lacks are dropped."""
    rooms = [r for r in by_head.get("room", []) if r in taxonomy.room_names]
    if not rooms:
        return PhotoLabels(room=None, condition=None, signs=None)
    if rooms[0] == taxonomy.not_dwelling:
        return PhotoLabels(room=rooms[0], condition=None, signs=frozenset())
    grade_of = {condition_choice(taxonomy, v): v for v in taxonomy.condition_values}
    grades = [grade_of[c] for c in by_head.get("condition", []) if c in grade_of]
    signs = frozenset(s for s in by_head.get("signs", []) if s in taxonomy.sign_names)
    return PhotoLabels(room=rooms[0], condition=grades[0] if grades else None, signs=signs)


def labels_off_taxonomy(taxonomy: Taxonomy, result: list[dict[str, Any]]) -> tuple[str, ...]:
    """The choices of a result the taxonomy does not have, as 'head=choice' (`read_result`):
    a choice added to the project's config in Label Studio, or an imported annotation."""
    return read_result(taxonomy, result).off_taxonomy


def labels_from_result(taxonomy: Taxonomy, result: list[dict[str, Any]]) -> PhotoLabels:
    """The labels of a result (`read_result`): a head given several answers is None, and
    choices the taxonomy lacks are dropped; `read_result` names both."""
    return read_result(taxonomy, result).labels
