"""Against a real Label Studio: a push with a newer model gives the photos already in the
project that model's pre-annotation, since Label Studio shows annotators only the predictions
of the project's model version (which the push then sets)."""

from __future__ import annotations

import dataclasses
import logging

import httpx
import pytest

from annotation.client import connect
from annotation.label_config import PhotoLabels
from annotation.project import init_project, set_model_version
from annotation.settings import load_annotation_config
from annotation.tasks import push_rows

from .helpers import make_manifest, score_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PUSH = load_annotation_config().push
KITCHEN = PhotoLabels("kitchen", 3, frozenset({"damp_mould"}))


@pytest.fixture
def project(label_studio, taxonomy, tmp_path, request):
    conn = connect(label_studio.url, label_studio.personal_token)
    info = init_project(
        conn,
        title=f"Two models {request.node.name}"[:50],
        taxonomy=taxonomy,
        photos_dir=label_studio.photos_dir,
        document_root=label_studio.document_root,
    )
    prefix = f"models-{request.node.name}"
    rows = make_manifest(label_studio.photos_dir, tmp_path / "manifest.csv", 3, prefix=prefix)

    def push(picked, version):
        """`annotate push` of `picked` with the scores of model `version`."""
        scores = {
            r.sha256: dataclasses.replace(
                score_for(r.sha256, KITCHEN, taxonomy), model_version=version
            )
            for r in picked
        }
        report = push_rows(
            conn, info.id, picked, manifest_root=tmp_path, document_root=label_studio.document_root,
            scores=scores, taxonomy=taxonomy, sign_threshold=PUSH.sign_threshold,
            batch_size=PUSH.batch_size,
        )  # fmt: skip
        set_model_version(conn, info.id, version)
        return report

    return conn, info.id, rows, push


def _versions(conn, project_id):
    """Task id -> the model versions of its predictions."""
    tasks = conn.sdk.tasks.list(project=project_id, fields="all", page_size=100)
    return {t.id: sorted(_version(p) for p in t.predictions or []) for t in tasks}


def _version(prediction):
    return prediction["model_version"] if isinstance(prediction, dict) else prediction.model_version


def _shown_next(label_studio, project_id):
    """The task Label Studio's labelling page serves next, with the predictions it shows."""
    answer = httpx.get(
        f"{label_studio.url}/api/projects/{project_id}/next",
        headers={"Authorization": f"Token {label_studio.legacy_token}"},
        timeout=30,
    )
    answer.raise_for_status()
    task = answer.json()
    return task["id"], [p["model_version"] for p in task.get("predictions") or []]


def test_photos_pushed_again_with_a_newer_model_get_its_pre_annotation(project, label_studio):
    conn, project_id, rows, push = project
    first = push(rows[:2], "model-a")
    second = push(rows, "model-b")  # the two photos again, and a new one
    versions = _versions(conn, project_id)
    assert sorted(versions.values()) == [["model-a", "model-b"]] * 2 + [["model-b"]]
    # What the annotator sees: the first task, pushed with model-a, now pre-annotated by model-b.
    task_id, shown = _shown_next(label_studio, project_id)
    assert task_id == min(versions)
    assert shown == ["model-b"]
    assert first.predictions_added == 0
    assert (second.created, second.skipped_existing, second.predictions_added) == (1, 2, 2)
    # Run again: nothing is added twice.
    third = push(rows, "model-b")
    assert (third.created, third.predictions_added) == (0, 0)
    assert _versions(conn, project_id) == versions


def test_tasks_left_showing_no_pre_annotation_are_named(project, caplog):
    conn, project_id, rows, push = project
    push(rows[:2], "model-a")
    with caplog.at_level(logging.WARNING, logger="annotation.prediction_sync"):
        report = push(rows[1:], "model-b")  # the first photo is not pushed again
    first_task = min(_versions(conn, project_id))
    assert report.other_models_only == (first_task,)
    assert "push their manifest again" in report.summary(project_id)
    assert f"tasks {first_task}" in caplog.text
