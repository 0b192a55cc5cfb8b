"""Concurrent writes: retries with one Idempotency-Key; the family lock of uploads and decisions.

Real threads against the app, on SQLite and PostgreSQL. A barrier in front of the store makes
every request of a race pass the route's early replay check before any of them files, which
is the interleaving that used to end in a 500.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from serving.db.models import Assessment, Family, IdempotencyKey, Photo, User
from serving.db.session import session_scope
from serving.decisions import DecisionRequest, record_decision
from serving.errors import ConflictError
from serving.uploads import record_upload
from tests.serving.helpers import Service, jpeg
from tests.serving.idempotency_helpers import race_uploads

OVERRIDE = DecisionRequest(
    kind="override", level=2, reason_code="income_evidence",
    reason="employer letter shows wage arrears",
)  # fmt: skip


def _count(service: Service, model: Any) -> int:
    with session_scope(service.services.sessions) as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()


def test_same_key_same_bytes_at_once_one_photo_one_answer(service, monkeypatch):
    service.create_family("F1")
    data = jpeg(41, size=(1200, 900))
    answers = race_uploads(service, monkeypatch, [data, data, data], "retry-1")
    assert all(isinstance(a, tuple) for a in answers), answers
    assert [status for status, _ in answers] == [201, 201, 201], answers
    assert answers[0][1] == answers[1][1] == answers[2][1]  # the first's stored answer, replayed
    assert _count(service, Photo) == 1 and _count(service, IdempotencyKey) == 1
    later = service.upload("F1", data, headers={"Idempotency-Key": "retry-1"})
    assert (later.status_code, later.json()) == answers[0]


def test_same_key_different_bytes_at_once_second_refused(service, monkeypatch):
    service.create_family("F1")
    answers = race_uploads(service, monkeypatch, [jpeg(42), jpeg(43)], "retry-2")
    assert all(isinstance(a, tuple) for a in answers), answers
    assert sorted(status for status, _ in answers) == [201, 422], answers
    refused = next(body for status, body in answers if status == 422)
    assert refused["code"] == "idempotency_key_reused" and "new key" in refused["message"]
    assert _count(service, IdempotencyKey) == 1


def _ids(service: Service) -> dict[str, int]:
    with session_scope(service.services.sessions) as session:
        return {u.username: u.id for u in session.execute(select(User)).scalars()}


def _start_upload(service: Service, seed: int):
    """A write session that has filed a photo for F1 (row flushed, nothing committed)."""
    services = service.services
    data = jpeg(seed)
    analysis = services.pipeline.analyse(data)
    session = services.sessions()
    record_upload(
        session, services.signing_key, family_id="F1", actor=(_ids(service)["inspector"], "x"),
        analysis=analysis, score=None, room_hint=None, size_bytes=len(data),
    )  # fmt: skip
    return session


def _decide_in_thread(service: Service, assessment_id: int) -> tuple[threading.Thread, list[Any]]:
    services, outcome = service.services, list[Any]()
    commission = _ids(service)["commission"]

    def decide() -> None:
        try:
            with session_scope(services.sessions) as session:
                assessment = session.get(Assessment, assessment_id)
                family = session.get(Family, "F1")
                assert assessment is not None and family is not None
                record_decision(
                    session, services, assessment, family, OVERRIDE, actor=(commission, "c")
                )
            outcome.append("decided")
        except Exception as exc:
            outcome.append(exc)

    thread = threading.Thread(target=decide)
    thread.start()
    return thread, outcome


def _lock_waiters(service: Service) -> int:
    with service.services.db_engine.connect() as connection:
        return connection.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted")).scalar()


def _postgres_only(service: Service) -> None:
    if service.services.db_engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises write transactions already (BEGIN IMMEDIATE)")


def test_decision_waits_for_an_upload_in_flight_and_sees_its_photo(service):
    """The race of the staleness check: with the family lock the decision is refused."""
    _postgres_only(service)
    service.create_family("F1")
    made = service.client.post("/families/F1/assessments", headers=service.headers("inspector"))
    assert made.status_code == 201, made.text
    upload = _start_upload(service, 44)
    thread, outcome = _decide_in_thread(service, made.json()["assessment_id"])
    while thread.is_alive() and _lock_waiters(service) == 0:
        thread.join(timeout=0.02)  # until the decision waits on a lock (or has finished)
    upload.commit()
    upload.close()
    thread.join(timeout=60)
    assert len(outcome) == 1 and isinstance(outcome[0], ConflictError), outcome


def test_upload_takes_the_family_lock(service):
    """What this proves: filing a photo asks for the family row's lock (FOR UPDATE).

    The holder takes FOR NO KEY UPDATE, which the photo's foreign-key check (FOR KEY SHARE)
    does not wait for, so only record_upload's own lock of the family row can time out here.
    """
    _postgres_only(service)
    service.create_family("F1")
    services = service.services
    with services.sessions() as holder:
        holder.execute(select(Family).where(Family.id == "F1").with_for_update(key_share=True))
        with services.sessions() as waiter:
            waiter.execute(text("SET LOCAL lock_timeout = '200ms'"))
            data = jpeg(45)
            with pytest.raises(OperationalError, match="lock timeout"):
                record_upload(
                    waiter, services.signing_key, family_id="F1", actor=(1, "x"),
                    analysis=services.pipeline.analyse(data), score=None, room_hint=None,
                    size_bytes=len(data),
                )  # fmt: skip
            waiter.rollback()
        holder.rollback()
