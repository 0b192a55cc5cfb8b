"""A photo's view reads stored photos holding no transaction of the database.

GET /photos/{id} read the photo's reuse links through the request's write session after its
audit entry was committed: a new transaction, which on SQLite begins BEGIN IMMEDIATE
(serving.db.session), so the database's write lock was held while the reuse index verified
the photo against other families' stored photos (reading, decoding, comparing them), and
every upload and decision waited behind a photo view. GET /photos/{id}/image (and the page's
copy of it) read and checked the original inside the scope check's write transaction. Both
now read stored photos once their transactions have ended.

Each view is held while it reads stored photos (the reading call waits on an event, then
answers as it would); meanwhile another writer must take SQLite's write lock (waiting
BUSY_MS at most: it waited for the whole view), no connection of the service may sit in a
transaction on PostgreSQL, and the service must file a write of its own.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from serving.db.models import AuditEntry
from serving.db.session import session_scope
from tests.serving.helpers import HUNG_CALL_BOUND_S, HungCall, Service, jpeg

BUSY_MS = 200  # how long the other writer waits for SQLite's write lock (the service's: 30 s)


@contextmanager
def _held_view(service: Service, hung: HungCall, path: str) -> Iterator[None]:
    """GET `path` in a thread, the block run while `hung` (the view's read of stored photos)
    waits; the view then answers 200."""
    answers: list[Any] = []

    def view() -> None:
        answers.append(service.client.get(path, headers=service.headers("commission")))

    thread = threading.Thread(target=view, name="photo-view", daemon=True)
    thread.start()
    try:
        assert hung.started.wait(HUNG_CALL_BOUND_S), f"GET {path} never read a stored photo"
        yield
    finally:
        hung.release.set()
        thread.join(HUNG_CALL_BOUND_S)
    assert not thread.is_alive(), f"GET {path} never answered"
    assert answers[0].status_code == 200, answers[0].text


def _sqlite_writer_commits(database_url: str) -> None:
    """Another connection takes SQLite's write lock and commits, waiting BUSY_MS at most."""
    file = make_url(database_url).database
    assert file is not None
    other = sqlite3.connect(file, isolation_level=None, timeout=BUSY_MS / 1000)
    try:
        try:
            other.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            pytest.fail(f"a photo view holds the write lock while it reads stored photos: {exc}")
        other.execute("COMMIT")
    finally:
        other.close()


def _open_transactions(service: Service) -> int:
    """PostgreSQL connections to this test's database, but this one, inside a transaction."""
    with session_scope(service.services.sessions) as session:
        return int(
            session.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'"
                )
            ).scalar_one()
        )


def _writes_go_through(service: Service, database_url: str, family_id: str) -> None:
    """No transaction is held: another writer commits, and so does the service itself."""
    if database_url.startswith("sqlite"):
        _sqlite_writer_commits(database_url)
    else:
        assert _open_transactions(service) == 0, "a photo view holds a transaction open"
    service.create_family(family_id)  # through the service's own write sessions


@pytest.fixture
def reused(service: Service) -> dict[str, Any]:
    """A photo filed for F2 that F1 filed before it: its view verifies it against F1's."""
    service.create_family("F1")
    service.create_family("F2")
    data = jpeg(3)
    first = service.upload("F1", data)
    assert first.status_code == 201, first.text
    again = service.upload("F2", data)
    assert again.status_code == 201, again.text
    answer = dict(again.json())
    assert answer["reuse"]["reused"], answer["reuse"]
    return {**answer, "first_id": first.json()["photo_id"]}


def test_a_photo_view_verifies_its_reuse_holding_no_transaction(
    service: Service, database_url: str, reused: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    reuse = service.services.reuse
    hung = HungCall(reuse.verified)
    monkeypatch.setattr(reuse, "verified", hung)
    with _held_view(service, hung, f"/photos/{reused['photo_id']}"):
        _writes_go_through(service, database_url, "F3")
    viewed = service.client.get(
        f"/photos/{reused['photo_id']}", headers=service.headers("commission")
    )
    assert viewed.json()["reuse"] == {  # what the view answered before, as a commission sees it
        "reused": True,
        "matches": 1,
        "details": [{"photo_id": reused["first_id"], "family_id": "F1", "distance": 0}],
    }


def test_a_photos_image_is_read_holding_no_transaction(
    service: Service, database_url: str, reused: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = service.services.store
    hung = HungCall(store.served_jpeg)
    monkeypatch.setattr(store, "served_jpeg", hung)
    with _held_view(service, hung, f"/photos/{reused['photo_id']}/image"):
        _writes_go_through(service, database_url, "F3")


def test_the_views_are_audited_once_each(service: Service, reused: dict[str, Any]) -> None:
    target = f"photo:{reused['photo_id']}"
    for path in (f"/photos/{reused['photo_id']}", f"/photos/{reused['photo_id']}/image"):
        answer = service.client.get(path, headers=service.headers("commission"))
        assert answer.status_code == 200, answer.text
    with session_scope(service.services.readers) as session:
        actions = list(
            session.execute(
                select(AuditEntry.action).where(
                    AuditEntry.target == target,
                    AuditEntry.action.in_(("photo_viewed", "photo_image_viewed")),
                )
            ).scalars()
        )
    assert sorted(actions) == ["photo_image_viewed", "photo_viewed"]
