"""The audit page's texts in the reader's language: the chain check's findings, English
sentences of the check, are marked English, and a Russian or Kazakh page says so above them;
a table with no entry to show says why it is empty (a filter that matches nothing, or a log
with nothing yet) instead of showing only its caption.

Before, the findings were plain list items of a Russian or Kazakh page (a screen reader read
them with that language's voice), and an empty table showed only "Entries shown: 0"."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from sqlalchemy import text

from serving import audit
from serving.db.session import session_scope
from serving.web.i18n import translator
from serving.web.routes import oversight
from tests.serving.audit_helpers import drop_audit_guards
from tests.serving.helpers import Service

LANGUAGES = ["en", "ru", "kk"]


def _tampered(web: Service) -> None:
    """Two entries, the first changed past the log's guards: the chain check finds it."""
    with session_scope(web.services.sessions) as session:
        first = audit.append(session, web.services.signing_key, actor="admin",
                             action="family_viewed", target="family:F-1").seq  # fmt: skip
        audit.append(session, web.services.signing_key, actor="admin", action="family_viewed",
                     target="family:F-2")  # fmt: skip
    with session_scope(web.services.sessions) as session:
        drop_audit_guards(session)
        session.execute(
            text("UPDATE audit_log SET target = 'family:CHANGED' WHERE seq = :seq"), {"seq": first}
        )


def _page(browser_for: Any, query: str) -> str:
    page = browser_for("admin_national").get(f"/ui/audit{query}")
    assert page.status_code == 200, page.text
    return str(page.text)


def _table(page: str) -> str:
    found = re.search(r'<table class="list audit">.*?</table>', page, re.S)
    assert found, page
    return found.group(0)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_check_s_findings_are_marked_english_and_said_so_in_other_languages(
    web, browser_for, language
):
    _tampered(web)
    t = translator(language)
    page = _page(browser_for, f"?verify=true&lang={language}")
    broken = page.index('<p class="error" role="status">')
    listed = re.search(r"<ul>(.*?)</ul>", page[broken:], re.S)
    assert listed, page[broken:]
    items = re.findall(r"<li([^>]*)>", listed.group(1))
    assert items, listed.group(1)
    assert all(attributes == ' lang="en"' for attributes in items), items
    note = html.escape(t("audit.problems_in_english"))
    if language == "en":  # an English page's reader needs no note
        assert 'id="audit-problems-english"' not in page
    else:
        assert note != html.escape(translator("en")("audit.problems_in_english"))
        said = page.index(f'<p class="note" id="audit-problems-english">{note}</p>')
        assert broken < said < broken + listed.start()  # between the result and the list
        assert page.count(note) == 1


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_filter_that_matches_nothing_says_so_in_the_table(web, browser_for, language):
    t = translator(language)
    table = _table(_page(browser_for, f"?code=no_such_action&lang={language}"))
    columns = len(re.findall(r'<th scope="col">', table))
    assert columns > 1
    rows = re.findall(r"<tbody>.*?</tbody>", table, re.S)[0]
    said = html.escape(t("audit.no_match"))
    assert re.findall(r"<tr>(.*?)</tr>", rows, re.S) == [f'<td colspan="{columns}">{said}</td>']
    assert html.escape(t("audit.caption", n=0)) in table


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_log_with_nothing_to_show_says_so_in_the_table(web, browser_for, monkeypatch, language):
    # Signing in to read the page is itself an entry: an empty log is its rows read as none.
    monkeypatch.setattr(oversight, "audit_rows", lambda *args, **kwargs: ([], False))
    t = translator(language)
    table = _table(_page(browser_for, f"?lang={language}"))
    columns = len(re.findall(r'<th scope="col">', table))
    said = html.escape(t("audit.no_entries"))
    assert f'<tr><td colspan="{columns}">{said}</td></tr>' in table
    assert html.escape(t("audit.no_match")) not in table
