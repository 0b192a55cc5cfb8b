"""The audit table's details cell: an entry with nothing to show there (no details, empty ones,
or only the ids the page leaves out) reads "—", as an empty actor or target does; one that
cannot be read says what and why instead. Those reasons are the chain check's English
sentences, so a Russian or Kazakh page with such a row says once, above the table, that they
are given in English; an English page adds nothing.

Before, the cell of an entry with nothing to show was empty, and a Russian or Kazakh reader was
told the reasons were in English only when the chain check ran."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from sqlalchemy import text

from serving import audit
from serving.db.session import session_scope
from serving.web.i18n import translator
from tests.serving.audit_helpers import drop_audit_guards
from tests.serving.helpers import Service

NOTE_ID = "audit-reasons-english"


def _append(web: Service, **given: Any) -> int:
    """An entry as the service writes it (its details only where `given` has them); its seq."""
    with session_scope(web.services.sessions) as session:
        return audit.append(
            session, web.services.signing_key, actor="admin", action="family_viewed",
            target="family:F-1", **given,
        ).seq  # fmt: skip


def _details_not_json(web: Service, seq: int) -> None:
    """Entry `seq`'s details made text that is not JSON, past the log's guards (SQLite keeps
    it): the entry cannot be read."""
    with session_scope(web.services.sessions) as session:
        drop_audit_guards(session)
        session.execute(
            text("UPDATE audit_log SET details = '{\"kind\": ' WHERE seq = :seq"), {"seq": seq}
        )


def _page(browser_for: Any, query: str = "") -> str:
    page = browser_for("admin_national").get(f"/ui/audit{query}")
    assert page.status_code == 200, page.text
    return str(page.text)


def _cell(page: str, seq: int) -> str:
    """The details cell of entry `seq`'s row, unescaped."""
    row = re.search(rf"<tr[^>]*><td>{seq}</td>(.*?)</tr>", page, re.S)
    assert row, f"entry {seq} is not listed"
    cell = re.search(r'<td class="details">(.*)</td>', row.group(1), re.S)
    assert cell, row.group(1)
    return html.unescape(cell.group(1))


def test_an_entry_with_nothing_to_show_reads_a_dash(web, browser_for):
    seqs = {
        "none": _append(web),
        "empty": _append(web, details={}),
        "photo_ids": _append(web, details={"photo_ids": [1, 2]}),
        "hidden_only": _append(web, details={"photo_ids": [3], "model_versions": ["m1"]}),
        "shown": _append(web, details={"note": "checked", "photo_ids": [4]}),
    }
    page = _page(browser_for)
    for name in ("none", "empty", "photo_ids", "hidden_only"):
        assert _cell(page, seqs[name]).strip() == "—", (name, _cell(page, seqs[name]))
    shown = _cell(page, seqs["shown"])
    assert "note</code>=checked" in shown, shown
    assert "—" not in shown and "photo_ids" not in shown, shown


def test_an_unreadable_entry_gives_its_reasons_not_a_dash(web, browser_for):
    seq = _append(web, details={"photo_ids": [5]})
    _details_not_json(web, seq)
    cell = _cell(_page(browser_for), seq)
    assert 'lang="en">details cannot be read (not JSON' in cell, cell
    assert "—" not in cell, cell


@pytest.mark.parametrize("language", ["en", "ru", "kk"])
def test_a_page_with_an_unreadable_row_says_its_reasons_are_english(web, browser_for, language):
    _append(web, details={"note": "readable"})
    before = _page(browser_for, f"?lang={language}")
    assert NOTE_ID not in before  # every row reads: nothing to say
    _details_not_json(web, _append(web, details={"note": "unreadable"}))
    page = _page(browser_for, f"?lang={language}")
    assert 'class="unreadable"' in page
    if language == "en":  # an English page's reader needs no note
        assert NOTE_ID not in page
        return
    note = translator(language)("audit.reasons_in_english")
    assert note != translator("en")("audit.reasons_in_english")
    said = page.index(f'<p class="note" id="{NOTE_ID}">{html.escape(note)}</p>')
    assert said < page.index('<table class="list audit">')  # above the table, once
    assert page.count(f'id="{NOTE_ID}"') == 1
