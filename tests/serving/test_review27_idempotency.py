"""Review 27: an upload's Idempotency-Key is kept `idempotency_key_retention_hours`, then it is
unused (a request with it is a new one) and its row is deleted (serving.idempotency), on
SQLite and PostgreSQL. Before, rows were kept for ever: a key reused months later replayed an
old answer or refused the new photo with 422, and the table grew with every keyed upload.

A key's age is set in the database (its `created_at`), as if it had been stored that long ago.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from serving.core.config import load_serving_settings
from serving.db.models import AuditEntry, IdempotencyKey, Photo, User, utcnow
from serving.db.session import session_scope
from shanyraq.errors import ConfigError
from tests.serving.helpers import Service, jpeg
from tests.serving.idempotency_helpers import race_uploads

KEY = {"Idempotency-Key": "phone-key-1"}


def _age(service: Service, hours: float) -> None:
    """Every stored key as if stored `hours` ago."""
    with session_scope(service.services.sessions) as session:
        session.execute(update(IdempotencyKey).values(created_at=utcnow() - timedelta(hours=hours)))


def _count(service: Service, model: Any, *where: Any) -> int:
    with session_scope(service.services.sessions) as session:
        query = select(func.count()).select_from(model).where(*where)
        return session.execute(query).scalar_one()


def _user_id(service: Service, username: str) -> int:
    with session_scope(service.services.sessions) as session:
        return session.execute(select(User.id).where(User.username == username)).scalar_one()


def test_a_key_past_its_retention_files_another_photo_instead_of_a_422(service):
    service.create_family("F1")
    first = service.upload("F1", jpeg(51), headers=KEY)
    assert first.status_code == 201, first.text
    _age(service, 23)  # within the 24 h shipped: still the first request's key
    refused = service.upload("F1", jpeg(52), headers=KEY)
    assert refused.status_code == 422 and refused.json()["code"] == "idempotency_key_reused"
    _age(service, 25)  # a phone reinstalled a day later, its keys starting over
    made = service.upload("F1", jpeg(52), headers=KEY)
    assert made.status_code == 201, made.text  # before: 422 for ever
    assert made.json()["photo_id"] != first.json()["photo_id"]
    assert _count(service, Photo) == 2 and _count(service, IdempotencyKey) == 1
    retried = service.upload("F1", jpeg(52), headers=KEY)  # the key now answers for the new one
    assert (retried.status_code, retried.json()) == (201, made.json())


def test_a_very_late_retry_is_answered_as_a_duplicate_with_todays_reuse_flags(service):
    service.create_family("F1")
    service.create_family("F2")
    photo = jpeg(53, size=(800, 600))
    first = service.upload("F1", photo, who="admin", headers=KEY)
    assert first.status_code == 201 and not first.json()["reuse"]["reused"], first.text
    other = service.upload("F2", photo, who="admin")  # the same photo, for another family since
    assert other.status_code == 201, other.text
    _age(service, 25)
    late = service.upload("F1", photo, who="admin", headers=KEY)
    # Before: the stored answer of a day ago, 201 and no reuse, as if filed now.
    assert late.status_code == 200, late.text
    body = late.json()
    assert body["duplicate"] is True and body["photo_id"] == first.json()["photo_id"]
    assert body["reuse"]["reused"] and [d["family_id"] for d in body["reuse"]["details"]] == ["F2"]
    assert _count(service, Photo, Photo.family_id == "F1") == 1  # not filed twice
    duplicates = _count(service, AuditEntry, AuditEntry.action == "photo_upload_duplicate")
    assert duplicates == 1  # the late retry is an upload the audit trail records
    again = service.upload("F1", photo, who="admin", headers=KEY)  # its own retry: replayed
    assert (again.status_code, again.json()) == (200, body)


def test_expired_keys_are_deleted_a_bounded_batch_per_keyed_upload(service):
    from serving.idempotency import PRUNE_BATCH

    service.create_family("F1")
    inspector, admin = _user_id(service, "inspector"), _user_id(service, "admin")
    old, fresh = utcnow() - timedelta(days=90), utcnow() - timedelta(hours=1)
    with session_scope(service.services.sessions) as session:
        for i in range(PRUNE_BATCH + 5):
            session.add(
                IdempotencyKey(
                    user_id=(inspector, admin)[i % 2], key=f"old-{i}", request_sha256="0" * 64,
                    status_code=201, response={}, created_at=old,
                )
            )  # fmt: skip
        session.add(
            IdempotencyKey(
                user_id=admin, key="recent", request_sha256="0" * 64, status_code=201,
                response={}, created_at=fresh,
            )
        )  # fmt: skip
    expired = IdempotencyKey.created_at < utcnow() - timedelta(hours=24)
    assert service.upload("F1", jpeg(54)).status_code == 201  # no key: nothing stored, none go
    assert _count(service, IdempotencyKey, expired) == PRUNE_BATCH + 5
    entries = _count(service, AuditEntry)
    assert service.upload("F1", jpeg(55), headers=KEY).status_code == 201
    assert _count(service, IdempotencyKey, expired) == 5  # before: all of them, for ever
    # Housekeeping, not audited: the upload's own entry alone (the keys' uploads have theirs).
    assert _count(service, AuditEntry) == entries + 1
    assert service.upload("F1", jpeg(56), headers={"Idempotency-Key": "k2"}).status_code == 201
    assert _count(service, IdempotencyKey, expired) == 0
    assert _count(service, IdempotencyKey) == 3  # "recent" and the two just stored


def test_retries_at_once_with_an_expired_key_file_one_photo(service, monkeypatch):
    service.create_family("F1")
    assert service.upload("F1", jpeg(57), headers={"Idempotency-Key": "retry-3"}).status_code == 201
    _age(service, 25)
    data = jpeg(58, size=(1200, 900))
    answers = race_uploads(service, monkeypatch, [data, data, data], "retry-3")
    assert all(isinstance(a, tuple) for a in answers), answers
    assert [status for status, _ in answers] == [201, 201, 201], answers  # before: 422 each
    assert answers[0][1] == answers[1][1] == answers[2][1]
    assert _count(service, Photo) == 2 and _count(service, IdempotencyKey) == 1


def test_retries_at_once_with_an_expired_key_and_other_bytes_one_is_refused(service, monkeypatch):
    service.create_family("F1")
    assert service.upload("F1", jpeg(59), headers={"Idempotency-Key": "retry-4"}).status_code == 201
    _age(service, 25)
    answers = race_uploads(service, monkeypatch, [jpeg(60), jpeg(61)], "retry-4")
    assert all(isinstance(a, tuple) for a in answers), answers
    assert sorted(status for status, _ in answers) == [201, 422], answers
    assert _count(service, Photo) == 2 and _count(service, IdempotencyKey) == 1


def test_retention_is_configured_and_at_least_an_hour(tmp_path):
    settings = load_serving_settings(data_dir=tmp_path)
    assert settings.idempotency_key_retention_hours == 24
    with pytest.raises(ConfigError, match="idempotency_key_retention_hours"):
        load_serving_settings(data_dir=tmp_path, idempotency_key_retention_hours=0.5)
