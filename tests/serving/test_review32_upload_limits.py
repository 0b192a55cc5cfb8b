"""Refused uploads count against the per-user upload limit, so past it the answer is 429 and
the audit trail grows by one notice a window, not by one entry a request; a retry answered
from its Idempotency-Key is not an upload and counts nowhere, even once the limit is spent;
and a room hint is part of what a key stands for, as the photo's bytes are.

Through the real app, on SQLite, with `upload_per_minute: 3`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from serving.db.models import Photo
from serving.db.session import session_scope
from tests.serving.helpers import Service, audit_entries, jpeg, started

KEY = {"Idempotency-Key": "phone-key-1"}
LIMIT = 3
MAX_BYTES = 300_000  # a 640x480 test photo fits; a 1600x1200 one does not


def _unknown_room(service: Service, i: int) -> Any:
    return service.upload("F1", jpeg(10 + i), data={"room_hint": "garage"})


def _reused_key(service: Service, i: int) -> Any:
    return service.upload("F1", jpeg(10 + i), headers=KEY)  # KEY filed jpeg(1) first


def _oversize(service: Service, i: int) -> Any:
    return service.upload("F1", jpeg(10 + i, size=(1600, 1200)))


REFUSALS: dict[str, tuple[Callable[[Service, int], Any], int, str]] = {
    "unknown_room": (_unknown_room, 422, "record_invalid"),
    "reused_key": (_reused_key, 422, "idempotency_key_reused"),
    "oversize": (_oversize, 413, "body_too_large"),
}


@pytest.fixture
def limited(tmp_path, max_bytes):
    max_bytes(MAX_BYTES)  # the body limit lets the larger photo in; the route refuses it
    with started(tmp_path, rate_limits={"upload_per_minute": LIMIT}) as service:
        service.create_family("F1")
        yield service


@pytest.mark.parametrize("kind", sorted(REFUSALS))
def test_refused_uploads_count_against_the_upload_limit(limited, kind):
    send, status, code = REFUSALS[kind]
    assert limited.upload("F1", jpeg(1), headers=KEY).status_code == 201  # one of the three
    answers = [send(limited, i) for i in range(6)]
    # Before: every one refused for itself, and audited, however many were sent.
    assert [a.status_code for a in answers] == [status, status, 429, 429, 429, 429]
    assert [a.json()["code"] for a in answers[:2]] == [code, code]
    assert all(int(a.headers["Retry-After"]) >= 1 for a in answers[2:])
    entries = audit_entries(limited, "photo_refused")
    # Each refusal answered under the limit audited, then one notice for the window.
    assert [e.details["code"] for e in entries] == [code, code, "rate_limited"]
    assert entries[-1].details["limit"] == LIMIT
    # The limit is the uploads' own: a good photo now waits as well.
    assert limited.upload("F1", jpeg(2)).status_code == 429
    assert len(audit_entries(limited, "photo_refused")) == 3


def test_a_keyed_retry_counts_nowhere_and_is_answered_past_the_limit(limited):
    first = limited.upload("F1", jpeg(1), headers=KEY)
    assert first.status_code == 201
    for _ in range(LIMIT + 2):  # a phone that keeps losing the answer, retrying
        again = limited.upload("F1", jpeg(1), headers=KEY)
        assert (again.status_code, again.json()) == (201, first.json())
    assert limited.upload("F1", jpeg(2)).status_code == 201  # the retries used none of the limit
    assert _unknown_room(limited, 0).status_code == 422  # the third upload the minute allows
    assert _unknown_room(limited, 1).status_code == 429
    retried = limited.upload("F1", jpeg(1), headers=KEY)  # its answer is still given back
    assert (retried.status_code, retried.json()) == (201, first.json())
    assert len(audit_entries(limited, "photo_uploaded")) == 1 + 1  # retries write nothing


def test_a_resend_without_its_key_is_an_upload_and_counts(limited):
    assert limited.upload("F1", jpeg(1)).status_code == 201
    resent = [limited.upload("F1", jpeg(1)).status_code for _ in range(3)]
    # Each is audited (`photo_upload_duplicate`): the limit bounds how fast they are written.
    assert resent == [200, 200, 429]
    assert len(audit_entries(limited, "photo_upload_duplicate")) == 2


def _room_hint_filed(service: Service, photo_id: int) -> str | None:
    with session_scope(service.services.sessions) as session:
        query = select(Photo.room_hint).where(Photo.id == photo_id)
        return session.execute(query).scalar_one()


@pytest.mark.parametrize("hint", [{"room_hint": "bedroom"}, {}])
def test_a_keyed_resend_with_another_room_hint_is_refused_as_another_request(limited, hint):
    first = limited.upload("F1", jpeg(1), headers=KEY, data={"room_hint": "kitchen"})
    assert first.status_code == 201 and first.json()["room_hint"] == "kitchen"
    other = limited.upload("F1", jpeg(1), headers=KEY, data=hint)
    # As for other bytes under the key: never the first answer, as if the hint were taken.
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")
    assert _room_hint_filed(limited, first.json()["photo_id"]) == "kitchen"
    [refused] = audit_entries(limited, "photo_refused")
    assert refused.details["code"] == "idempotency_key_reused"
    same = limited.upload("F1", jpeg(1), headers=KEY, data={"room_hint": "kitchen"})
    assert (same.status_code, same.json()) == (201, first.json())
