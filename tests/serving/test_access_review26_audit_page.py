"""A check of the audit chain made on the audit page is audited as the API's check is
(`audit_verified`, with its result and whether the anchor file's checks ran); a regional
admin's page, which offers no check and ignores `verify`, writes none."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from serving.db.models import AuditEntry
from serving.db.session import session_scope
from tests.serving.helpers import PASSWORD
from tests.web.helpers import sign_in


def _browser(service: Any, username: str) -> TestClient:
    browser = TestClient(service.app, base_url="http://127.0.0.1")
    assert sign_in(browser, username, PASSWORD).status_code == 303
    return browser


def _checks(service: Any) -> list[AuditEntry]:
    with session_scope(service.services.sessions) as session:
        rows = session.execute(
            select(AuditEntry).where(AuditEntry.action == "audit_verified").order_by(AuditEntry.seq)
        )
        return list(rows.scalars())


def test_a_check_of_the_chain_on_the_page_is_audited_as_the_apis(service):
    service.create_family("F1")
    page = _browser(service, "admin_national").get("/ui/audit?verify=true")
    assert page.status_code == 200 and "The chain is intact" in page.text
    api = service.client.get("/audit/verify", headers=service.headers("admin_national"))
    assert api.status_code == 200 and api.json()["ok"]
    on_page, by_api = _checks(service)
    assert on_page.actor == by_api.actor == "admin_national"
    assert on_page.details["ok"] is True and on_page.details["problems"] == 0
    assert on_page.details["anchor_checked"] is True
    assert set(on_page.details) == set(by_api.details)
    # The page's check came first: the API's counts its entry among the chain's.
    assert on_page.details["entries"] < by_api.details["entries"]


def test_the_page_without_a_check_writes_no_check_entry(service):
    national = _browser(service, "admin_national")
    assert national.get("/ui/audit").status_code == 200
    regional = _browser(service, "admin")  # offered no check: `verify` is ignored
    answer = regional.get("/ui/audit?verify=true")
    assert answer.status_code == 200 and "The chain is" not in answer.text
    assert _checks(service) == []
