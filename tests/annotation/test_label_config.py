"""The label config follows the taxonomy; results round-trip to labels."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from annotation.label_config import (
    PhotoLabels,
    build_label_config,
    labels_from_result,
    read_marker,
    result_from_labels,
    taxonomy_marker,
)
from shanyraq.taxonomy import Taxonomy
from tests.annotation.helpers import choices


def test_config_has_every_label_of_the_taxonomy_in_order(taxonomy):
    config = build_label_config(taxonomy)
    assert [c.get("value") for c in choices(config, "room")] == taxonomy.room_names
    grades = choices(config, "condition")
    assert [c.get("value") for c in grades] == [
        f"{g.value} {g.name}" for g in taxonomy.condition.grades
    ]
    assert [c.get("hint") for c in grades] == [g.description for g in taxonomy.condition.grades]
    assert [c.get("value") for c in choices(config, "signs")] == taxonomy.sign_names
    root = ET.fromstring(config)
    kinds = {e.get("name"): e.get("choice") for e in root.iter("Choices")}
    assert kinds == {"room": "single-radio", "condition": "single-radio", "signs": "multiple"}


def test_changing_the_taxonomy_changes_config_and_marker(taxonomy):
    data = taxonomy.model_dump()
    data["version"] = taxonomy.version + 1
    data["room"]["classes"].insert(0, {"name": "hallway", "description": "Entrance corridor."})
    newer = Taxonomy.model_validate(data)
    assert build_label_config(newer) != build_label_config(taxonomy)
    assert choices(build_label_config(newer), "room")[0].get("value") == "hallway"
    assert read_marker("notes " + taxonomy_marker(taxonomy)) == (
        taxonomy.version,
        taxonomy.fingerprint(),
    )
    assert read_marker(taxonomy_marker(newer)) != read_marker(taxonomy_marker(taxonomy))
    assert read_marker("no marker here") is None


def test_labels_round_trip_through_results(taxonomy):
    for labels in [
        PhotoLabels("kitchen", 2, frozenset({"damp_mould", "broken_window"})),
        PhotoLabels("bedroom", 5, frozenset()),
        PhotoLabels("not_dwelling", None, frozenset()),
    ]:
        assert labels_from_result(taxonomy, result_from_labels(taxonomy, labels)) == labels


def test_not_dwelling_drops_condition_and_signs_ticked_anyway(taxonomy):
    ticked = result_from_labels(taxonomy, PhotoLabels("kitchen", 1, frozenset({"damp_mould"})))
    ticked[0]["value"]["choices"] = ["not_dwelling"]
    assert labels_from_result(taxonomy, ticked) == PhotoLabels("not_dwelling", None, frozenset())
    assert labels_from_result(taxonomy, []) == PhotoLabels(None, None, None)
