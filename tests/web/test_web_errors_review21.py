"""Error pages and page audits (review 21).

1. An HTML 503 from a part that is busy for a while (`UnavailableError.retry_after_s`) says
   when to try again (Retry-After), as the API's answer does; one that waits for an
   administrator says nothing.
2. Sign-in leads back to the address asked for as it was sent: an escape in the path stays
   an escape, and a filter typed with "//" keeps the way back.
3. A page view's audit entry names the page viewed, whatever `details` holds.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from serving.api.deps import CurrentUser
from serving.db.models import AuditEntry, User
from serving.db.session import session_scope
from serving.errors import UnavailableError
from serving.web.deps import record_view
from tests.serving.helpers import PASSWORD, Service
from tests.web import live
from tests.web.helpers import csrf_from
from tests.web.live_module import live_server

NEXT_FIELD = re.compile(r'name="next" value="([^"]*)"')

# --- 1. Retry-After on a page's 503 ------------------------------------------------------


def _busy_route(web: Service, path: str, retry_after_s: int | None) -> None:
    def busy() -> None:
        raise UnavailableError("the photo model is busy (test)", retry_after_s=retry_after_s)

    web.app.add_api_route(path, busy, include_in_schema=False)


def test_a_page_503_of_a_busy_part_says_when_to_try_again(web):
    _busy_route(web, "/ui/test-only/busy", 5)
    _busy_route(web, "/test-only/busy", 5)
    page = web.client.get("/ui/test-only/busy")
    api = web.client.get("/test-only/busy")
    assert page.status_code == api.status_code == 503
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers.get("Retry-After") == api.headers.get("Retry-After") == "5"


def test_a_page_503_that_waits_for_an_administrator_sends_no_retry_after(web):
    _busy_route(web, "/ui/test-only/missing", None)
    page = web.client.get("/ui/test-only/missing")
    assert page.status_code == 503 and "Retry-After" not in page.headers


# --- 2. the way back after sign-in -------------------------------------------------------


def _way_back(client: Any, address: str, username: str) -> tuple[str, str]:
    """Open `address` signed out, then sign in from the page it leads to: the `next` the
    sign-in form carries, and where signing in leads."""
    sent = client.get(address, follow_redirects=False)
    assert sent.status_code == 303 and sent.headers["location"].startswith("/ui/login")
    login = client.get(sent.headers["location"])
    found = NEXT_FIELD.search(login.text)
    assert found, f"the sign-in page of {address} leads back nowhere"
    target = html.unescape(found.group(1))
    signed_in = client.post(
        "/ui/login",
        data={"username": username, "password": PASSWORD, "next": target,
              "csrf_token": csrf_from(login.text)},
        follow_redirects=False,
    )  # fmt: skip
    assert signed_in.status_code == 303, signed_in.text
    return target, signed_in.headers["location"]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[live.LiveServer]:
    """A real server: TestClient decodes a path twice ("%2541" reaches the app as "A")."""
    with live_server(tmp_path_factory.mktemp("served")) as server:
        yield server


@pytest.mark.parametrize(
    "address",
    [
        "/ui/families/F%2541",  # decoded, "F%41" would lead to family "FA"
        "/ui/photos/7%2Fheatmap/damp_mould",  # an escaped "/" stays one
        "/ui/families/F%3F1",  # an escaped "?" is no query
    ],
)
def test_sign_in_leads_back_to_the_address_as_it_was_sent(served, address):
    with httpx.Client(base_url=served.url, timeout=60) as client:
        target, location = _way_back(client, address, "commission")
    assert target == location == address


def test_a_filter_typed_with_a_double_slash_keeps_the_way_back(web):
    target, location = _way_back(web.client, "/ui/audit?code=a//b", "admin")
    assert target == location == "/ui/audit?code=a%2F%2Fb"  # the same filter to the page
    page = web.client.get(location)
    assert page.status_code == 200
    assert 'name="code" value="a//b"' in page.text


# --- 3. the page key of a page view's audit entry ----------------------------------------


def _page_views(web: Service) -> int:
    with web.services.sessions() as session:
        count = select(func.count()).where(AuditEntry.action == "page_viewed")
        return int(session.execute(count).scalar_one())


def test_a_page_views_details_cannot_name_another_page(web):
    before = _page_views(web)
    with session_scope(web.services.sessions) as session:
        row = session.execute(select(User).where(User.username == "admin")).scalar_one()
        user = CurrentUser(id=row.id, username=row.username, role=row.role, region=row.region)
        with pytest.raises(ValueError, match="page"):
            record_view(session, web.services, user, page="audit", details={"page": "home"})
    assert _page_views(web) == before  # nothing recorded under a page not viewed
