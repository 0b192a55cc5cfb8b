"""A photo over io.max_bytes is refused from its size as the form was parsed, before the route
reads it into memory, and the 413 says what to send instead (a smaller photo: the camera's
normal size). It was read whole first, and told only the limit. On SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select

from serving.db.models import AuditEntry, Photo
from serving.db.session import session_scope
from tests.serving.helpers import jpeg


def test_a_photo_over_the_limit_is_refused_unread_and_told_to_send_a_smaller_one(
    service, max_bytes
):
    max_bytes(5000)  # the body limit lets it in; the route refuses it
    data = jpeg(4)
    service.create_family("F1")
    answer = service.upload("F1", data)
    assert (answer.status_code, answer.json()["code"]) == (413, "body_too_large"), answer.text
    message = answer.json()["message"]
    assert f"{len(data)} bytes" in message and "5000" in message
    assert "send a smaller photo" in message and "camera's normal size" in message

    with session_scope(service.services.sessions) as session:
        (entry,) = session.execute(
            select(AuditEntry).where(AuditEntry.action == "photo_refused")
        ).scalars()
        assert session.execute(select(Photo)).first() is None
    assert entry.details["code"] == "body_too_large"
    assert entry.details["size_bytes"] == len(data) > 5000
    # Named by its size alone: no hash, since the refused bytes were never read.
    assert "sha256" not in entry.details


def test_a_photo_at_the_limit_is_filed(service, max_bytes):
    data = jpeg(5)
    max_bytes(len(data))
    service.create_family("F1")
    answer = service.upload("F1", data)
    assert answer.status_code == 201, answer.text
