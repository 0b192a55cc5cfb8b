"""The audit page opens when entries among the newest cannot be read as stored (on SQLite
text that is not UTF-8 or details that are not JSON; on PostgreSQL a required column emptied):
each is listed with what of it can be read and marked "cannot be read", with and without the
chain verified, in the reader's language, and a regional admin still sees only the entries
of people of the region. On SQLite and PostgreSQL."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from serving import audit
from serving.db.session import session_scope
from tests.serving.audit_helpers import NOT_UTF8, drop_audit_guards
from tests.serving.helpers import Service, started

REGIONAL, OTHER = "admin", "inspector_other"  # of the regional admin's region; of another
MARKER = "Cannot be read:"


@pytest.fixture
def web(tmp_path: Path, database_url: str) -> Iterator[Service]:
    """The page tests' app (tests/web/conftest.py), on this test's database."""
    with started(tmp_path, database_url) as service:
        yield service


def _append(web: Service, actor: str, action: str, target: str) -> int:
    """An entry as the service writes it; its seq."""
    with session_scope(web.services.sessions) as session:
        entry = audit.append(
            session, web.services.signing_key, actor=actor, action=action, target=target,
            details={"note": f"of {target}"},
        )  # fmt: skip
        return entry.seq


def _unreadable(session: Session, *, details: int, target: int, action: int) -> None:
    """Entries made unreadable past the log's guards. SQLite keeps any bytes: the details of
    entry `details` not JSON, the target of `target` and the action of `action` not UTF-8.
    PostgreSQL's columns hold only their type: once the constraints are gone, `at` emptied
    at `details` and at `target` (with its target), the action emptied at `action`."""
    drop_audit_guards(session)
    if session.get_bind().dialect.name == "sqlite":
        changes = {
            details: "details = '{\"kind\": '",
            target: f"target = {NOT_UTF8}",
            action: f"action = {NOT_UTF8}",
        }
    else:
        for column in ("at", "action"):
            session.execute(text(f"ALTER TABLE audit_log ALTER COLUMN {column} DROP NOT NULL"))
        changes = {
            details: "at = NULL",
            target: "at = NULL, target = NULL",
            action: "action = NULL",
        }
    for seq, change in changes.items():
        session.execute(text(f"UPDATE audit_log SET {change} WHERE seq = :seq"), {"seq": seq})


def _entries(web: Service) -> dict[str, int]:
    """Entries of both regions, readable and not; their seqs by name."""
    seqs = {
        "readable": _append(web, REGIONAL, "family_viewed", "family:READABLE-1"),
        "readable_other": _append(web, OTHER, "family_viewed", "family:READABLE-2"),
        "details": _append(web, REGIONAL, "family_viewed", "family:UNREAD-1"),
        "target": _append(web, OTHER, "family_viewed", "family:UNREAD-2"),
        "action": _append(web, REGIONAL, "family_updated", "family:UNREAD-3"),
    }
    with session_scope(web.services.sessions) as session:
        _unreadable(session, details=seqs["details"], target=seqs["target"],
                    action=seqs["action"])  # fmt: skip
    return seqs


def _row(page: str, seq: int) -> str | None:
    """The marked row of entry `seq`, unescaped; None where the page does not list it so."""
    found = re.search(rf'<tr class="unreadable" id="audit-unreadable-{seq}">(.*?)</tr>', page, re.S)
    return None if found is None else html.unescape(found.group(1))


def _page(browser_for, who: str, query: str = "") -> str:
    page = browser_for(who).get(f"/ui/audit{query}")
    assert page.status_code == 200, page.text
    return str(page.text)


@pytest.mark.parametrize("query", ["", "?verify=true"])
def test_entries_that_cannot_be_read_are_listed_and_marked(web, browser_for, query):
    seqs = _entries(web)
    page = _page(browser_for, "admin_national", query)
    with web.services.sessions() as session:
        sqlite = session.get_bind().dialect.name == "sqlite"
    rows = {name: _row(page, seqs[name]) for name in ("details", "target", "action")}
    for name, row in rows.items():
        assert row is not None and MARKER in row, (name, row)
    # What can still be read is shown: the actor, the target, the action's label.
    assert (
        "<td>family:UNREAD-1</td>" in rows["details"] and f"<td>{REGIONAL}</td>" in rows["details"]
    )
    assert "Family viewed" in rows["details"]
    assert (
        "<td>family:UNREAD-3</td>" in rows["action"]
        and "note</code>=of family:UNREAD-3" in rows["action"]
    )
    if sqlite:  # what cannot, and why, as the chain's check says it
        assert "details cannot be read (not JSON" in rows["details"]
        assert "<td><em>cannot be read</em></td>" in rows["target"]  # the target cell
        assert "column target cannot be read (not UTF-8 text" in rows["target"]
    else:
        assert "column at cannot be read (empty (NULL)" in rows["details"]
        assert rows["details"].count("<em>cannot be read</em>") == 1  # the time's cell
    assert "column action cannot be read" in rows["action"]
    for name in ("readable", "readable_other"):  # the others as before, unmarked
        assert _row(page, seqs[name]) is None
        assert f"<tr><td>{seqs[name]}</td>" in page
    verified = "The chain is broken" in page
    assert verified == bool(query)
    if query:
        assert f"entry {seqs['details']}: " in html.unescape(page)


def test_a_regional_admin_sees_only_the_region_s_entries(web, browser_for):
    seqs = _entries(web)
    page = _page(browser_for, REGIONAL, "?verify=true")  # verifying is not theirs: ignored
    assert "The chain is" not in page
    assert _row(page, seqs["details"]) is not None and _row(page, seqs["action"]) is not None
    assert f"<tr><td>{seqs['readable']}</td>" in page
    for name in ("target", "readable_other"):  # entries of people of another region
        assert f"<td>{seqs[name]}</td>" not in page
        assert f"audit-unreadable-{seqs[name]}" not in page


def test_the_marker_is_in_the_reader_s_language_and_the_filter_still_works(web, browser_for):
    seqs = _entries(web)
    russian = _page(browser_for, "admin_national", "?lang=ru")
    assert "Не удаётся прочитать:" in (_row(russian, seqs["details"]) or "")
    chosen = _page(browser_for, "admin_national", "?action=family_viewed")
    assert _row(chosen, seqs["details"]) is not None
    assert f"<td>{seqs['action']}</td>" not in chosen  # another action (or none that reads)
    # The actions offered are those that can be read: none stands for the unreadable one.
    offered = re.findall(r'<option value="([^"]*)"', chosen)
    assert "family_viewed" in offered and "None" not in offered
    assert all(code.isascii() for code in offered)
