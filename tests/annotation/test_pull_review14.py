"""Pull on projects a campaign grows into: tasks with several predictions (an ML backend, a
newer model), one photo in two tasks, and ties that leave part of a photo's labels unknown.

Tasks are built as Label Studio's task list gives them (`LseTask`, annotations and
predictions as dicts); no server is needed.
"""

from __future__ import annotations

import csv
import json

from annotation.agreement import merge_votes
from annotation.export import fetch_annotated, parse_task, write_report
from annotation.label_config import PhotoLabels as L
from shanyraq.manifest import read_manifest
from tests.annotation.pull_helpers import (
    BEDROOM,
    KITCHEN,
    SHA_A,
    SHA_B,
    FakeConnection,
    annotation_of,
    changed_counts,
    listed_task,
    prediction_of,
    pulled_report,
)

NOT_DWELLING = L("not_dwelling", None, frozenset())


# --- 1. which prediction an annotation is compared with ---


def test_corrections_compare_with_the_prediction_the_annotator_started_from(taxonomy, tmp_path):
    """Label Studio records the prediction an annotation began from: the annotator kept the
    older model's bedroom, so nothing was corrected, though the task's last prediction (a
    newer model's kitchen) differs."""
    task = listed_task(
        1,
        [annotation_of(taxonomy, 1, 7, BEDROOM, parent=5)],
        [
            prediction_of(taxonomy, 5, "m1", BEDROOM, day=1),
            prediction_of(taxonomy, 9, "m2", KITCHEN, day=2),
        ],
    )
    assert changed_counts(pulled_report(taxonomy, tmp_path, [task]))["room"] == (1, 0)


def test_without_a_parent_the_newest_pushed_version_is_compared(taxonomy, tmp_path):
    """An annotation that names no prediction (made through the API, an older Label Studio)
    is compared with the prediction of the version pushed last, whatever the list order."""
    task = listed_task(
        1,
        [annotation_of(taxonomy, 1, 7, KITCHEN)],
        [
            prediction_of(taxonomy, 9, "m2", KITCHEN, day=2),  # newer, listed first
            prediction_of(taxonomy, 5, "m1", BEDROOM, day=1),
        ],
    )
    report = pulled_report(taxonomy, tmp_path, [task])
    assert changed_counts(report)["room"] == (1, 0)
    assert report.corrections["room"].changes == {}


def test_the_version_pushed_last_is_the_projects_not_the_tasks_newest(taxonomy, tmp_path):
    """Task 2 also holds a later prediction of another model (an ML backend): Label Studio
    shows annotators the project's model version, the one push set last (m2, as task 1's
    prediction shows), so task 2's m2 prediction is the one compared."""
    tasks = [
        listed_task(
            1,
            [annotation_of(taxonomy, 1, 7, KITCHEN)],
            [prediction_of(taxonomy, 1, "m2", KITCHEN, 9)],
        ),
        listed_task(
            2,
            [annotation_of(taxonomy, 2, 7, BEDROOM)],
            [
                prediction_of(taxonomy, 2, "m2", BEDROOM, day=3),
                prediction_of(taxonomy, 3, "backend-x", KITCHEN, day=5),
            ],
            sha256=SHA_B,
        ),
    ]
    assert changed_counts(pulled_report(taxonomy, tmp_path, tasks))["room"] == (2, 0)


def test_a_parent_prediction_deleted_since_is_not_replaced_by_another(taxonomy, tmp_path):
    """The prediction the annotator started from is gone: comparing with another model's
    would count a change the annotator never made."""
    task = listed_task(
        1,
        [annotation_of(taxonomy, 1, 7, BEDROOM, parent=4), annotation_of(taxonomy, 2, 8, BEDROOM)],
        [prediction_of(taxonomy, 9, "m2", KITCHEN, day=2)],
    )
    report = pulled_report(taxonomy, tmp_path, [task])
    assert changed_counts(report)["room"] == (1, 1)  # only annotator 8's, against the m2 kitchen


def test_each_annotator_is_compared_with_their_own_start(taxonomy):
    task = listed_task(
        1,
        [annotation_of(taxonomy, 1, 7, KITCHEN, parent=5), annotation_of(taxonomy, 2, 8, KITCHEN)],
        [
            prediction_of(taxonomy, 5, "m1", BEDROOM, day=1),
            prediction_of(taxonomy, 9, "m2", KITCHEN, day=2),
        ],
    )
    parsed = parse_task(task, taxonomy)
    assert parsed.correction_pairs() == [(BEDROOM, KITCHEN), (KITCHEN, KITCHEN)]


