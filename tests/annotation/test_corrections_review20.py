"""Which prediction an annotation is compared with, and the order of time stamps, in
annotation.corrections: tasks as Label Studio's task list gives them, no server needed."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from annotation.answers import parse_task
from annotation.corrections import prediction_seen, saved_order
from tests.annotation.pull_helpers import (
    BEDROOM,
    KITCHEN,
    annotation_of,
    changed_counts,
    listed_task,
    prediction_of,
    pulled_report,
)


@pytest.fixture
def local_time_ahead_of_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This machine's local time five hours ahead of UTC (as in Almaty)."""
    monkeypatch.setenv("TZ", "ALMT-5")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


# --- time stamps with and without a time zone ---


def test_a_stamp_without_a_time_zone_is_utc(local_time_ahead_of_utc):
    """Label Studio stores UTC: 10:00 without a zone is 10:00Z, not 10:00 local (05:00Z)."""
    naive = saved_order({"id": 1, "updated_at": "2026-01-01T10:00:00"}, "updated_at")
    aware = saved_order({"id": 1, "updated_at": "2026-01-01T10:00:00Z"}, "updated_at")
    earlier = saved_order({"id": 1, "updated_at": "2026-01-01T08:00:00+00:00"}, "updated_at")
    assert naive == aware
    assert naive > earlier


def test_the_latest_answer_wins_when_the_server_mixes_stamps(taxonomy, local_time_ahead_of_utc):
    """One annotator answered twice, the later answer's stamp without a zone: the later one
    is the vote, whatever this machine's time zone."""
    first = annotation_of(taxonomy, 2, 7, KITCHEN) | {"updated_at": "2026-01-01T08:00:00Z"}
    second = annotation_of(taxonomy, 1, 7, BEDROOM) | {"updated_at": "2026-01-01T10:00:00"}
    parsed = parse_task(listed_task(1, [first, second]), taxonomy)
    assert parsed.votes == [("7", BEDROOM)]


# --- an annotation that names no prediction ---


def test_no_prediction_of_the_projects_version_means_none_was_seen(taxonomy):
    """Label Studio shows annotators only the project's model version: a task holding only
    an older model's prediction showed none, so there is nothing to compare with."""
    annotation = annotation_of(taxonomy, 1, 7, KITCHEN)
    older = [prediction_of(taxonomy, 5, "m1", BEDROOM, day=1)]
    assert prediction_seen(annotation, older, model_version="m2") is None


def test_a_project_without_a_version_shows_only_predictions_without_one(taxonomy):
    """A project with no model version shows the predictions that have none, not an ML
    backend's newer one that has one."""
    annotation = annotation_of(taxonomy, 1, 7, KITCHEN)
    unversioned = prediction_of(taxonomy, 5, "", BEDROOM, day=1)
    backend = prediction_of(taxonomy, 9, "backend-x", KITCHEN, day=2)
    for version in ("", None):
        seen = prediction_seen(annotation, [unversioned, backend], model_version=version)
        assert seen is not None and seen["id"] == 5


def test_pull_counts_no_correction_against_a_prediction_never_shown(taxonomy, tmp_path):
    """Through pull as well: task 2 holds only m1's prediction while the project's version
    is m2 (task 1's), so only task 1's answer is compared."""
    tasks = [
        listed_task(
            1,
            [annotation_of(taxonomy, 1, 7, KITCHEN)],
            [prediction_of(taxonomy, 1, "m2", KITCHEN, 9)],
        ),
        listed_task(
            2,
            [annotation_of(taxonomy, 2, 7, BEDROOM)],
            [prediction_of(taxonomy, 2, "m1", KITCHEN, day=3)],
            sha256="cd" * 32,
        ),
    ]
    assert changed_counts(pulled_report(taxonomy, tmp_path, tasks))["room"] == (1, 0)


def test_an_annotator_given_as_an_object_is_one_annotator(taxonomy):
    """Some exports give `completed_by` as the user object: the same person as their id, one
    vote (their latest), not two annotators."""
    as_object = annotation_of(taxonomy, 1, 7, KITCHEN) | {"completed_by": {"id": 7, "email": "a@x"}}
    as_id = annotation_of(taxonomy, 2, 7, BEDROOM)
    parsed = parse_task(listed_task(1, [as_object, as_id]), taxonomy)
    assert parsed.votes == [("7", BEDROOM)]
