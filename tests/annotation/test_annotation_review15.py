"""Annotation, from a review: copies of a photo nobody labelled, ties that empty part of a
photo's labels, and the order a batch of picks comes out in.

Pull's tasks are built as Label Studio's task list gives them (`LseTask`); a connection that
honours `only_annotated` stands in for the server, and one test pulls from a real one.
"""

from __future__ import annotations

import json
import logging
from contextlib import nullcontext
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import numpy as np
import pytest
from label_studio_sdk.types.lse_task import LseTask

from annotation.agreement import merge_votes
from annotation.client import connect
from annotation.export import build_report, fetch_annotated, pull, write_report
from annotation.label_config import PhotoLabels as L
from annotation.label_config import result_from_labels
from annotation.project import init_project
from annotation.select import SelectionParams, select_batch, warm_start
from annotation.settings import load_annotation_config
from annotation.tasks import prediction_from_score, push_rows, task_for_row
from annotation.uncertainty import HeadProbabilities, combined_uncertainty
from shanyraq.manifest import read_manifest
from shanyraq.taxonomy import HeadName
from tests.annotation.pull_helpers import annotation_of
from vision.score import PhotoScore

from .helpers import make_manifest
from .label_studio_server_helpers import LabelStudioServer

SHA_A, SHA_B, SHA_C = "ab" * 32, "cd" * 32, "ef" * 32
KITCHEN = L("kitchen", 3, frozenset())
SHIPPED = load_annotation_config().selection  # configs/annotation.yaml


def _task(task_id: int, annotations: list[dict], *, sha256: str, photo: str) -> LseTask:
    data = {"photo": photo, "sha256": sha256, "family_id": "f1", "split": "train"}
    return LseTask(id=task_id, data=data, annotations=annotations, predictions=[])


class _Tasks:
    """The project's task list, as Label Studio answers it: `only_annotated` keeps the tasks
    with an annotation; without fields="all" a task comes without annotations."""

    def __init__(self, tasks: list[LseTask]) -> None:
        self.tasks = tasks

    def list(self, *, only_annotated: bool = False, fields: str | None = None, **_: object):
        kept = [t for t in self.tasks if t.annotations or not only_annotated]
        if fields == "all":
            return kept
        return [LseTask(id=t.id, data=t.data) for t in kept]


class _Conn:
    url = "http://label-studio.test"

    def __init__(self, tasks: list[LseTask]) -> None:
        # The project's model version: none set (annotation.answers.project_model_version).
        project = SimpleNamespace(model_version=None)
        self.sdk = SimpleNamespace(
            tasks=_Tasks(tasks), projects=SimpleNamespace(get=lambda i: project)
        )

    def errors(self, action: str) -> nullcontext[None]:
        return nullcontext()


def _pull(tasks: list[LseTask], taxonomy: Any, tmp_path: Path) -> Any:
    """`pull` of the project holding `tasks`, merged by majority, into tmp_path/labels.csv."""
    return pull(
        _Conn(tasks),  # type: ignore[arg-type]
        1,
        taxonomy=taxonomy,
        document_root=tmp_path,
        out=tmp_path / "labels.csv",
        method="majority",
    )


# --- 1. copies of one photo, annotated or not ---


def test_a_copy_nobody_annotated_is_reported_so_it_can_be_deleted(taxonomy, tmp_path, caplog):
    """Photo A was pushed twice (two pushes at once); one task was labelled, its copy never
    was and waits in the annotators' queue. Photo C is in one task, unlabelled: no copy."""
    tasks = [
        _task(1, [annotation_of(taxonomy, 1, 7, KITCHEN)], sha256=SHA_A, photo="bulk/a.jpg"),
        _task(2, [annotation_of(taxonomy, 2, 7, KITCHEN)], sha256=SHA_B, photo="bulk/b.jpg"),
        _task(3, [], sha256=SHA_A, photo="bulk/a.jpg"),
        _task(4, [], sha256=SHA_C, photo="bulk/c.jpg"),
    ]
    out = tmp_path / "labels.csv"
    with caplog.at_level(logging.WARNING, logger="annotation.export"):
        report = pull(
            _Conn(tasks),  # type: ignore[arg-type]
            1,
            taxonomy=taxonomy,
            document_root=tmp_path,
            out=out,
            method="majority",
        )
    assert report.to_dict()["duplicate_tasks"] == [{"tasks": [1, 3], "annotated": [1]}]
    assert report.to_dict()["duplicate_tasks_merged"] == 0  # nothing to merge: one labelled
    assert len(read_manifest(out).rows) == 2
    saved = json.loads(out.with_suffix(".report.json").read_text(encoding="utf-8"))
    assert saved["duplicate_tasks"] == [{"tasks": [1, 3], "annotated": [1]}]
    (warning,) = [r.getMessage() for r in caplog.records if "several tasks" in r.getMessage()]
    assert "1, 3" in warning and "delete" in warning


