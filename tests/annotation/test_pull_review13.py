"""Pull on annotations Label Studio stores in shapes a campaign produces: annotations whose
user was deleted, labels the taxonomy does not have (a choice added to the project's config
in Label Studio, an imported annotation)."""

from __future__ import annotations

import csv
import json

from label_studio_sdk.types.lse_task import LseTask

from annotation.export import AnnotatedTask, build_report, parse_task, write_report
from annotation.label_config import PhotoLabels as L
from annotation.label_config import labels_off_taxonomy, result_from_labels
from shanyraq.manifest import read_manifest

SHA = "ab" * 32


def _annotation(taxonomy, annotation_id: int, who: int | None, result: list) -> dict:
    return {
        "id": annotation_id,
        "completed_by": who,
        "result": result,
        "was_cancelled": False,
        "created_at": "2025-01-01T09:00:00Z",
        "updated_at": f"2025-01-01T09:{annotation_id:02d}:00Z",
    }


def _labelled(taxonomy, annotation_id: int, who: int | None, labels: L) -> dict:
    return _annotation(taxonomy, annotation_id, who, result_from_labels(taxonomy, labels))


def _task(task_id: int, annotations: list[dict]) -> LseTask:
    data = {"photo": f"bulk/{task_id}.jpg", "sha256": SHA, "family_id": "f1", "split": "train"}
    return LseTask(id=task_id, data=data, annotations=annotations)


def _with_choice(taxonomy, labels: L, head: str, choices: list[str]) -> list[dict]:
    """The result of `labels` with the choices of `head` replaced (added if absent)."""
    result = result_from_labels(taxonomy, labels)
    for item in result:
        if item["from_name"] == head:
            item["value"]["choices"] = choices
            return result
    return [*result, {**result[0], "from_name": head, "value": {"choices": choices}}]


def test_annotations_of_deleted_users_are_not_one_annotator(taxonomy):
    """Label Studio sets completed_by to null when a user is deleted: two deleted annotators
    are two votes, not one annotator whose latest answer hides the other's."""
    kitchen, bedroom = L("kitchen", 3, frozenset()), L("bedroom", 3, frozenset())
    task = _task(
        1,
        [
            _labelled(taxonomy, 1, None, bedroom),
            _labelled(taxonomy, 2, None, kitchen),
            _labelled(taxonomy, 3, 7, kitchen),
        ],
    )
    votes = parse_task(task, taxonomy).votes
    assert [labels for _, labels in votes] == [bedroom, kitchen, kitchen]
    assert len({who for who, _ in votes}) == 3
    assert votes[2][0] == "7"  # a present user is still named by id


def test_deleted_users_are_not_pooled_into_one_reliability_weight(taxonomy, tmp_path):
    kitchen, bedroom = L("kitchen", 3, frozenset()), L("bedroom", 3, frozenset())
    tasks = [
        parse_task(
            _task(
                i,
                [
                    _labelled(taxonomy, 10 * i, None, kitchen),
                    _labelled(taxonomy, 10 * i + 1, None, bedroom),
                ],
            ),
            taxonomy,
        )
        for i in range(1, 4)
    ]
    report = build_report(
        tasks, taxonomy, method="reliability", document_root=tmp_path, out_dir=tmp_path
    )
    assert all(row.extra["annotators"] == "2" for row in report.rows)
    assert len(report.disagreements) == 3  # each photo: one deleted annotator against another
    assert report.agreement["room"].photos == 3


def test_labels_off_taxonomy_are_named(taxonomy):
    kitchen = L("kitchen", 2, frozenset({"damp_mould"}))
    assert labels_off_taxonomy(taxonomy, result_from_labels(taxonomy, kitchen)) == ()
    assert labels_off_taxonomy(taxonomy, _with_choice(taxonomy, kitchen, "room", ["hallway"])) == (
        "room=hallway",
    )
    signs = _with_choice(taxonomy, kitchen, "signs", ["damp_mould", "leaking_roof"])
    assert labels_off_taxonomy(taxonomy, signs) == ("signs=leaking_roof",)
    grade = _with_choice(taxonomy, kitchen, "condition", ["3 fair"])
    assert labels_off_taxonomy(taxonomy, grade) == ("condition=3 fair",)
    # A not_dwelling answer has no condition or signs, whatever was ticked: nothing to name.
    hidden = _with_choice(taxonomy, L("not_dwelling", None, frozenset()), "signs", ["leaking_roof"])
    assert labels_off_taxonomy(taxonomy, hidden) == ()
    other_control = [{**result_from_labels(taxonomy, kitchen)[0], "from_name": "comment"}]
    assert labels_off_taxonomy(taxonomy, other_control) == ()