# --- 2. one photo in two tasks ---


def test_two_tasks_of_one_photo_are_one_row_with_their_votes_pooled(taxonomy, tmp_path):
    """Two pushes that raced imported one photo twice: annotator 7 labelled one task, 8 and 9
    the other; the photo is one row, labelled by all three."""
    tasks = [
        listed_task(3, [annotation_of(taxonomy, 1, 7, KITCHEN)]),
        listed_task(
            8, [annotation_of(taxonomy, 2, 8, BEDROOM), annotation_of(taxonomy, 3, 9, BEDROOM)]
        ),
    ]
    report = pulled_report(taxonomy, tmp_path, tasks)
    (row,) = report.rows
    assert (row.sha256, row.room, row.extra["annotators"]) == (SHA_A, "bedroom", "3")
    assert row.extra["label_studio_task"] == "3;8"
    assert row.path == "bulk/3.jpg"  # the first task's copy
    assert report.agreement["room"].photos == 1
    summary = report.to_dict()
    assert summary["duplicate_tasks_merged"] == 1 and summary["photos"] == 1
    manifest, report_path, _ = write_report(report, tmp_path / "labels.csv")
    assert len(read_manifest(manifest).rows) == 1
    assert json.loads(report_path.read_text(encoding="utf-8"))["duplicate_tasks_merged"] == 1


def test_one_annotator_of_both_copies_votes_once_with_the_latest_answer(taxonomy, tmp_path):
    tasks = [
        listed_task(
            3, [annotation_of(taxonomy, 1, 7, KITCHEN), annotation_of(taxonomy, 2, 8, BEDROOM)]
        ),
        listed_task(8, [annotation_of(taxonomy, 5, 7, BEDROOM)]),  # 7 again, later: bedroom
    ]
    (task,) = fetch_annotated(FakeConnection(tasks), 1, taxonomy)  # type: ignore[arg-type]
    assert task.votes == [("8", BEDROOM), ("7", BEDROOM)]
    (row,) = pulled_report(taxonomy, tmp_path, tasks).rows
    assert (row.room, row.extra["annotators"]) == ("bedroom", "2")


def test_copies_at_two_paths_of_one_photo_are_merged(taxonomy, tmp_path):
    tasks = [
        listed_task(3, [annotation_of(taxonomy, 1, 7, KITCHEN)], photo="a/x.jpg"),
        listed_task(4, [annotation_of(taxonomy, 2, 8, KITCHEN)], photo="b/x-copy.jpg"),
    ]
    (row,) = pulled_report(taxonomy, tmp_path, tasks).rows
    assert (row.path, row.extra["annotators"]) == ("a/x.jpg", "2")


def test_copies_that_disagree_on_the_photo_or_its_family_are_left_out_and_named(taxonomy, tmp_path):
    """The file at one path was pushed with two sha256 (it changed on disk between pushes:
    which did each annotator see?), and one sha256 was pushed for two families: neither is
    written with a guess; both are named."""
    tasks = [
        listed_task(1, [annotation_of(taxonomy, 1, 7, KITCHEN)], photo="p/x.jpg", sha256=SHA_A),
        listed_task(2, [annotation_of(taxonomy, 2, 8, KITCHEN)], photo="p/x.jpg", sha256=SHA_B),
        listed_task(3, [annotation_of(taxonomy, 3, 7, BEDROOM)], sha256="ef" * 32, family="f1"),
        listed_task(4, [annotation_of(taxonomy, 4, 8, BEDROOM)], sha256="ef" * 32, family="f2"),
        listed_task(5, [annotation_of(taxonomy, 5, 7, BEDROOM)], sha256="12" * 32),
    ]
    report = pulled_report(taxonomy, tmp_path, tasks)
    assert [r.extra["label_studio_task"] for r in report.rows] == ["5"]
    assert report.to_dict()["tasks_conflicting_copies"] == [
        {"tasks": [1, 2], "differ": ["sha256"]},
        {"tasks": [3, 4], "differ": ["family_id"]},
    ]
    assert report.to_dict()["duplicate_tasks_merged"] == 0


def test_a_copy_answered_off_the_taxonomy_leaves_the_whole_photo_out(taxonomy, tmp_path):
    hallway = annotation_of(taxonomy, 2, 8, KITCHEN)
    hallway["result"][0]["value"]["choices"] = ["hallway"]
    tasks = [listed_task(3, [annotation_of(taxonomy, 1, 7, KITCHEN)]), listed_task(8, [hallway])]
    report = pulled_report(taxonomy, tmp_path, tasks)
    assert report.rows == []
    assert report.to_dict()["tasks_off_taxonomy"] == {"3": ["room=hallway"]}