def test_copies_that_were_both_annotated_are_reported_and_merged(taxonomy, tmp_path):
    tasks = [
        _task(1, [annotation_of(taxonomy, 1, 7, KITCHEN)], sha256=SHA_A, photo="bulk/a.jpg"),
        _task(5, [annotation_of(taxonomy, 2, 8, KITCHEN)], sha256=SHA_A, photo="bulk/a-copy.jpg"),
        _task(6, [], sha256=SHA_A, photo="bulk/a.jpg"),
    ]
    report = _pull(tasks, taxonomy, tmp_path)
    summary = report.to_dict()
    assert summary["duplicate_tasks"] == [{"tasks": [1, 5, 6], "annotated": [1, 5]}]
    assert summary["duplicate_tasks_merged"] == 1 and summary["photos"] == 1


def test_merged_copies_are_reported_without_the_projects_task_list(taxonomy, tmp_path):
    """build_report alone (no listing of the project's tasks) still names the copies it
    merged."""
    tasks = [
        _task(1, [annotation_of(taxonomy, 1, 7, KITCHEN)], sha256=SHA_A, photo="bulk/a.jpg"),
        _task(5, [annotation_of(taxonomy, 2, 8, KITCHEN)], sha256=SHA_A, photo="bulk/a.jpg"),
    ]
    parsed = fetch_annotated(_Conn(tasks), 1, taxonomy)  # type: ignore[arg-type]
    report = build_report(
        parsed, taxonomy, method="majority", document_root=tmp_path, out_dir=tmp_path
    )
    assert report.to_dict()["duplicate_tasks"] == [{"tasks": [1, 5], "annotated": [1, 5]}]


def test_a_copy_nobody_annotated_gives_the_row_no_data_and_no_conflict(taxonomy, tmp_path):
    """Task 1, pushed first, was never labelled: the row is task 2's, at its path. Task 4
    holds another file at task 3's path (it changed on disk and was pushed again); nobody
    saw task 4, so task 3's answers are not in doubt and its photo is written."""
    tasks = [
        _task(1, [], sha256=SHA_A, photo="bulk/a.jpg"),
        _task(2, [annotation_of(taxonomy, 1, 7, KITCHEN)], sha256=SHA_A, photo="bulk/a-copy.jpg"),
        _task(3, [annotation_of(taxonomy, 2, 7, KITCHEN)], sha256=SHA_B, photo="bulk/b.jpg"),
        _task(4, [], sha256=SHA_C, photo="bulk/b.jpg"),
    ]
    report = _pull(tasks, taxonomy, tmp_path)
    rows = {r.sha256: r for r in report.rows}
    assert (rows[SHA_A].path, rows[SHA_A].extra["label_studio_task"]) == ("bulk/a-copy.jpg", "2")
    assert rows[SHA_B].extra["label_studio_task"] == "3"
    summary = report.to_dict()
    assert summary["tasks_conflicting_copies"] == [] and summary["duplicate_tasks_merged"] == 0
    assert summary["duplicate_tasks"] == [
        {"tasks": [1, 2], "annotated": [2]},
        {"tasks": [3, 4], "annotated": [3]},
    ]


# --- 2. a tie on one sign ---


def test_a_sign_tie_names_the_tied_sign(taxonomy):
    votes = [
        ("a", L("kitchen", 2, frozenset({"damp_mould", "broken_window"}))),
        ("b", L("kitchen", 2, frozenset({"damp_mould"}))),
    ]
    merged = merge_votes(votes, taxonomy)
    assert merged.labels == L("kitchen", 2, None)
    assert merged.tied_signs == ("broken_window",)


