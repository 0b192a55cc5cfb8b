"""An error page of a signed-in reader shows their menu from the sign-in check the route's
dependencies already made: the session is checked once, not again for the page."""

from __future__ import annotations

from typing import Any

from tests.serving.helpers import OTHER_REGION
from tests.web.helpers import csrf_from
from tests.web.sign_in_helpers import SIGNED_IN_MENU, sign_in_checks_made


def _signed_in_as(page: str, username: str) -> bool:
    """Whether the page's menu is that of `username` (its sign-out form and its name)."""
    return SIGNED_IN_MENU in page and username in page


def _error_page_checked_once(web: Any, client: Any, path: str, *, status: int, reader: str) -> None:
    """GET `path` is answered with the error page `status`, showing the menu of `reader` (the
    client's user), the session checked once."""
    page, checks = sign_in_checks_made(web, lambda: client.get(path))
    assert page.status_code == status
    assert checks == 1
    assert _signed_in_as(page.text, reader)


def test_a_family_out_of_the_readers_region_checks_the_session_once(web, browser_for):
    web.create_family("F1")
    web.create_family("F2", region=OTHER_REGION)
    commission = browser_for("commission")
    page, checks = sign_in_checks_made(web, lambda: commission.get("/ui/families/F1"))
    assert page.status_code == 200 and checks == 1  # what is counted: a page's one check
    _error_page_checked_once(web, commission, "/ui/families/F2", status=404, reader="commission")


def test_a_photo_not_found_checks_the_session_once(web, browser_for):
    inspector = browser_for("inspector")
    _error_page_checked_once(
        web, inspector, "/ui/photos/4242/image", status=404, reader="inspector"
    )


def test_a_page_refused_for_the_role_checks_the_session_once(web, browser_for):
    web.create_family("F1")
    annotator = browser_for("annotator")
    _error_page_checked_once(web, annotator, "/ui/families/F1", status=403, reader="annotator")


def test_a_page_that_does_not_exist_still_shows_the_readers_menu(web, browser_for):
    # No route ran, so no sign-in check either: the error page makes the only one.
    inspector = browser_for("inspector")
    _error_page_checked_once(web, inspector, "/ui/no-such-page", status=404, reader="inspector")


def test_an_error_page_of_a_session_signed_out_elsewhere_shows_no_menu(web, browser_for):
    kept, other = browser_for("inspector"), browser_for("inspector")
    page = other.get("/ui/upload")
    ended = other.post(
        "/ui/logout-all", data={"csrf_token": csrf_from(page.text)}, follow_redirects=False
    )
    assert ended.status_code == 303
    missing = kept.get("/ui/no-such-page")  # its cookie is still sent, its session ended
    assert missing.status_code == 404
    assert SIGNED_IN_MENU not in missing.text
