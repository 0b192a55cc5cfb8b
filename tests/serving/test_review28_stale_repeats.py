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
from serving.assessments import STALE_REASONS
from serving.assessments_cli import report_lines
from serving.db.models import User
from serving.db.session import session_scope
from serving.photo_evidence import REPEATED_KEY
from serving.reassessment import find_stale
from serving.web.family_view import family_rows
from tests.serving.helpers import Service
from tests.serving.repeat_helpers import filed_photo, latest_version, record_repeats, refresh_all
from tests.serving.repeat_photos import encoded
from tests.vision.reuse_helpers import look_alike


def _stale_reason(service: Service, assessment_id: int) -> Any:
    shown = service.client.get(
        f"/assessments/{assessment_id}", headers=service.headers("commission")
    )
    assert shown.status_code == 200, shown.text
    return shown.json()["stale_reason"]


def test_one_made_before_repeats_were_recorded_is_stale_where_read(with_repeat):
    service, copy, made = with_repeat
    record_repeats(service, made["assessment_id"], None)  # it counted the copy as a photo

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
    record_repeats(service, made["assessment_id"], str(first) if recorded else recorded)

    assert [(s.family_id, s.reason) for s in find_stale(service.services)] == [("F1", "repeats")]
    report = refresh_all(service)
    assert report.refreshed == {"repeats": 1} and not report.failed
    assert f"  repeats: 1 ({STALE_REASONS['repeats']})" in report_lines(report)  # in words
    now = latest_version(service, "F1")
    assert now.version == made["version"] + 1
    assert now.model_versions[REPEATED_KEY] == str(copy)
    assert now.result["photos"]["repeated"] == 1
    assert find_stale(service.services) == []  # a second refresh finds none
    assert _stale_reason(service, now.id) is None


def test_an_assessment_whose_repeats_match_the_photos_is_current(with_repeat):
    service, _, made = with_repeat
    assert _stale_reason(service, made["assessment_id"]) is None
    assert find_stale(service.services) == []
    assert refresh_all(service).refreshed == {}
    assert latest_version(service, "F1").version == made["version"]


def test_one_made_before_repeats_were_recorded_is_current_where_the_family_has_none(scored, room):
    """No key counted none: a family without a repeat is not made stale by the upgrade."""
    scored.create_family("F2")
    filed_photo(scored, "F2", room)
    filed_photo(scored, "F2", encoded(look_alike(6)))
    made = scored.assess("F2")
    record_repeats(scored, made["assessment_id"], None)
    assert _stale_reason(scored, made["assessment_id"]) is None
    assert find_stale(scored.services) == []


def test_without_a_reuse_index_recorded_repeats_are_not_judged(with_repeat):
    """No index tells no repeat: its absence is no reason to recompute the family counting
    the copy twice."""
    service, _, made = with_repeat
    record_repeats(service, made["assessment_id"], None)
    service.services.reuse = None
    assert _stale_reason(service, made["assessment_id"]) is None
    assert find_stale(service.services) == []
