"""The audit page shows an entry's details as the stored entry holds them (JSON), escaped.

An auditor compares the page with the stored entry (the API, `shanyraq audit verify`, an
export): a nested detail, a null or a truth value must read as JSON there (`null`, `true`,
double quotes, keys sorted), not as Python writes them (`None`, `True`, single quotes); text
stays as it is, and markup in any value shows as text.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

from serving import audit
from serving.db.session import session_scope

TARGET = "family:AUDIT-VALUES-1"
DETAILS: dict[str, Any] = {
    "room_hint_ignored": {"stored": None, "sent": "bathroom"},
    "run_ids": [1, 2],
    "updated_by_run": {"1": 4},
    "reuse_matches": [{"photo": "Үй", "family_id": None}],
    "reviewed": True,
    "rescored": False,
    "region": None,
    "count": 3,
    "note": "<b>bold</b> & plain",
    "markup": {"why": "<script>alert(1)</script>"},
    "model_versions": {"vision": "v1"},
    "photo_ids": [7, 8],
}
SHOWN = re.compile(r'<span><code lang="en" translate="no">([^<]+)</code>=(.*?)</span>', re.S)


def _append(web: Any) -> None:
    with session_scope(web.services.sessions) as session:
        audit.append(
            session,
            web.services.signing_key,
            actor="admin",
            action="decision_recorded",
            target=TARGET,
            details=DETAILS,
        )


def _row(page: str) -> str:
    rows = [row for row in page.split("<tr>") if f"<td>{TARGET}</td>" in row]
    assert len(rows) == 1, "the entry is not on the page once"
    return rows[0].split("</tr>", 1)[0]


def test_nested_and_null_details_read_as_the_stored_json(web, browser_for):
    _append(web)
    page = browser_for("admin_national").get("/ui/audit")
    assert page.status_code == 200
    shown = {key: html.unescape(value) for key, value in SHOWN.findall(_row(page.text))}

    assert shown["room_hint_ignored"] == '{"sent":"bathroom","stored":null}'
    assert shown["run_ids"] == "[1,2]"
    assert shown["updated_by_run"] == '{"1":4}'
    assert shown["reuse_matches"] == '[{"family_id":null,"photo":"Үй"}]'  # letters, not \u
    assert (shown["reviewed"], shown["rescored"], shown["region"]) == ("true", "false", "null")
    assert shown["count"] == "3"
    assert shown["note"] == "<b>bold</b> & plain"  # text as it is, not quoted
    assert "model_versions" not in shown and "photo_ids" not in shown  # still left out
    for key, value in shown.items():  # what is shown is what was stored
        expected = DETAILS[key]
        assert (value if isinstance(expected, str) else json.loads(value)) == expected


def test_markup_in_details_shows_as_text(web, browser_for):
    _append(web)
    row = _row(browser_for("admin_national").get("/ui/audit").text)
    assert "<script" not in row and "<b>" not in row
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; plain" in row
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in row
