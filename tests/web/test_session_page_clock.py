"""A full page load whose due renewal is not made (the session ended while the page was made,
or could not be checked) shows the session's real clock in its session warning, not the
renewed one its page was rendered with: a browser's page cannot read its answer's headers,
so `X-Session-Renewal: skipped` alone would leave it counting on a renewal never made."""

from __future__ import annotations

import time
from typing import Any

import pytest

from serving.web import session as web_session
from serving.web.routes import auth as web_auth
from tests.serving.logout_helpers import SESSION_ENDINGS
from tests.web.session_helpers import (
    MINUTE,
    page_clock,
    renewed_token,
    session_cookies,
    session_get,
    session_token,
    token_claims,
)


def _aged(web: Any) -> str:
    """A session token past half its life: the page's answer is due to renew it."""
    return session_token(web, "commission", signed_in_ago_s=40 * MINUTE, issued_ago_s=40 * MINUTE)


def _skipped_page(answer: Any) -> tuple[int, int, bool]:
    assert answer.status_code == 200 and session_cookies(answer) == []
    assert answer.headers["x-session-renewal"] == "skipped"
    assert int(answer.headers["content-length"]) == len(answer.content)
    return page_clock(answer.text)


@pytest.mark.parametrize("end", SESSION_ENDINGS)
def test_a_page_whose_session_ended_before_it_was_rendered_shows_it_ended(web, monkeypatch, end):
    aged = _aged(web)
    record_view = web_auth.record_view

    def ended_meanwhile(*args: Any, **kwargs: Any) -> None:  # after the sign-in check
        end(web, aged)
        record_view(*args, **kwargs)

    monkeypatch.setattr(web_auth, "record_view", ended_meanwhile)
    assert _skipped_page(session_get(web, "/ui/", aged)) == (0, 0, True)


@pytest.mark.parametrize("end", SESSION_ENDINGS)
def test_a_page_whose_session_ended_after_its_clock_was_told_shows_it_ended(web, monkeypatch, end):
    aged = _aged(web)
    signed_in = web_session._signed_in

    def ended_just_before(services: Any, token: str) -> bool | None:  # the renewal's check
        end(web, aged)
        return signed_in(services, token)

    monkeypatch.setattr(web_session, "_signed_in", ended_just_before)
    assert _skipped_page(session_get(web, "/ui/families", aged)) == (0, 0, True)


def test_a_page_whose_session_could_not_be_checked_shows_the_current_tokens_end(web, monkeypatch):
    aged = _aged(web)

    def failing(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the database is gone")

    monkeypatch.setattr(web_session, "get_current_user", failing)  # the renewal's check only
    ends_in, _, final = _skipped_page(session_get(web, "/ui/", aged))
    assert abs(time.time() + ends_in - token_claims(web, aged).expires_at) <= 5 and not final


def test_a_renewed_page_still_shows_the_renewed_end(web):
    answer = session_get(web, "/ui/", _aged(web))
    renewed = token_claims(web, renewed_token(answer))
    ends_in, _, _ = page_clock(answer.text)
    assert abs(time.time() + ends_in - renewed.expires_at) <= 5
    assert "x-session-renewal" not in answer.headers
