"""Helpers of the tests of assessments that count a family's repeats: a photo filed that
counts, family F1 holding a copy of its room and assessed (a fixture), what an assessment
records it counted as repeats rewritten, a refresh of every assessment, and a family's latest
assessment."""

from __future__ import annotations

from typing import Any

import pytest

from serving.assessments_refresh import refresh
from serving.db.models import Assessment
from serving.db.session import session_scope
from serving.latest_assessments import latest
from serving.photo_evidence import REPEATED_KEY
from serving.reassessment import resolve_refresh_actor
from tests.serving.helpers import Service
from tests.serving.repeat_photos import COPIES, encoded
from tests.vision.reuse_helpers import look_alike


def filed_photo(service: Service, family_id: str, data: bytes) -> int:
    """The id of the photo `data` uploaded for the family, one the photo model counts."""
    answer = service.upload(family_id, data)
    assert answer.status_code == 201, answer.text
    assert answer.json()["score"]["abstain"] is False, answer.text  # a photo that counts
    return int(answer.json()["photo_id"])


@pytest.fixture
def with_repeat(scored: Service, room: bytes) -> tuple[Service, int, dict[str, Any]]:
    """F1 files a room, another photo and a copy of the room, and is assessed: the copy is
    counted once (its id recorded under REPEATED_KEY). (The service, the copy's id, the
    assessment.) Wants the repeat_photos fixtures `scored` and `room`."""
    scored.create_family("F1")
    filed_photo(scored, "F1", room)
    filed_photo(scored, "F1", encoded(look_alike(6)))
    copy = filed_photo(scored, "F1", COPIES["re-encoded"](room))
    made = scored.assess("F1")
    assert made["model_versions"][REPEATED_KEY] == str(copy)
    assert made["result"]["photos"]["repeated"] == 1
    return scored, copy, made


def record_repeats(service: Service, assessment_id: int, recorded: str | None) -> None:
    """Rewrite what the assessment says it counted as repeats (None: no key at all, as one
    made before repeats were counted once)."""
    with session_scope(service.services.sessions) as session:
        row = session.get_one(Assessment, assessment_id)
        versions = {k: v for k, v in row.model_versions.items() if k != REPEATED_KEY}
        if recorded is not None:
            versions[REPEATED_KEY] = recorded
        row.model_versions = versions


def refresh_all(service: Service) -> Any:
    """`assessments refresh` of every family, as the national admin; what it reports."""
    with service.services.sessions() as session:
        actor = resolve_refresh_actor(session, "admin_national", region=None)
    return refresh(service.services, actor=actor, progress=False)


def latest_version(service: Service, family_id: str) -> Assessment:
    """The family's latest assessment, detached from its session."""
    with service.services.sessions() as session:
        row = latest(session, family_id)
        assert row is not None
        session.expunge(row)
        return row
