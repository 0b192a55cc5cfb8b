"""The family pages and the latest assessment verify stored photos holding no transaction.

The web family list flagged every row's photos (reuse and repeats, verified against the
reuse index: reading, decoding, comparing stored photos) inside the write transaction its
first query began, which on SQLite begins BEGIN IMMEDIATE (serving.db.session): one list view
held the write lock, and every upload and decision waited behind it. The family page did the
same for the whole page (the assessment's check and recompute, its staleness, each photo
card's reuse), and GET /families/{id}/assessments/latest flagged the photos of a family it
assessed under the family's lock. Each now verifies once its transactions have ended; only
the recompute itself writes, under the family's lock, on the flags found before it.

Every call of the reuse index's `verified` checks, as it begins, that another writer can take
SQLite's write lock (waiting BUSY_MS at most) or that no connection of the service sits in a
transaction on PostgreSQL; the views must still answer and be audited once each.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from serving.db.models import AuditEntry
from serving.db.session import session_scope
from tests.serving.helpers import PASSWORD, Service, jpeg
from tests.web.helpers import sign_in

BUSY_MS = 200  # how long the other writer waits for SQLite's write lock (the service's: 30 s)


def _held(service: Service, database_url: str) -> str | None:
    """What holds the database now, or None: SQLite's write lock (another connection cannot
    take it within BUSY_MS), or a connection of the service idle in a transaction (PostgreSQL)."""
    if database_url.startswith("sqlite"):
        file = make_url(database_url).database
        assert file is not None
        other = sqlite3.connect(file, isolation_level=None, timeout=BUSY_MS / 1000)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            return f"the write lock: {exc}"
        finally:
            other.close()
        return None
    with session_scope(service.services.sessions) as session:
        open_ = session.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'"
            )
        ).scalar_one()
    return f"{open_} connection(s) idle in a transaction" if open_ else None


class _Watched:
    """The reuse index's `verified`, noting what held the database at each call."""

    def __init__(self, service: Service, database_url: str, real: Callable[..., Any]) -> None:
        self.service, self.database_url, self.real = service, database_url, real
        self.calls = 0
        self.held: list[str] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        held = _held(self.service, self.database_url)
        if held is not None:
            self.held.append(held)
        return self.real(*args, **kwargs)


@pytest.fixture
def watched(service: Service, database_url: str, monkeypatch: pytest.MonkeyPatch) -> _Watched:
    """F1 with two photos of its own (no reuse links: each view verifies them against the
    index), not assessed yet; the index's `verified` watched from here on."""
    service.create_family("F1")
    for seed in (3, 4):
        answer = service.upload("F1", jpeg(seed))
        assert answer.status_code == 201, answer.text
    reuse = service.services.reuse
    assert reuse is not None
    watch = _Watched(service, database_url, reuse.verified)
    monkeypatch.setattr(reuse, "verified", watch)
    return watch


def _browser(service: Service) -> TestClient:
    browser = TestClient(service.app, base_url="http://127.0.0.1")
    assert sign_in(browser, "commission", PASSWORD).status_code == 303
    return browser


def _audited(service: Service, action: str, target: str | None) -> list[dict[str, Any]]:
    with session_scope(service.services.readers) as session:
        return [
            dict(entry.details or {})
            for entry in session.execute(
                select(AuditEntry).where(AuditEntry.action == action, AuditEntry.target == target)
            ).scalars()
        ]


def _assert_verified_unheld(watch: _Watched, service: Service) -> None:
    assert watch.calls, "the view verified no photo"
    assert watch.held == [], f"photos were verified while the database was held: {watch.held}"
    service.create_family("F9")  # the service still writes through its own sessions


def test_the_family_list_verifies_its_rows_holding_no_transaction(
    service: Service, watched: _Watched
) -> None:
    browser = _browser(service)
    for _ in range(2):  # not assessed, then assessed by the family page in between
        page = browser.get("/ui/families?lang=en")
        assert page.status_code == 200, page.text
        assert "F1" in page.text
        assert browser.get("/ui/families/F1?lang=en").status_code == 200
    _assert_verified_unheld(watched, service)
    listed = _audited(service, "page_viewed", None)
    assert [d for d in listed if d.get("page") == "families"] == [
        {"page": "families", "status": None, "level": None}
    ] * 2


def test_the_family_page_verifies_photos_holding_no_transaction(
    service: Service, watched: _Watched
) -> None:
    browser = _browser(service)
    first = browser.get("/ui/families/F1?lang=en")  # assessed now: its photos flagged first
    assert first.status_code == 200, first.text
    again = browser.get("/ui/families/F1?lang=en")  # current: its photo cards verified
    assert again.status_code == 200, again.text
    _assert_verified_unheld(watched, service)
    created = _audited(service, "page_viewed", "family:F1")
    assert len(created) == 2
    assert created[0]["assessment_id"] == created[1]["assessment_id"]  # recomputed once
    with session_scope(service.services.readers) as session:
        made = session.execute(
            select(AuditEntry.target).where(AuditEntry.action == "assessment_created")
        ).scalars()
        assert list(made) == [f"assessment:{created[0]['assessment_id']}"]


def test_the_latest_assessment_verifies_photos_holding_no_transaction(
    service: Service, watched: _Watched
) -> None:
    path = "/families/F1/assessments/latest"
    first = service.client.get(path, headers=service.headers("commission"))
    assert first.status_code == 200, first.text
    assert first.json()["stale_reason"] is None
    again = service.client.get(path, headers=service.headers("commission"))
    assert again.json()["assessment_id"] == first.json()["assessment_id"]
    _assert_verified_unheld(watched, service)
    target = f"assessment:{first.json()['assessment_id']}"
    assert len(_audited(service, "assessment_viewed", target)) == 2