def test_the_pull_summary_names_photos_whose_labels_a_tie_left_empty(taxonomy, tmp_path, caplog):
    """The manifest has no "unknown" for one sign (DESIGN.md: labels per head; an empty signs
    cell is "not labelled"), so a tie on damp empties the photo's signs: the summary says which
    photo, which heads are empty and which sign tied, so one more vote can settle it."""
    tied_sign = [
        annotation_of(taxonomy, 1, 7, L("kitchen", 2, frozenset({"damp_mould"}))),
        annotation_of(taxonomy, 2, 8, L("kitchen", 2, frozenset())),
    ]
    home_or_not = [
        annotation_of(taxonomy, 3, 7, L("bedroom", 3, frozenset())),
        annotation_of(taxonomy, 4, 8, L("not_dwelling", None, frozenset())),
    ]
    agreed = [annotation_of(taxonomy, 5, 7, KITCHEN), annotation_of(taxonomy, 6, 8, KITCHEN)]
    tasks = [
        _task(1, tied_sign, sha256=SHA_A, photo="bulk/a.jpg"),
        _task(2, home_or_not, sha256=SHA_B, photo="bulk/b.jpg"),
        _task(3, agreed, sha256=SHA_C, photo="bulk/c.jpg"),
    ]
    parsed = fetch_annotated(_Conn(tasks), 1, taxonomy)  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="annotation.export"):
        report = build_report(
            parsed, taxonomy, method="majority", document_root=tmp_path, out_dir=tmp_path
        )
    assert report.to_dict()["labels_left_empty_by_a_tie"] == [
        {
            "tasks": [1],
            "photo": "bulk/a.jpg",
            "tied": ["signs"],
            "tied_signs": ["damp_mould"],
            "empty": ["signs"],
        },
        {
            "tasks": [2],
            "photo": "bulk/b.jpg",
            "tied": ["room"],
            "tied_signs": [],
            "empty": ["room", "condition", "signs"],
        },
    ]
    manifest, report_path, _ = write_report(report, tmp_path / "labels.csv")
    rows = {r.sha256: r for r in read_manifest(manifest).rows}
    assert (rows[SHA_A].room, rows[SHA_A].condition, rows[SHA_A].signs) == ("kitchen", 2, None)
    saved = json.loads(report_path.read_text(encoding="utf-8"))
    assert [e["tasks"] for e in saved["labels_left_empty_by_a_tie"]] == [[1], [2]]
    (warning,) = [r.getMessage() for r in caplog.records if "tie" in r.getMessage()]
    assert "2 photo(s)" in warning and "damp_mould" in warning


# --- 3. the order of a batch ---


def _room_probs(uncertainty: np.ndarray) -> HeadProbabilities:
    """Probabilities whose room margin is exactly `uncertainty` (other heads weigh nothing)."""
    top = (1 + (1 - uncertainty)) / 2
    room = np.stack([top, 1 - top], axis=1)
    return HeadProbabilities(room=room, condition=room, signs=np.zeros((len(room), 0)))


ROOM_ONLY: dict[HeadName, float] = {"room": 1.0, "condition": 0.0, "signs": 0.0}


def _clusters() -> tuple[np.ndarray, np.ndarray]:
    """Four tight clusters; the tightest (its central photo nearest its centre) is the surest,
    the loosest the least sure."""
    rng = np.random.default_rng(4)
    spread = [0.05, 0.15, 0.3, 0.45]
    certainty = [0.2, 0.4, 0.6, 0.9]
    emb = np.concatenate([np.eye(4)[c] * 5 + rng.normal(0, spread[c], (8, 4)) for c in range(4)])
    uncertainty = np.concatenate(
        [np.full(8, certainty[c]) + rng.uniform(0, 0.05, 8) for c in range(4)]
    )
    return emb, uncertainty


