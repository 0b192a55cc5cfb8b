"""Family pages by role and by size, on SQLite and PostgreSQL: decisions only for the roles the
API lets read them, and a family list filtered before it is cut (and saying when it is)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from serving.db.models import Assessment
from serving.db.session import session_scope
from serving.web import family_view
from tests.serving.helpers import PASSWORD, Service, jpeg, started
from tests.web.helpers import csrf_from

DECIDER = "zhanar.decider"  # a name the page shows nowhere unless it lists decisions
REASON = "Employer letter shows arrears SECRET-7731."
ROWS = re.compile(r'<th scope="row"><a href="/ui/families/([^"]+)"')


@pytest.fixture
def web(tmp_path: Path, database_url: str) -> Iterator[Service]:
    """The page tests' app (tests/web/conftest.py), on this test's database."""
    with started(tmp_path, database_url) as service:
        yield service


def _override_by_decider(web: Service, browser_for) -> None:
    from serving.users import create_user

    with session_scope(web.services.sessions) as session:
        create_user(session, username=DECIDER, password=PASSWORD, role="commission",
                    region="shymkent")  # fmt: skip
    web.create_family("F1")
    web.upload("F1", jpeg(1))
    decider = browser_for(DECIDER)
    page = decider.get("/ui/families/F1")
    form = {
        "csrf_token": csrf_from(page.text),
        "kind": "override",
        "level": "2",
        "reason_code": "income_evidence",
        "reason": REASON,
        "assessment_id": page.text.split('name="assessment_id" value="')[1].split('"')[0],
    }
    done = decider.post("/ui/families/F1/decisions", data=form, follow_redirects=False)
    assert done.status_code == 303, done.text


def test_family_page_shows_decisions_only_to_the_roles_the_api_allows(web, browser_for):
    _override_by_decider(web, browser_for)
    for role in ("inspector", "annotator", "commission", "admin"):
        page = browser_for(role).get("/ui/families/F1")
        api = web.client.get("/families/F1/decisions", headers=web.headers(role))
        may_read = role in family_view.DECISION_READERS
        assert (api.status_code == 200) == may_read, (role, api.status_code)
        if page.status_code == 403:  # the annotator may not open the page at all
            assert not may_read
            continue
        assert page.status_code == 200
        for secret in (REASON, DECIDER, "Decision history", 'id="decision"'):
            assert (secret in page.text) == may_read, (role, secret)
    inspector = browser_for("inspector").get("/ui/families/F1?decided=1").text
    assert "The decision was recorded." not in inspector


def test_family_list_is_filtered_before_it_is_cut(web, browser_for, monkeypatch):
    monkeypatch.setattr(family_view, "MAX_ROWS", 5)
    for n in range(8):
        web.create_family(f"F{n}")
    commission = browser_for("commission")
    assert commission.get("/ui/families/F7").status_code == 200  # assessed: needs_review
    with session_scope(web.services.sessions) as session:
        assessed = session.execute(
            select(Assessment).where(Assessment.family_id == "F7")
        ).scalar_one()
        assert assessed.asp == "needs_review"
    only = commission.get("/ui/families?status=needs_review").text
    assert ROWS.findall(only) == ["F7"] and 'id="families-cut"' not in only
    everything = commission.get("/ui/families").text
    assert ROWS.findall(everything) == ["F7", "F0", "F1", "F2", "F3"]  # needs_review first
    assert "Showing the first 5 of 8 matching families." in everything
    pending = commission.get("/ui/families?status=not_assessed").text
    assert ROWS.findall(pending) == ["F0", "F1", "F2", "F3", "F4"]
    assert "Showing the first 5 of 7 matching families." in pending
    if assessed.level is not None:
        at_level = commission.get(f"/ui/families?level={assessed.level}").text
        assert ROWS.findall(at_level) == ["F7"] and 'id="families-cut"' not in at_level
    other = 6 if assessed.level != 6 else 5
    assert ROWS.findall(commission.get(f"/ui/families?level={other}").text) == []
    russian = commission.get("/ui/families?lang=ru").text
    assert "Показаны первые 5 из 8 подходящих семей." in russian
    monkeypatch.setattr(family_view, "MAX_ROWS", 500)
    assert 'id="families-cut"' not in commission.get("/ui/families").text
