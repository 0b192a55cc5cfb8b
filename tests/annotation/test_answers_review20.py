"""Which prediction an annotation corrects (review 20): the one Label Studio showed, of the
project's model version, not whichever is newest; and none where it named none and the task
holds none of that version.

Tasks are built as Label Studio's task list gives them (test_pull_review14's helpers); a
connection of plain objects stands in for the server, and one test reads a real one.
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from label_studio_sdk.types.lse_task import LseTask

from annotation.answers import project_model_version, read_project
from annotation.client import LabelStudioAnswerError, connect
from annotation.corrections import count_corrections, latest_model_version
from annotation.export import pull
from annotation.label_config import result_from_labels
from annotation.project import init_project, set_model_version
from annotation.tasks import push_rows
from tests.annotation.pull_helpers import (
    BEDROOM,
    KITCHEN,
    SHA_B,
    annotation_of,
    listed_task,
    prediction_of,
)

from .helpers import make_manifest, score_for
from .label_studio_server_helpers import LabelStudioServer


class _Conn:
    """A connection to a project with `tasks` and model version `version`."""

    url = "http://label-studio.test"

    def __init__(self, tasks: list[Any], version: str | None = "m1") -> None:
        project = SimpleNamespace(id=1, model_version=version)
        self.sdk = SimpleNamespace(
            tasks=SimpleNamespace(list=lambda **_: tasks),
            projects=SimpleNamespace(get=lambda project_id: project),
        )

    def errors(self, action: str) -> nullcontext[None]:
        return nullcontext()


def _pairs(conn: _Conn, taxonomy, **kwargs: Any) -> list[Any]:
    answers = read_project(conn, 1, taxonomy, **kwargs)  # type: ignore[arg-type]
    return [pair for task in answers.annotated for pair in task.correction_pairs()]


def _room(pairs: list[Any], taxonomy) -> tuple[int, int]:
    room = count_corrections(pairs, taxonomy=taxonomy)["room"]
    return room.compared, room.changed


# --- 1. the version pushed last is the project's ---


def test_a_prediction_added_after_the_push_is_not_the_one_corrected(taxonomy):
    """push set the project to m1; an ML backend added a kitchen to the task a day later.
    Label Studio showed the annotator m1's bedroom, which they kept: no correction, though the
    newest prediction in the project is the backend's."""
    task = listed_task(
        1,
        [annotation_of(taxonomy, 1, 7, BEDROOM)],
        [
            prediction_of(taxonomy, 1, "m1", BEDROOM, day=1),
            prediction_of(taxonomy, 2, "backend-x", KITCHEN, day=2),
        ],
    )
    conn = _Conn([task], version="m1")
    version = project_model_version(conn, 1)  # type: ignore[arg-type]
    assert version == "m1"
    pairs = _pairs(conn, taxonomy, model_version=version)
    assert pairs == [(BEDROOM, BEDROOM)]
    assert _room(pairs, taxonomy) == (1, 0)


@pytest.mark.parametrize("unset", [None, ""])
def test_a_project_without_a_model_version_reads_as_empty(taxonomy, unset):
    assert project_model_version(_Conn([], version=unset), 1) == ""  # type: ignore[arg-type]


def test_a_project_showing_no_version_counts_only_named_starts(taxonomy):
    """The project has no model version (predictions switched off): Label Studio showed only
    predictions without one, so an annotation naming none began from none of m1's; one that
    names its prediction is still compared with it."""
    task = listed_task(
        1,
        [annotation_of(taxonomy, 1, 7, KITCHEN), annotation_of(taxonomy, 2, 8, KITCHEN, parent=1)],
        [prediction_of(taxonomy, 1, "m1", BEDROOM, day=1)],
    )
    pairs = _pairs(_Conn([task], version=""), taxonomy, model_version="")
    assert pairs == [(BEDROOM, KITCHEN)]  # annotator 8's only


# --- 2. an annotation naming no prediction ---


def _old_and_new_push(taxonomy) -> list[LseTask]:
    """Task 1 pushed with m2 (the version pushed last) and kept; task 2 pushed earlier with m1
    only, which Label Studio no longer shows: its annotator saw no prediction."""
    new = prediction_of(taxonomy, 1, "m2", KITCHEN, day=9)
    old = prediction_of(taxonomy, 2, "m1", BEDROOM, day=1)
    return [
        listed_task(1, [annotation_of(taxonomy, 1, 7, KITCHEN)], [new]),
        listed_task(2, [annotation_of(taxonomy, 2, 7, KITCHEN)], [old], sha256=SHA_B),
    ]


