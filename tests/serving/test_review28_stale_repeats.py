"""An assessment that counted the family's repeats otherwise than they are now is refreshed.

A photo sent again by its family (re-encoded, resized, a screenshot) counts once, and each
assessment records which photos it counted as repeats (REPEATED_KEY). One made before that
(no key) for a family holding a repeat counted the copy as a photo of its own, yet stayed
current until the family's photos or record changed: `assessments refresh` passed it over,
reads served it, a decision on it was accepted. The photos' repeats now (as a new assessment
counts them) must be those the assessment counted: reads ask it of one made before repeats
were recorded, a refresh of every one.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from serving.api.deps import CurrentUser
from serving.assessments import STALE_REASONS, latest
from serving.assessments_cli import report_lines
from serving.assessments_refresh import refresh
from serving.db.models import Assessment, User
from serving.db.session import session_scope
from serving.photo_evidence import REPEATED_KEY
from serving.reassessment import find_stale, resolve_refresh_actor
from serving.web.family_view import family_rows
from tests.serving import repeat_photos
from tests.serving.helpers import Service
from tests.serving.repeat_photos import COPIES, encoded
from tests.vision.test_reuse import _look_alike

# Fixtures: the service with a photo model that finds every photo usable, and a photo of a room.
photo_model, scored, room = repeat_photos.photo_model, repeat_photos.scored, repeat_photos.room


def _filed(service: Service, family_id: str, data: bytes) -> int:
    answer = service.upload(family_id, data)
    assert answer.status_code == 201, answer.text
    assert answer.json()["score"]["abstain"] is False, answer.text  # a photo that counts
    return int(answer.json()["photo_id"])


@pytest.fixture
def with_repeat(scored: Service, room: bytes) -> tuple[Service, int, dict[str, Any]]:
    """F1 files a room, another photo and a copy of the room, and is assessed: the copy is
    counted once (its id recorded under REPEATED_KEY)."""
    scored.create_family("F1")
    _filed(scored, "F1", room)
    _filed(scored, "F1", encoded(_look_alike(6)))
    copy = _filed(scored, "F1", COPIES["re-encoded"](room))
    made = scored.assess("F1")
    assert made["model_versions"][REPEATED_KEY] == str(copy)
    assert made["result"]["photos"]["repeated"] == 1
    return scored, copy, made


def _record_repeats(service: Service, assessment_id: int, recorded: str | None) -> None:
    """Rewrite what the assessment says it counted as repeats (None: no key at all, as one
    made before repeats were counted once)."""
    with session_scope(service.services.sessions) as session:
        row = session.get_one(Assessment, assessment_id)
        versions = {k: v for k, v in row.model_versions.items() if k != REPEATED_KEY}
        if recorded is not None:
            versions[REPEATED_KEY] = recorded
        row.model_versions = versions


def _stale_reason(service: Service, assessment_id: int) -> Any:
    shown = service.client.get(
        f"/assessments/{assessment_id}", headers=service.headers("commission")
    )
    assert shown.status_code == 200, shown.text
    return shown.json()["stale_reason"]


def _refresh(service: Service) -> Any:
    with service.services.sessions() as session:
        actor = resolve_refresh_actor(session, "admin_national", region=None)
    return refresh(service.services, actor=actor, progress=False)


def _latest_version(service: Service, family_id: str) -> Assessment:
    with service.services.sessions() as session:
        row = latest(session, family_id)
        assert row is not None
        session.expunge(row)
        return row


def test_one_made_before_repeats_were_recorded_is_stale_where_read(with_repeat):
    service, copy, made = with_repeat
    _record_repeats(service, made["assessment_id"], None)  # it counted the copy as a photo

    assert _stale_reason(service, made["assessment_id"]) == "repeats"
    refused = service.client.post(
        f"/assessments/{made['assessment_id']}/decisions", json={"kind": "accept"},
        headers=service.headers("commission"),
    )  # fmt: skip
    assert refused.status_code == 409, refused.text
    assert STALE_REASONS["repeats"] in refused.json()["message"]
    with session_scope(service.services.sessions) as session:
        user = session.execute(select(User).where(User.username == "commission")).scalar_one()
        viewer = CurrentUser(id=user.id, username=user.username, role=user.role, region=user.region)
        rows = family_rows(session, service.services, viewer).rows
    assert [(r.family_id, r.stale_reason) for r in rows] == [("F1", "repeats")]

    read = service.client.get(
        "/families/F1/assessments/latest", headers=service.headers("commission")
    )
    assert read.status_code == 200, read.text
    body = read.json()  # recomputed on reading, counting the copy once
    assert body["version"] == made["version"] + 1 and body["stale_reason"] is None
    assert body["model_versions"][REPEATED_KEY] == str(copy)
    assert body["result"]["photos"]["repeated"] == 1


# None: made before repeats were recorded (it counted the copy as a photo of its own);
# "": recorded as none; "first": another photo than the copy.
@pytest.mark.parametrize("recorded", [None, "", "first"])
def test_a_refresh_redoes_one_whose_recorded_repeats_differ(with_repeat, recorded):
    service, copy, made = with_repeat
    first = made["photo_ids"][0]
    _record_repeats(service, made["assessment_id"], str(first) if recorded else recorded)

    assert [(s.family_id, s.reason) for s in find_stale(service.services)] == [("F1", "repeats")]
    report = _refresh(service)
    assert report.refreshed == {"repeats": 1} and not report.failed
    assert f"  repeats: 1 ({STALE_REASONS['repeats']})" in report_lines(report)  # in words
    now = _latest_version(service, "F1")
    assert now.version == made["version"] + 1
    assert now.model_versions[REPEATED_KEY] == str(copy)
    assert now.result["photos"]["repeated"] == 1
    assert find_stale(service.services) == []  # a second refresh finds none
    assert _stale_reason(service, now.id) is None


def test_an_assessment_whose_repeats_match_the_photos_is_current(with_repeat):
    service, _, made = with_repeat
    assert _stale_reason(service, made["assessment_id"]) is None
    assert find_stale(service.services) == []
    assert _refresh(service).refreshed == {}
    assert _latest_version(service, "F1").version == made["version"]


def test_one_made_before_repeats_were_recorded_is_current_where_the_family_has_none(scored, room):
    """No key counted none: a family without a repeat is not made stale by the upgrade."""
    scored.create_family("F2")
    _filed(scored, "F2", room)
    _filed(scored, "F2", encoded(_look_alike(6)))
    made = scored.assess("F2")
    _record_repeats(scored, made["assessment_id"], None)
    assert _stale_reason(scored, made["assessment_id"]) is None
    assert find_stale(scored.services) == []


def test_without_a_reuse_index_recorded_repeats_are_not_judged(with_repeat):
    """No index tells no repeat: its absence is no reason to recompute the family counting
    the copy twice."""
    service, _, made = with_repeat
    _record_repeats(service, made["assessment_id"], None)
    service.services.reuse = None
    assert _stale_reason(service, made["assessment_id"]) is None
    assert find_stale(service.services) == []