def test_corrections_of_merged_copies_use_each_copys_prediction(taxonomy, tmp_path):
    tasks = [
        listed_task(
            3,
            [annotation_of(taxonomy, 1, 7, KITCHEN)],
            [prediction_of(taxonomy, 1, "m1", KITCHEN, 1)],
        ),
        listed_task(
            8,
            [annotation_of(taxonomy, 2, 8, KITCHEN)],
            [prediction_of(taxonomy, 2, "m1", BEDROOM, 1)],
        ),
    ]
    report = pulled_report(taxonomy, tmp_path, tasks)
    assert changed_counts(report)["room"] == (2, 1)
    assert report.corrections["room"].changes == {"bedroom -> kitchen": 1}


# --- 3. and 4. ties ---


def test_a_room_tie_between_rooms_of_a_home_keeps_the_agreed_condition_and_signs(taxonomy):
    """Kitchen against bathroom: both saw a home, in the same condition with the same damp.
    The room is unknown; condition and signs are agreed, and the manifest holds them."""
    damp = frozenset({"damp_mould"})
    tie = merge_votes([("a", L("kitchen", 2, damp)), ("b", L("bathroom", 2, damp))], taxonomy)
    assert tie.labels == L(None, 2, damp)
    assert tie.unresolved == ("room",) and tie.disagreed == ("room",)


def test_a_room_tie_with_a_majority_for_a_home_merges_condition_from_the_home(taxonomy):
    votes = [
        ("a", L("kitchen", 2, frozenset())),
        ("b", L("bathroom", 2, frozenset())),
        ("c", NOT_DWELLING),
    ]
    merged = merge_votes(votes, taxonomy)
    assert merged.labels == L(None, 2, frozenset()) and merged.unresolved == ("room",)


def test_a_room_tie_on_whether_it_is_a_home_leaves_every_head_unknown(taxonomy):
    merged = merge_votes([("a", L("kitchen", 2, frozenset())), ("b", NOT_DWELLING)], taxonomy)
    assert merged.labels == L(None, None, None) and merged.unresolved == ("room",)


def test_a_room_tie_keeps_the_condition_in_the_written_manifest(taxonomy, tmp_path):
    tasks = [
        listed_task(
            1,
            [
                annotation_of(taxonomy, 1, 7, L("kitchen", 2, frozenset())),
                annotation_of(taxonomy, 2, 8, L("bathroom", 2, frozenset())),
            ],
        )
    ]
    report = pulled_report(taxonomy, tmp_path, tasks)
    manifest, _, disagreements = write_report(report, tmp_path / "labels.csv")
    (row,) = read_manifest(manifest).rows
    assert (row.room, row.condition, row.signs) == (None, 2, frozenset())
    with disagreements.open(encoding="utf-8") as handle:
        (disputed,) = csv.DictReader(handle)
    assert (disputed["head"], disputed["resolved"], disputed["answers"]) == (
        "room",
        "no",
        "7=kitchen | 8=bathroom",
    )


def test_a_sign_tie_leaves_the_signs_unknown_and_keeps_room_and_condition(taxonomy):
    """The manifest has no "unknown" for one sign: any set written would say the tied sign
    was seen, or was not. The signs head stays unlabelled; room and condition are kept."""
    votes = [
        ("a", L("kitchen", 2, frozenset({"damp_mould", "broken_window"}))),
        ("b", L("kitchen", 2, frozenset({"damp_mould"}))),
    ]
    merged = merge_votes(votes, taxonomy)
    assert merged.labels == L("kitchen", 2, None) and merged.unresolved == ("signs",)


def test_predictions_without_a_version_are_compared_by_age(taxonomy):
    """Predictions imported with no model_version (by hand, an old export): the newest is
    the one compared, not the first that lacks a version."""
    task = listed_task(
        1,
        [annotation_of(taxonomy, 1, 7, KITCHEN)],
        [
            {**prediction_of(taxonomy, 2, "m1", KITCHEN, day=4), "model_version": None},
            {**prediction_of(taxonomy, 1, "m1", BEDROOM, day=1), "model_version": None},
        ],
    )
    assert parse_task(task, taxonomy).correction_pairs() == [(KITCHEN, KITCHEN)]
