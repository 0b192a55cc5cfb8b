"""An upload run that meets an ended session loses none of the chosen photos: it stops, keeps
the photo that met the end and the later ones chosen, says so in its summary with a link to
sign in again in a new tab, and after that sign-in Upload sends them with the new session's
form token, which the page asks `GET /ui/session` for (its token is bound to its session).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from serving.db.models import ROLES, AuditEntry
from serving.web.i18n import load_catalogues
from tests.serving.helpers import PASSWORD, family_body
from tests.web import live
from tests.web.helpers import csrf_from, home_photo, sign_in
from tests.web.live_module import live_server, signed_in_page

EN = load_catalogues()["en"]
FAMILY = "F-501"
ENDED = "() => document.getElementById('upload-progress').textContent.includes({text!r})"
CHOSEN = "[...document.getElementById('files').files].map(f => f.name)"
SESSION_COOKIE = "shanyraq_session"


# --- the server's side: the fresh token is the asking session's, and only its ---------------


def _session(client: Any) -> Any:
    return client.get("/ui/session", headers={"Accept": "application/json"})


def _audit_entries(web: Any) -> int:
    with web.services.sessions() as session:
        return int(session.execute(select(func.count()).select_from(AuditEntry)).scalar_one())


def _upload(client: Any, token: str) -> Any:
    return client.post(
        "/ui/upload",
        data={"family_id": "F1", "csrf_token": token},
        files={"files": ("p.jpg", home_photo(51), "image/jpeg")},
        headers={"X-Requested-With": "fetch"},
        follow_redirects=False,
    )


def test_the_session_answer_gives_its_own_form_token_and_records_nothing(web, browser_for):
    web.create_family("F1")
    client = browser_for("inspector")
    page_token = csrf_from(client.get("/ui/upload").text)
    before = _audit_entries(web)
    answer = _session(client)
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    assert answer.json()["csrf_token"] == page_token  # what its own pages carry
    assert answer.json()["user"] == "inspector"
    assert _audit_entries(web) == before
    # A new sign-in is a new session: its token differs, and the old one is refused.
    client.post("/ui/logout", data={"csrf_token": page_token})
    assert sign_in(client, "inspector", PASSWORD).status_code == 303
    fresh = _session(client).json()["csrf_token"]
    assert fresh != page_token
    refused = _upload(client, page_token)
    assert refused.status_code == 403
    # Another session's token (the same account, another browser) is refused too.
    other = _session(browser_for("inspector")).json()["csrf_token"]
    assert other != fresh and _upload(client, other).status_code == 403
    assert _upload(client, fresh).status_code == 200


def test_the_session_answer_declares_and_keeps_its_policy(web, browser_for):
    from serving.web.routes import session_keepalive

    route = next(r for r in session_keepalive.router.routes if r.path == "/ui/session")
    assert route.openapi_extra["x-policy"] == {"roles": sorted(ROLES)}
    anonymous = web.client.get("/ui/session", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/ui/login")
    for role in ROLES:
        answer = _session(browser_for(role))
        assert answer.status_code == 200 and answer.json()["user"] == role, role


# --- the page's side, in Chromium -------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[live.LiveServer]:
    with live_server(tmp_path_factory.mktemp("upload-session-end")) as running:
        created = running.api("inspector").post("/families", json=family_body(FAMILY))
        assert created.status_code == 201, created.text
        yield running


def _photos_filed(server: live.LiveServer) -> int:
    return len(server.api("inspector").get(f"/families/{FAMILY}/photos").json())


def _press_upload(page: Any) -> None:
    page.focus("#upload-form button[type=submit]")
    page.keyboard.press("Enter")


def _upload_page(browser: Any, server: live.LiveServer) -> tuple[Any, str, str]:
    """The inspector's upload page with the family chosen, in a context of its own; its
    session cookie and its form's token."""
    context = browser.new_context(locale="en-GB")
    page = signed_in_page(context, server, "inspector")
    page.select_option("#family-id", FAMILY)
    session = next(c["value"] for c in context.cookies() if c["name"] == SESSION_COOKIE)
    return page, session, page.input_value("#upload-form input[name=csrf_token]")


def _sign_out_elsewhere(server: live.LiveServer, session: str, form_token: str) -> None:
    """What another client of the session does: sign it out."""
    out = httpx.post(
        f"{server.url}/ui/logout", data={"csrf_token": form_token},
        cookies={SESSION_COOKIE: session}, follow_redirects=False,
    )  # fmt: skip
    assert out.status_code == 303, out.text


