"""Helpers of the tests of assessments that count a family's repeats: a photo filed that
counts, family F1 holding a copy of its room and assessed (a fixture), what an assessment
records it counted as repeats rewritten, a refresh of every assessment, a family's latest
assessment, an upload's answer, the audit entries of an action, and counted calls (fixtures:
the reads of a family's photos and links, the calls of family_flags; F1 with two look-alike
photos assessed before repeats were recorded)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from serving import assessment_repeats, assessments, photo_evidence
from serving.assessments_refresh import refresh
from serving.db.models import Assessment, AuditEntry
from serving.db.session import session_scope
from serving.latest_assessments import latest
from serving.photo_evidence import REPEATED_KEY
from serving.reassessment import resolve_refresh_actor
from serving.web import family_view
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


def upload_answer(
    service: Service, family_id: str, data: bytes, status: int = 201
) -> dict[str, Any]:
    answer = service.upload(family_id, data)
    assert answer.status_code == status, answer.text
    return dict(answer.json())


def audited_details(service: Service, action: str) -> dict[str, dict[str, Any]]:
    """The details of the audit entries of `action`, by target."""
    with session_scope(service.services.sessions) as session:
        rows = session.execute(select(AuditEntry).where(AuditEntry.action == action))
        return {entry.target: dict(entry.details) for entry in rows.scalars()}


class Counted:
    """Calls of a function, counted by a wrapper that calls it."""

    def __init__(self, function: Callable[..., Any]) -> None:
        self.function, self.calls = function, 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self.function(*args, **kwargs)


@pytest.fixture
def family_reads(monkeypatch: pytest.MonkeyPatch) -> Counted:
    """The reads of a family's photos and links for `repeats_of` (photo_evidence.read_inputs)."""
    counted = Counted(photo_evidence.read_inputs)
    monkeypatch.setattr(photo_evidence, "read_inputs", counted)
    return counted


@pytest.fixture
def link_reads(monkeypatch: pytest.MonkeyPatch) -> Counted:
    """A filed photo's reuse links read for `filed_repeats` (photo_evidence.reuse_linked)."""
    counted = Counted(photo_evidence.reuse_linked)
    monkeypatch.setattr(photo_evidence, "reuse_linked", counted)
    return counted


def counted_store_reads(service: Service, monkeypatch: pytest.MonkeyPatch) -> Counted:
    """The reads of stored photos (the reuse index verifies candidates on them)."""
    store = service.services.store
    counted = Counted(store.read)
    monkeypatch.setattr(store, "read", counted)
    return counted


@pytest.fixture
def flagged(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """The calls of photo_evidence.family_flags, per family id: each module's name wrapped by
    one that counts and calls it."""
    calls: Counter[str] = Counter()
    flags = photo_evidence.family_flags

    def counted(services: Any, family: Any, *args: Any, **kwargs: Any) -> Any:
        calls[family.id] += 1
        return flags(services, family, *args, **kwargs)

    for module in (photo_evidence, assessments, assessment_repeats, family_view):
        if hasattr(module, "family_flags"):
            monkeypatch.setattr(module, "family_flags", counted)
    return calls


@pytest.fixture
def look_alikes(scored: Service) -> tuple[Service, dict[str, Any]]:
    """F1 files two look-alike photos of a home (near enough to be verified, not the same
    photo) and is assessed before repeats were recorded: current, counting no repeat."""
    scored.create_family("F1")
    filed_photo(scored, "F1", encoded(look_alike(6)))
    filed_photo(scored, "F1", encoded(look_alike(27)))
    made = scored.assess("F1")
    assert made["model_versions"][REPEATED_KEY] == ""
    record_repeats(scored, made["assessment_id"], None)
    return scored, made
