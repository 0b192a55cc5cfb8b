"""The families list's page-view entries record the filters that were set, and no other: a
view with no filter records the page alone, not `status` and `level` as nulls (which the audit
page showed as `status=null level=null`)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from serving.db.models import AuditEntry
from serving.db.session import session_scope
from tests.serving.helpers import Service


def _newest_view_details(web: Service) -> Any:
    with session_scope(web.services.sessions) as session:
        return session.execute(
            select(AuditEntry.details)
            .where(AuditEntry.action == "page_viewed")
            .order_by(AuditEntry.seq.desc())
            .limit(1)
        ).scalar_one()


@pytest.mark.parametrize(
    ("query", "recorded"),
    [
        ("", {}),
        ("?status=needs_review", {"status": "needs_review"}),
        ("?level=3", {"level": "3"}),
        ("?status=eligible&level=2", {"status": "eligible", "level": "2"}),
        ("?status=&level=", {}),
    ],
)
def test_a_families_view_records_the_filters_set_and_no_others(web, browser_for, query, recorded):
    page = browser_for("commission").get(f"/ui/families{query}")
    assert page.status_code == 200, page.text
    assert _newest_view_details(web) == {"page": "families", **recorded}