@pytest.mark.parametrize("pick", ["central", "uncertain"])
def test_kmeans_picks_come_most_uncertain_first(pick):
    """A user who labels only the first picks of a batch should get its most valuable ones:
    one per cluster as before, in order of uncertainty, not of how central each pick is."""
    emb, uncertainty = _clusters()
    params = SelectionParams(
        budget=4, pool_factor=10, diversity="kmeans", pick=pick, head_weights=ROOM_ONLY
    )
    chosen = select_batch(_room_probs(uncertainty), emb, params)
    assert sorted(i // 8 for i in chosen) == [0, 1, 2, 3]
    picked = uncertainty[chosen]
    assert list(picked) == sorted(picked, reverse=True)


def test_kcenter_picks_come_in_greedy_order_most_uncertain_first():
    """k-center greedy already orders by value: each pick is the best gain given those before
    it, so any first few are the batch that budget would pick; the first is the most
    uncertain."""
    emb, uncertainty = _clusters()
    params = SelectionParams(budget=4, pool_factor=10, diversity="kcenter", head_weights=ROOM_ONLY)
    chosen = select_batch(_room_probs(uncertainty), emb, params)
    assert chosen[0] == int(np.argmax(uncertainty))
    for n in (1, 2, 3):
        assert select_batch(_room_probs(uncertainty), emb, params.with_budget(n)) == chosen[:n]


def test_warm_start_still_picks_one_central_photo_per_cluster():
    emb, _ = _clusters()
    picked = warm_start(emb, 4, seed=0, params=SelectionParams(budget=4))
    assert sorted(i // 8 for i in picked) == [0, 1, 2, 3]


# --- push: the prediction score ranks as select does ---


def _score(taxonomy, *, room_top: float, sign_p: float) -> PhotoScore:
    rooms = taxonomy.room_names
    room = {
        r: room_top if k == 0 else (1 - room_top) / (len(rooms) - 1) for k, r in enumerate(rooms)
    }
    grades = taxonomy.condition_values
    condition = {g: 0.96 if k == 0 else 0.01 for k, g in enumerate(grades)}
    signs = dict.fromkeys(taxonomy.sign_names, sign_p)
    return PhotoScore("a" * 64, "m1", room, condition, signs, np.zeros(4, dtype=np.float32))


def test_prediction_scores_rank_photos_as_select_does(taxonomy):
    """Label Studio's uncertainty sampling serves the lowest prediction score first; push
    computed it with every head weighted 1, select with the configured weights (signs 0.5),
    so a photo unsure only of its signs came before one select ranks above it."""
    params = SHIPPED.params(budget=1)
    unsure_signs = _score(taxonomy, room_top=0.99, sign_p=0.5)
    unsure_room = _score(taxonomy, room_top=0.5, sign_p=0.01)
    ranked = combined_uncertainty(
        [unsure_signs, unsure_room], method=params.method, head_weights=params.weights()
    )
    assert ranked[1] > ranked[0]  # select: the room-unsure photo first
    scores = [
        prediction_from_score(s, taxonomy, sign_threshold=0.5, ranking=params)["score"]
        for s in (unsure_signs, unsure_room)
    ]
    assert scores[1] < scores[0]
    assert scores == pytest.approx([1 - ranked[0], 1 - ranked[1]], abs=1e-6)


# --- against a real Label Studio ---


@pytest.mark.integration
@pytest.mark.slow
def test_pull_from_a_real_server_reports_an_unannotated_copy(
    label_studio: LabelStudioServer, taxonomy, tmp_path: Path
):
    """The copy nobody labelled is named with the annotated task, and it is no merged copy:
    the Label Studio in use lists unannotated tasks even when asked for annotated ones only
    (others do not), so pull reads every task and tells them apart itself."""
    conn = connect(label_studio.url, label_studio.personal_token)
    rows = make_manifest(label_studio.photos_dir, tmp_path / "in" / "m.csv", 2, prefix="dup15")
    info = init_project(
        conn,
        title="Copies 15",
        taxonomy=taxonomy,
        photos_dir=label_studio.photos_dir,
        document_root=label_studio.document_root,
    )
    push = dict(
        manifest_root=tmp_path / "in",
        document_root=label_studio.document_root,
        scores={},
        taxonomy=taxonomy,
        sign_threshold=0.5,
        batch_size=10,
    )
    push_rows(conn, info.id, rows, **push)
    # A second push that raced the first: photo 0 imported again.
    copy = task_for_row(
        rows[0],
        manifest_root=tmp_path / "in",
        document_root=label_studio.document_root.resolve(),
        score=None,
        taxonomy=taxonomy,
        sign_threshold=0.5,
    )
    conn.sdk.projects.import_tasks(info.id, request=cast(Any, [copy]), return_task_ids=True)
    by_photo: dict[str, list[int]] = {}
    listed: list[Any] = list(conn.sdk.tasks.list(project=info.id, page_size=100))
    for t in listed:
        by_photo.setdefault(t.data["sha256"], []).append(int(t.id))
    first, again = sorted(by_photo[rows[0].sha256])
    (other,) = by_photo[rows[1].sha256]
    for task_id in (first, other):
        conn.sdk.annotations.create(
            task_id,
            result=result_from_labels(taxonomy, KITCHEN),
            completed_by=label_studio.annotator_ids[0],
        )
    out = tmp_path / "out" / "labels.csv"
    report = pull(
        conn,
        info.id,
        taxonomy=taxonomy,
        document_root=info.document_root,
        out=out,
        method="majority",
    )
    assert len(read_manifest(out).rows) == 2
    assert report.to_dict()["duplicate_tasks"] == [{"tasks": [first, again], "annotated": [first]}]