@pytest.mark.parametrize("given", [True, False])  # the project's version, or the guess
def test_an_older_models_prediction_is_not_corrected_by_an_answer_naming_none(taxonomy, given):
    kwargs = {"model_version": "m2"} if given else {}
    pairs = _pairs(_Conn(_old_and_new_push(taxonomy), version="m2"), taxonomy, **kwargs)
    assert pairs == [(KITCHEN, KITCHEN)]  # before: also (BEDROOM, KITCHEN), a change never made
    assert _room(pairs, taxonomy) == (1, 0)


def test_an_older_models_prediction_named_as_the_start_is_still_corrected(taxonomy):
    task = listed_task(
        2,
        [annotation_of(taxonomy, 2, 7, KITCHEN, parent=2)],
        [prediction_of(taxonomy, 2, "m1", BEDROOM, day=1)],
    )
    assert _pairs(_Conn([task], version="m2"), taxonomy, model_version="m2") == [(BEDROOM, KITCHEN)]


# --- an unreadable copy of a photo is named ---


def test_an_unreadable_copy_is_named_not_only_the_photos_first_task(taxonomy):
    data = {"photo": "bulk/x.jpg", "sha256": SHA_B, "family_id": "f", "split": "train"}
    good = SimpleNamespace(
        id=3, data=data, annotations=[annotation_of(taxonomy, 1, 7, KITCHEN)], predictions=[]
    )
    broken = SimpleNamespace(id=8, data=data, annotations=["not an annotation"], predictions=[])
    with pytest.raises(LabelStudioAnswerError) as caught:
        read_project(_Conn([good, broken]), 1, taxonomy, model_version="m1")  # type: ignore[arg-type]
    assert "sent tasks 3, 8 in a shape" in caught.value.message


# --- against a real Label Studio ---


@pytest.mark.integration
@pytest.mark.slow
def test_a_real_projects_model_version_outlasts_a_later_prediction(
    label_studio: LabelStudioServer, taxonomy, tmp_path: Path
):
    """Label Studio keeps the version push set when another model's prediction is added
    later, and reads it back: the annotation (made through the API, naming no prediction) is
    compared with the pushed bedroom, not the later kitchen."""
    conn = connect(label_studio.url, label_studio.personal_token)
    rows = make_manifest(label_studio.photos_dir, tmp_path / "in" / "m.csv", 1, prefix="mv20")
    info = init_project(
        conn,
        title="Model version 20",
        taxonomy=taxonomy,
        photos_dir=label_studio.photos_dir,
        document_root=label_studio.document_root,
    )
    push_rows(
        conn,
        info.id,
        rows,
        manifest_root=tmp_path / "in",
        document_root=label_studio.document_root,
        scores={rows[0].sha256: score_for(rows[0].sha256, BEDROOM, taxonomy)},
        taxonomy=taxonomy,
        sign_threshold=0.5,
        batch_size=10,
    )
    set_model_version(conn, info.id, "test-model-1")
    (task,) = list(conn.sdk.tasks.list(project=info.id, page_size=100))
    conn.sdk.predictions.create(
        task=int(task.id),
        result=result_from_labels(taxonomy, KITCHEN),
        model_version="backend-x",
        score=0.9,
    )
    conn.sdk.annotations.create(
        int(task.id),
        result=result_from_labels(taxonomy, BEDROOM),
        completed_by=label_studio.annotator_ids[0],
    )
    (listed,) = list(conn.sdk.tasks.list(project=info.id, fields="all", page_size=100))
    predictions = [p if isinstance(p, dict) else p.model_dump() for p in listed.predictions]
    assert latest_model_version(predictions) == "backend-x"  # what pull guessed before
    assert all(a.get("parent_prediction") is None for a in listed.annotations)
    assert project_model_version(conn, info.id) == "test-model-1"
    # `annotate pull` compares with what the project shows: the pushed bedroom, kept.
    report = pull(
        conn, info.id, taxonomy=taxonomy, document_root=label_studio.document_root,
        out=tmp_path / "pulled.csv", method="majority",
    )  # fmt: skip
    room = report.corrections["room"]
    assert (room.compared, room.changed) == (1, 0)
