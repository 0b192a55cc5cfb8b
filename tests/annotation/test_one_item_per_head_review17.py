"""Review 17: one rule for several items for one head, in annotations and in predictions.

`read_result` turns a Label Studio result into labels for both: a one-answer head (room,
condition) given several answers is left out and named, never read as the first or the last
item; signs split over several items are their union. Tasks are built as Label Studio's task
list gives them (`LseTask`, annotations and predictions as dicts); no server is needed.
"""

from __future__ import annotations

import logging
from typing import Any

from label_studio_sdk.types.lse_task import LseTask

from annotation.export import parse_task
from annotation.label_config import PhotoLabels as L
from annotation.label_config import labels_from_result, read_result, result_from_labels

KITCHEN = L("kitchen", 3, frozenset())
BEDROOM = L("bedroom", 3, frozenset())
NO_ANSWER = L(None, None, None)


def _choices(head: str, *choices: str) -> dict[str, Any]:
    return {
        "from_name": head,
        "to_name": "image",
        "type": "choices",
        "value": {"choices": [*choices]},
    }


def _task(result: list[dict[str, Any]], prediction: list[dict[str, Any]]) -> LseTask:
    annotation = {
        "id": 1,
        "completed_by": 7,
        "result": result,
        "was_cancelled": False,
        "created_at": "2025-03-01T09:00:00Z",
        "parent_prediction": 5,
    }
    predicted = {"id": 5, "model_version": "m1", "result": prediction, "score": 0.5}
    data = {"photo": "bulk/1.jpg", "sha256": "ab" * 32, "family_id": "f1", "split": "train"}
    return LseTask(id=1, data=data, annotations=[annotation], predictions=[predicted])


# --- the one function ---


def test_two_room_items_are_named_not_read_as_the_last(taxonomy):
    result = [*result_from_labels(taxonomy, KITCHEN), _choices("room", "bedroom")]
    reading = read_result(taxonomy, result)
    assert reading.labels == NO_ANSWER
    assert reading.several == ("room=kitchen|bedroom",)
    assert labels_from_result(taxonomy, result) == NO_ANSWER


def test_two_rooms_in_one_item_are_named_not_read_as_the_first(taxonomy):
    result = [_choices("room", "bedroom", "kitchen"), _choices("condition", "3 basic")]
    reading = read_result(taxonomy, result)
    assert (reading.labels, reading.several) == (NO_ANSWER, ("room=bedroom|kitchen",))


def test_two_grades_leave_the_grade_out_and_keep_the_room(taxonomy):
    result = [_choices("room", "kitchen"), _choices("condition", "2 poor"), _choices("condition")]
    result.append(_choices("condition", "4 good"))
    reading = read_result(taxonomy, result)
    assert reading.labels == L("kitchen", None, frozenset())
    assert reading.several == ("condition=2 poor|4 good",)


def test_two_grades_of_a_not_dwelling_photo_are_not_read_so_not_named(taxonomy):
    result = [_choices("room", "not_dwelling"), _choices("condition", "2 poor", "4 good")]
    reading = read_result(taxonomy, result)
    assert reading == read_result(taxonomy, [_choices("room", "not_dwelling")])
    assert reading.labels == L("not_dwelling", None, frozenset())
    assert (reading.several, reading.off_taxonomy) == ((), ())


def test_signs_over_two_items_are_their_union(taxonomy):
    result = [
        _choices("room", "kitchen"),
        _choices("condition", "2 poor"),
        _choices("signs", "damp_mould"),
        _choices("signs", "broken_window", "damp_mould"),
    ]
    reading = read_result(taxonomy, result)
    assert reading.labels == L("kitchen", 2, frozenset({"damp_mould", "broken_window"}))
    assert reading.several == ()


def test_the_same_room_ticked_twice_is_one_room(taxonomy):
    result = [*result_from_labels(taxonomy, KITCHEN), _choices("room", "kitchen")]
    assert read_result(taxonomy, result).labels == KITCHEN
    assert read_result(taxonomy, result).several == ()


def test_labels_off_taxonomy_are_named_beside_several(taxonomy):
    result = [
        _choices("room", "kitchen", "bedroom"),
        _choices("condition", "3 fair"),
        _choices("signs", "leaking_roof"),
    ]
    reading = read_result(taxonomy, result)
    assert reading.off_taxonomy == ("condition=3 fair", "signs=leaking_roof")
    assert reading.several == ("room=kitchen|bedroom",)


# --- caller 1: annotators' answers (votes) ---


def test_an_answer_with_two_rooms_is_no_vote_and_is_named(taxonomy):
    two_rooms = [*result_from_labels(taxonomy, KITCHEN), _choices("room", "bedroom")]
    parsed = parse_task(_task(two_rooms, result_from_labels(taxonomy, KITCHEN)), taxonomy)
    assert (parsed.votes, parsed.off_taxonomy) == ([], ("room=kitchen|bedroom",))


# --- caller 2: the prediction an answer started from (corrections) ---


def test_a_prediction_with_two_rooms_is_not_read_as_its_last_and_is_logged(taxonomy, caplog):
    """An ML backend's prediction with a kitchen item and a bedroom item: read as its last,
    the annotator's kitchen would count as a correction of a bedroom the model may not have
    meant. The head is left out (nothing compared) and the task named in a warning."""
    prediction = [*result_from_labels(taxonomy, KITCHEN), _choices("room", "bedroom")]
    with caplog.at_level(logging.WARNING, logger="annotation.answers"):
        parsed = parse_task(_task(result_from_labels(taxonomy, KITCHEN), prediction), taxonomy)
    assert parsed.votes == [("7", KITCHEN)]
    assert parsed.started_from == (NO_ANSWER,)
    assert parsed.off_taxonomy == ()  # the model's answer is not the annotator's
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "task 1" in warning and "room=kitchen|bedroom" in warning


def test_a_prediction_with_two_grades_keeps_its_room(taxonomy):
    prediction = [
        _choices("room", "kitchen"),
        _choices("condition", "3 basic"),
        _choices("condition", "2 poor"),
    ]
    parsed = parse_task(_task(result_from_labels(taxonomy, KITCHEN), prediction), taxonomy)
    assert parsed.started_from == (L("kitchen", None, frozenset()),)


def test_a_prediction_with_signs_over_two_items_is_their_union(taxonomy):
    prediction = [
        *result_from_labels(taxonomy, L("kitchen", 2, frozenset({"damp_mould"}))),
        _choices("signs", "broken_window"),
    ]
    parsed = parse_task(_task(result_from_labels(taxonomy, KITCHEN), prediction), taxonomy)
    assert parsed.started_from == (L("kitchen", 2, frozenset({"damp_mould", "broken_window"})),)


def test_a_clean_prediction_is_read_and_logs_nothing(taxonomy, caplog):
    with caplog.at_level(logging.WARNING, logger="annotation.answers"):
        parsed = parse_task(
            _task(result_from_labels(taxonomy, KITCHEN), result_from_labels(taxonomy, BEDROOM)),
            taxonomy,
        )
    assert parsed.correction_pairs() == [(BEDROOM, KITCHEN)]
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