def test_a_room_off_the_taxonomy_does_not_let_the_minority_label_the_photo(taxonomy, tmp_path):
    """Two annotators answered a room the project's config gained in Label Studio but the
    taxonomy lacks, one answered bedroom: the photo is not written as a unanimous bedroom."""
    hallway = _with_choice(taxonomy, L("kitchen", 3, frozenset()), "room", ["hallway"])
    task = _task(
        1,
        [
            _annotation(taxonomy, 1, 7, hallway),
            _annotation(taxonomy, 2, 8, hallway),
            _labelled(taxonomy, 3, 9, L("bedroom", 2, frozenset())),
        ],
    )
    parsed = parse_task(task, taxonomy)
    assert parsed.off_taxonomy == ("room=hallway",)
    report = build_report(
        [parsed], taxonomy, method="majority", document_root=tmp_path, out_dir=tmp_path
    )
    assert report.rows == []
    assert report.to_dict()["tasks_off_taxonomy"] == {"1": ["room=hallway"]}


def test_a_task_answered_only_off_the_taxonomy_is_named_not_lost(taxonomy, tmp_path):
    from annotation.export import fetch_annotated

    class Tasks:
        def list(self, **_):
            hallway = _with_choice(taxonomy, L("kitchen", 3, frozenset()), "room", ["hallway"])
            return [_task(1, [_annotation(taxonomy, 1, 7, hallway)])]

    class Conn:
        url = "http://label-studio.test"
        sdk = type("Sdk", (), {"tasks": Tasks()})()

        def errors(self, action):
            from contextlib import nullcontext

            return nullcontext()

    tasks = fetch_annotated(Conn(), 1, taxonomy)  # type: ignore[arg-type]
    assert [t.task_id for t in tasks] == [1]
    report = build_report(
        tasks, taxonomy, method="majority", document_root=tmp_path, out_dir=tmp_path
    )
    assert report.rows == [] and report.to_dict()["tasks_off_taxonomy"] == {"1": ["room=hallway"]}


def test_a_sign_off_the_taxonomy_leaves_the_photo_out_and_named(taxonomy, tmp_path):
    """An annotator's latest answer ticks a sign the taxonomy lacks: writing the photo with
    the sign dropped would record fewer signs than were seen."""
    damp = L("kitchen", 2, frozenset({"damp_mould"}))
    edited = _with_choice(taxonomy, damp, "signs", ["damp_mould", "leaking_roof"])
    clean = AnnotatedTask(2, {"photo": "bulk/b.jpg", "sha256": "cd" * 32}, [("7", damp)])
    off = parse_task(
        _task(1, [_labelled(taxonomy, 1, 7, damp), _annotation(taxonomy, 2, 7, edited)]), taxonomy
    )
    report = build_report(
        [off, clean], taxonomy, method="majority", document_root=tmp_path, out_dir=tmp_path
    )
    assert [r.extra["label_studio_task"] for r in report.rows] == ["2"]
    manifest, report_path, disagreements = write_report(report, tmp_path / "labels.csv")
    assert [r.sha256 for r in read_manifest(manifest).rows] == ["cd" * 32]
    saved = json.loads(report_path.read_text(encoding="utf-8"))
    assert saved["tasks_off_taxonomy"] == {"1": ["signs=leaking_roof"]}
    with disagreements.open(encoding="utf-8") as handle:
        assert list(csv.DictReader(handle)) == []


def test_an_earlier_answer_off_the_taxonomy_does_not_count(taxonomy, tmp_path):
    """Only each annotator's latest answer is read: one corrected since is not named."""
    kitchen = L("kitchen", 3, frozenset())
    hallway = _with_choice(taxonomy, kitchen, "room", ["hallway"])
    parsed = parse_task(
        _task(1, [_annotation(taxonomy, 1, 7, hallway), _labelled(taxonomy, 2, 7, kitchen)]),
        taxonomy,
    )
    assert parsed.off_taxonomy == () and parsed.votes == [("7", kitchen)]