def _choose(page: Any, names: tuple[str, ...], seed: int) -> None:
    photos = [
        {"name": name, "mimeType": "image/jpeg", "buffer": home_photo(seed + n)}
        for n, name in enumerate(names)
    ]
    page.set_input_files("#files", files=photos)


@dataclass
class EndedRun:
    page: Any
    posts: list[str]  # the methods of the requests the page sent to the upload form
    filed_before: int  # the family's photos before the run


@pytest.fixture
def ended(browser: Any, server: live.LiveServer) -> Iterator[EndedRun]:
    """The inspector's upload page after a run of three new photos whose session was signed
    out (by another client) once the first was filed."""
    filed_before = _photos_filed(server)
    page, session, form_token = _upload_page(browser, server)
    posts: list[str] = []

    def sign_out_before_the_second(route: Any) -> None:
        posts.append(route.request.method)
        if len(posts) == 2:  # the first photo is filed; now the session ends elsewhere
            _sign_out_elsewhere(server, session, form_token)
        route.continue_()

    page.route("**/ui/upload", sign_out_before_the_second)
    # Photos not filed before: none is a duplicate.
    _choose(page, ("a.jpg", "b.jpg", "c.jpg"), seed=60 + filed_before)
    _press_upload(page)
    page.wait_for_function(ENDED.format(text=EN["upload.signed_out"]), timeout=60_000)
    yield EndedRun(page, posts, filed_before)
    page.context.close()


def _sign_in_through_the_link(page: Any, server: live.LiveServer, username: str) -> None:
    """Follow the summary's sign-in link: a new tab, signed in there; this page stays."""
    link = page.locator("#upload-progress a")
    assert link.inner_text() == EN["upload.sign_in_new_tab"]
    with page.context.expect_page() as opened:
        link.click()
    tab = opened.value
    tab.wait_for_load_state()
    assert "/ui/login" in tab.url and tab != page
    tab.fill("#username", username)
    tab.fill("#password", PASSWORD)
    tab.press("#password", "Enter")
    tab.wait_for_load_state()
    assert "/ui/login" not in tab.url, f"{username} could not sign in"
    assert page.url.endswith("/ui/upload")


@pytest.mark.integration
@pytest.mark.slow
def test_an_ended_session_keeps_the_photos_chosen_and_a_new_sign_in_sends_them(ended, server):
    page, posts, before = ended.page, ended.posts, ended.filed_before
    assert posts == ["POST", "POST"]  # the third was never sent
    assert page.url.endswith("/ui/upload")  # still this page, not the sign-in page
    assert page.evaluate(CHOSEN) == ["b.jpg", "c.jpg"]
    progress = page.locator("#upload-progress")
    summary = EN["upload.summary"].format(total=1, usable=1, retake=0, failed=0)
    assert progress.inner_text().startswith(f"{summary} {EN['upload.signed_out']}")
    assert page.evaluate("document.activeElement.id") == "upload-progress"
    link = progress.locator("a")
    assert link.get_attribute("target") == "_blank" and link.get_attribute("href") == "/ui/login"
    cards = page.locator("#upload-results article h3").all_inner_texts()
    assert cards == ["a.jpg"]
    assert _photos_filed(server) == before + 1
    # Upload before signing in again: nothing is sent, the photos stay chosen.
    _press_upload(page)
    page.wait_for_function("() => !document.querySelector('#upload-form [aria-disabled]')")
    assert posts == ["POST", "POST"] and page.evaluate(CHOSEN) == ["b.jpg", "c.jpg"]
    assert EN["upload.signed_out"] in progress.inner_text()
    # Signed in again in the new tab, Upload sends the two with the new session's token.
    _sign_in_through_the_link(page, server, "inspector")
    _press_upload(page)
    done = EN["upload.summary"].format(total=2, usable=2, retake=0, failed=0)
    page.wait_for_function(
        f"() => document.getElementById('upload-progress').textContent === {done!r}",
        timeout=60_000,
    )
    assert page.evaluate(CHOSEN) == []
    outcomes = page.evaluate(
        "[...document.querySelectorAll('#upload-results article')]"
        ".map(a => [a.querySelector('h3').innerText, a.dataset.outcome])"
    )
    assert outcomes == [["b.jpg", "usable"], ["c.jpg", "usable"], ["a.jpg", "usable"]]
    assert _photos_filed(server) == before + 3


