"""The audit page's own page-view entries: a view with no filter records the page alone, one
with a filter records the action it was filtered by; the page then shows the first with no
`action` at all (not `action=null`). (An entry with no details shows "—" in its details cell:
tests/web/test_review38_audit_cells.py.)

Before, a view with no filter stored `{"page": "audit", "action": null}`, and the page showed
it as `action=null`."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from serving.db.models import AuditEntry
from serving.db.session import session_scope
from tests.serving.helpers import Service


def _page(browser: Any, query: str = "") -> str:
    page = browser.get(f"/ui/audit{query}")
    assert page.status_code == 200, page.text
    return str(page.text)


def _newest_view(web: Service) -> tuple[int, Any]:
    """The newest page view's seq and details, as stored."""
    with session_scope(web.services.sessions) as session:
        entry = session.execute(
            select(AuditEntry)
            .where(AuditEntry.action == "page_viewed")
            .order_by(AuditEntry.seq.desc())
            .limit(1)
        ).scalar_one()
        return entry.seq, entry.details


def _details_cell(page: str, seq: int) -> str:
    """What the audit table's details cell of entry `seq` holds."""
    found = re.search(rf'<tr[^>]*><td>{seq}</td>.*?<td class="details">(.*?)</td></tr>', page, re.S)
    assert found, f"entry {seq} is not in the page"
    return found.group(1)


def test_a_view_with_no_filter_records_and_shows_no_action(web, browser_for):
    browser = browser_for("admin_national")
    _page(browser)
    seq, details = _newest_view(web)
    assert details == {"page": "audit"}

    shown = _details_cell(_page(browser), seq)  # the next view lists the first one
    assert '<code lang="en" translate="no">page</code>=audit' in shown
    assert "action" not in shown and "null" not in shown, shown


@pytest.mark.parametrize("query", ["?action=page_viewed", "?code=page_viewed", "?code=no_such"])
def test_a_view_with_a_filter_records_the_action_it_was_filtered_by(web, browser_for, query):
    browser = browser_for("admin_national")
    _page(browser, query)
    _, details = _newest_view(web)
    assert details == {"page": "audit", "action": query.split("=")[1]}
