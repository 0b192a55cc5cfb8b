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

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from serving.db.models import AuditEntry
from serving.db.session import session_scope
from tests.serving.helpers import PASSWORD, Service, jpeg
from tests.serving.page_lock_helpers import Watched, assert_verified_unheld, audited_entries
from tests.web.helpers import sign_in


@pytest.fixture
def watched(service: Service, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Watched:
    """F1 with two photos of its own (no reuse links: each view verifies them against the
    index), not assessed yet; the index's `verified` watched from here on."""
    service.create_family("F1")
    for seed in (3, 4):
        answer = service.upload("F1", jpeg(seed))
        assert answer.status_code == 201, answer.text
    reuse = service.services.reuse
    assert reuse is not None
    watch = Watched(service, database_url, reuse.verified)
    monkeypatch.setattr(reuse, "verified", watch)
    return watch


def _browser(service: Service) -> TestClient:
    browser = TestClient(service.app, base_url="http://127.0.0.1")
    assert sign_in(browser, "commission", PASSWORD).status_code == 303
    return browser


def test_the_family_list_verifies_its_rows_holding_no_transaction(
    service: Service, watched: Watched
) -> None:
    browser = _browser(service)
    for _ in range(2):  # not assessed, then assessed by the family page in between
        page = browser.get("/ui/families?lang=en")
        assert page.status_code == 200, page.text
        assert "F1" in page.text
        assert browser.get("/ui/families/F1?lang=en").status_code == 200
    assert_verified_unheld(watched, service)
    listed = audited_entries(service, "page_viewed", None)
    assert [d for d in listed if d.get("page") == "families"] == [
        {"page": "families"}  # no filter set: none recorded
    ] * 2


def test_the_family_page_verifies_photos_holding_no_transaction(
    service: Service, watched: Watched
) -> None:
    browser = _browser(service)
    first = browser.get("/ui/families/F1?lang=en")  # assessed now: its photos flagged first
    assert first.status_code == 200, first.text
    again = browser.get("/ui/families/F1?lang=en")  # current: its photo cards verified
    assert again.status_code == 200, again.text
    assert_verified_unheld(watched, service)
    created = audited_entries(service, "page_viewed", "family:F1")
    assert len(created) == 2
    assert created[0]["assessment_id"] == created[1]["assessment_id"]  # recomputed once
    with session_scope(service.services.readers) as session:
        made = session.execute(
            select(AuditEntry.target).where(AuditEntry.action == "assessment_created")
        ).scalars()
        assert list(made) == [f"assessment:{created[0]['assessment_id']}"]


def test_the_latest_assessment_verifies_photos_holding_no_transaction(
    service: Service, watched: Watched
) -> None:
    path = "/families/F1/assessments/latest"
    first = service.client.get(path, headers=service.headers("commission"))
    assert first.status_code == 200, first.text
    assert first.json()["stale_reason"] is None
    again = service.client.get(path, headers=service.headers("commission"))
    assert again.json()["assessment_id"] == first.json()["assessment_id"]
    assert_verified_unheld(watched, service)
    target = f"assessment:{first.json()['assessment_id']}"
    assert len(audited_entries(service, "assessment_viewed", target)) == 2