@pytest.mark.integration
@pytest.mark.slow
def test_photos_are_not_sent_as_another_account_signed_in_meanwhile(ended, server):
    page, posts, before = ended.page, ended.posts, ended.filed_before
    _sign_in_through_the_link(page, server, "admin")  # an uploader too, of the same region
    _press_upload(page)
    other = EN["upload.other_user"].format(name="inspector")
    page.wait_for_function(ENDED.format(text=other), timeout=60_000)
    assert posts == ["POST", "POST"] and page.evaluate(CHOSEN) == ["b.jpg", "c.jpg"]
    assert page.evaluate("document.activeElement.id") == "upload-progress"
    assert _photos_filed(server) == before + 1


@pytest.mark.integration
@pytest.mark.slow
def test_a_new_sign_in_during_a_run_sends_the_rest_with_its_token(browser, server):
    """The session is signed out and signed in again elsewhere in this browser while a run
    goes on: the next photo is refused for its old form token, the page asks for the new
    session's and sends it again, and no photo is lost or refused."""
    before = _photos_filed(server)
    page, old_session, form_token = _upload_page(browser, server)
    context = page.context
    posts: list[str] = []

    def sign_in_anew_before_the_second(route: Any) -> None:
        posts.append(route.request.method)
        if len(posts) != 2:
            route.continue_()
            return
        # What another tab of this browser does: sign out, then in again (a new session).
        _sign_out_elsewhere(server, old_session, form_token)
        with httpx.Client(base_url=server.url) as other_tab:
            assert sign_in(other_tab, "inspector", PASSWORD).status_code == 303
            new_session = other_tab.cookies[SESSION_COOKIE]
        context.add_cookies([{"name": SESSION_COOKIE, "value": new_session, "url": server.url}])
        headers = {**route.request.headers, "cookie": f"{SESSION_COOKIE}={new_session}"}
        route.continue_(headers=headers)  # the photo goes with the page's old form token

    page.route("**/ui/upload", sign_in_anew_before_the_second)
    _choose(page, ("a.jpg", "b.jpg", "c.jpg"), seed=90 + before)
    _press_upload(page)
    done = EN["upload.summary"].format(total=3, usable=3, retake=0, failed=0)
    page.wait_for_function(
        f"() => document.getElementById('upload-progress').textContent === {done!r}",
        timeout=60_000,
    )
    assert posts == ["POST"] * 4  # the second photo was sent again, once
    outcomes = page.evaluate(
        "[...document.querySelectorAll('#upload-results article')]"
        ".map(a => [a.querySelector('h3').innerText, a.dataset.outcome])"
    )
    assert outcomes == [["a.jpg", "usable"], ["b.jpg", "usable"], ["c.jpg", "usable"]]
    assert page.evaluate(CHOSEN) == []
    assert _photos_filed(server) == before + 3
    context.close()


@pytest.mark.integration
@pytest.mark.slow
def test_a_session_that_ended_while_its_renewal_was_asked_sends_no_photo(browser, server):
    """The page's `GET /ui/session` answer says its due renewal was not made because the
    session ended meanwhile (`X-Session-Renewal: skipped`, a clock of 0 s; see
    serving.web.session_clock.tell_skipped_renewal): the run sends nothing and keeps the photos
    chosen, as for a session found ended, instead of trusting the body's renewed clock."""
    before = _photos_filed(server)
    page, _, _ = _upload_page(browser, server)
    posts: list[str] = []
    page.route(
        "**/ui/upload", lambda route: (posts.append(route.request.method), route.continue_())
    )

    def ended_meanwhile(route: Any) -> None:
        answer = route.fetch()  # the real answer: 200, this session's form token and clock
        assert answer.status == 200
        ended = json.dumps({"ends_in_s": 0, "warn_before_s": 0, "final": True})
        headers = {**answer.headers, "x-session-renewal": "skipped", "x-session-clock": ended}
        route.fulfill(response=answer, headers=headers)

    page.route("**/ui/session", ended_meanwhile)
    _choose(page, ("a.jpg", "b.jpg"), seed=120 + before)
    _press_upload(page)
    page.wait_for_function(ENDED.format(text=EN["upload.signed_out"]), timeout=60_000)
    assert posts == [] and page.evaluate(CHOSEN) == ["a.jpg", "b.jpg"]
    assert _photos_filed(server) == before
    page.context.close()
