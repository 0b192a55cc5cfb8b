"""Counts on the admins' pages are written as the reader writes numbers, digits grouped
("1,234" in English, "1 234" in Russian and Kazakh), as the figures of the reasons are:
the audit chain's entries, and the families, overrides and decisions of the oversight tables.
"""

from __future__ import annotations

import re

import pytest

from serving.web.i18n import translator
from serving.web.render import environment

ENTRIES = 1200  # more than three digits however many the test's own requests add


def _grouped(language: str) -> str:
    """A number of four to six digits as `language` groups them."""
    mark = re.escape(translator(language)("number.group"))
    return rf"\d{{1,3}}{mark}\d{{3}}"


@pytest.mark.parametrize("language", ["en", "ru", "kk"])
def test_the_verified_chain_gives_its_number_of_entries_grouped(web, browser_for, language):
    from serving import audit
    from serving.db.session import session_scope

    services = web.services
    with session_scope(services.sessions) as session:
        for n in range(ENTRIES):
            audit.append(
                session, services.signing_key, actor="admin", action="page_viewed",
                details={"page": "families", "n": n},
            )  # fmt: skip
    page = browser_for("admin_national").get(f"/ui/audit?verify=true&lang={language}")
    assert page.status_code == 200
    t = translator(language)
    before, after = (re.escape(part) for part in t("audit.chain_ok").split("{n}"))
    said = re.search(rf"{before}(.*?){after}", page.text)
    assert said, "the page says nothing of the chain"
    assert re.fullmatch(_grouped(language), said.group(1)), said.group(1)


@pytest.mark.parametrize("language", ["en", "ru", "kk"])
def test_the_override_tables_give_their_counts_grouped(language):
    template = environment().from_string(
        '{% from "_macros.html" import rate_table with context %}'
        '{{ rate_table("caption", "region", rows, "group", "cap") }}'
    )
    row = {"families": 12345, "overrides": 1234, "override_rate": 0.1, "decisions": 23456}
    t = translator(language)
    cells = re.findall(r"<td>([^<]*)</td>", template.render(t=t, rows={"shymkent": row}))
    group = t("number.group")
    assert cells == [f"12{group}345", f"1{group}234", t.percent(0.1), f"23{group}456"]
