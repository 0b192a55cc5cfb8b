"""A page session is renewed while it is used, within a bound from its sign-in, and renewal
keeps its forms valid and its sign-outs final.

Tokens of any age are made with the clock they name (`now=`), so nothing waits for time.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
from fastapi.testclient import TestClient
from sqlalchemy import select

from serving.core.security import TokenClaims
from serving.db.models import AuditEntry, RevokedToken, User
from serving.sign_out import sign_out_everywhere
from serving.web.session import session_csrf
from tests.serving.helpers import PASSWORD, Service, started
from tests.web.helpers import csrf_from, sign_in
from tests.web.session_helpers import (
    HOUR,
    MINUTE,
    renewed_token,
    session_cookies,
    session_get,
    session_token,
    token_claims,
)


def _post(web: Service, path: str, token: str, data: dict[str, str]) -> Any:
    client = TestClient(web.app, base_url="http://127.0.0.1")
    return client.post(
        path, data=data, headers={"Cookie": f"shanyraq_session={token}"}, follow_redirects=False
    )


def _payload(token: str) -> dict[str, Any]:
    """A token's claims, unchecked: one made with a clock ahead is not valid yet."""
    payload: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return payload


def _key(web: Service) -> bytes:
    return bytes(web.services.signing_key)


# --- renewal --------------------------------------------------------------------------------


def test_a_session_past_half_its_token_lifetime_is_renewed_with_the_same_session(web):
    old = session_token(web, "commission", signed_in_ago_s=40 * MINUTE, issued_ago_s=40 * MINUTE)
    answer = session_get(web, "/ui/families", old)
    assert answer.status_code == 200
    before, after = token_claims(web, old), token_claims(web, renewed_token(answer))
    assert after.expires_at > before.expires_at  # a member who keeps working stays signed in
    assert after.issued_at > before.issued_at
    assert after.token_id == before.token_id  # the same session: its forms stay valid
    assert after.signed_in_at == before.signed_in_at  # its bound does not move
    assert after.session_expires_at == before.session_expires_at
    # The page's forms carry the session's CSRF token; it survives the renewal.
    form_token = csrf_from(answer.text)
    assert form_token == session_csrf(_key(web), before.token_id)
    assert csrf_from(session_get(web, "/ui/families", renewed_token(answer)).text) == form_token


def test_a_form_opened_before_a_renewal_is_accepted_after_it(web):
    old = session_token(web, "commission", signed_in_ago_s=10 * MINUTE, issued_ago_s=10 * MINUTE)
    form_token = csrf_from(session_get(web, "/ui/families", old).text)  # not due: no renewal yet
    aged = session_token(
        web, "commission", signed_in_ago_s=50 * MINUTE, issued_ago_s=50 * MINUTE,
        token_id=token_claims(web, old).token_id,
    )  # fmt: skip
    renewed = renewed_token(session_get(web, "/ui/", aged))
    out = _post(web, "/ui/logout", renewed, {"csrf_token": form_token})
    assert out.status_code == 303 and out.headers["location"] == "/ui/login"


def test_a_session_in_the_first_half_of_its_token_is_not_renewed(web):
    token = session_token(web, "commission", signed_in_ago_s=20 * MINUTE, issued_ago_s=20 * MINUTE)
    answer = session_get(web, "/ui/families", token)
    assert answer.status_code == 200
    assert session_cookies(answer) == []


def test_renewal_stops_at_the_configured_bound_from_sign_in(tmp_path: Path):
    with started(tmp_path, session_max_hours=2) as web:
        # Signed in 1 h 30 min ago: the session ends 30 min from now, however active.
        aged = session_token(
            web, "commission", signed_in_ago_s=90 * MINUTE, issued_ago_s=40 * MINUTE
        )
        renewed = token_claims(web, renewed_token(session_get(web, "/ui/", aged)))
        assert renewed.expires_at == renewed.signed_in_at + 2 * HOUR  # not a full token's hour
        # At the bound already: nothing to renew, the session ends with this token.
        last = session_token(
            web, "commission", signed_in_ago_s=110 * MINUTE, issued_ago_s=50 * MINUTE
        )
        assert token_claims(web, last).expires_at == token_claims(web, last).session_expires_at
        answer = session_get(web, "/ui/", last)
        assert answer.status_code == 200 and session_cookies(answer) == []


def test_the_sign_in_cookie_carries_the_configured_bound(tmp_path: Path):
    with started(tmp_path, session_max_hours=2) as web:
        client = TestClient(web.app, base_url="http://127.0.0.1")
        assert sign_in(client, "commission", PASSWORD).status_code == 303
        claims = token_claims(web, client.cookies.get("shanyraq_session"))
        assert claims.session_expires_at == claims.signed_in_at + 2 * HOUR
        assert claims.expires_at == claims.issued_at + web.services.settings.token_ttl_minutes * 60


def test_an_answer_that_ends_the_session_is_not_renewed(web):
    aged = session_token(web, "commission", signed_in_ago_s=40 * MINUTE, issued_ago_s=40 * MINUTE)
    form_token = session_csrf(_key(web), token_claims(web, aged).token_id)
    out = _post(web, "/ui/logout", aged, {"csrf_token": form_token})
    assert out.status_code == 303
    (cleared,) = session_cookies(out)
    assert cleared.startswith('shanyraq_session="";') or cleared.startswith("shanyraq_session=;")


def test_a_bearer_header_on_a_page_is_not_turned_into_a_cookie(web):
    aged = session_token(web, "commission", signed_in_ago_s=40 * MINUTE, issued_ago_s=40 * MINUTE)
    client = TestClient(web.app, base_url="http://127.0.0.1")
    answer = client.get("/ui/families", headers={"Authorization": f"Bearer {aged}"})
    assert answer.status_code == 200 and session_cookies(answer) == []


def test_renewals_are_not_audited(web):
    aged = session_token(web, "commission", signed_in_ago_s=40 * MINUTE, issued_ago_s=40 * MINUTE)
    answer = session_get(web, "/ui/", aged)
    assert renewed_token(answer)
    with web.services.sessions() as session:
        actions = [e.action for e in session.execute(select(AuditEntry)).scalars()]
    assert actions[-1] == "page_viewed" and "login" not in actions


# --- revocation still ends renewed sessions -------------------------------------------------


def test_signing_out_ends_every_token_of_the_session_renewed_or_not(web):
    aged = session_token(web, "commission", signed_in_ago_s=40 * MINUTE, issued_ago_s=40 * MINUTE)
    renewed = renewed_token(session_get(web, "/ui/", aged))
    form_token = session_csrf(_key(web), token_claims(web, renewed).token_id)
    assert _post(web, "/ui/logout", renewed, {"csrf_token": form_token}).status_code == 303
    for token in (aged, renewed):
        answer = session_get(web, "/ui/", token)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/ui/login")


def test_a_sign_out_with_an_older_token_outlasts_the_renewed_one(web):
    """Signed out with the token from before a renewal (a stolen copy, or a sign-out racing a
    renewal): the revocation is kept as long as any token of the session could be valid."""
    aged = session_token(web, "commission", signed_in_ago_s=40 * MINUTE, issued_ago_s=40 * MINUTE)
    renewed = renewed_token(session_get(web, "/ui/", aged))
    form_token = session_csrf(_key(web), token_claims(web, aged).token_id)
    assert _post(web, "/ui/logout", aged, {"csrf_token": form_token}).status_code == 303
    assert session_get(web, "/ui/", renewed).status_code == 303
    with web.services.sessions() as session:
        row = session.get(RevokedToken, token_claims(web, renewed).token_id)
    assert row is not None and row.expires_at >= token_claims(web, renewed).session_expires_at


def test_sign_out_everywhere_ends_a_session_renewed_after_it(web):
    """A renewal made after the mark (it raced the sign-out everywhere) keeps the session's
    sign-in time, which is before the mark: refused."""
    with web.services.sessions() as session:
        user = session.execute(select(User).where(User.username == "commission")).scalar_one()
        sign_out_everywhere(user, now=datetime.fromtimestamp(time.time() - 20 * MINUTE, UTC))
        session.commit()
    renewed_after_mark = session_token(
        web, "commission", signed_in_ago_s=40 * MINUTE, issued_ago_s=10 * MINUTE
    )
    answer = session_get(web, "/ui/", renewed_after_mark)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/ui/login")
    assert session_cookies(answer)[0].startswith(("shanyraq_session=;", 'shanyraq_session="";'))


def test_sign_out_everywhere_from_a_page_ends_the_renewed_and_the_older_token(web):
    aged = session_token(web, "commission", signed_in_ago_s=40 * MINUTE, issued_ago_s=40 * MINUTE)
    renewed = renewed_token(session_get(web, "/ui/", aged))
    form_token = session_csrf(_key(web), token_claims(web, renewed).token_id)
    assert _post(web, "/ui/logout-all", renewed, {"csrf_token": form_token}).status_code == 303
    assert [session_get(web, "/ui/", t).status_code for t in (aged, renewed)] == [303, 303]


# --- the page's CSRF token comes from the sign-in check's claims ------------------------------


def test_a_page_binds_its_csrf_token_without_decoding_the_token_again(
    web, browser_for, monkeypatch
):
    from serving.web import session as web_session

    client = browser_for("commission")
    token_id = token_claims(web, client.cookies.get("shanyraq_session")).token_id
    decoded: list[str] = []
    original = web_session.decode_token

    def counting(*args: Any, **kwargs: Any) -> TokenClaims:
        decoded.append("decoded")
        return original(*args, **kwargs)

    monkeypatch.setattr(web_session, "decode_token", counting)
    answer = client.get("/ui/families")
    assert answer.status_code == 200
    assert csrf_from(answer.text) == session_csrf(_key(web), token_id)
    assert decoded == []  # the sign-in check's claims were reused


def test_an_error_page_still_binds_its_forms_to_the_session(web, browser_for):
    """No sign-in check runs for an unknown address: the token is decoded for its forms."""
    client = browser_for("commission")
    token_id = token_claims(web, client.cookies.get("shanyraq_session")).token_id
    answer = client.get("/ui/no-such-page")
    assert answer.status_code == 404
    assert csrf_from(answer.text) == session_csrf(_key(web), token_id)


# --- when a renewal is due (the clock given) --------------------------------------------------


def test_renewal_is_due_only_past_half_of_the_token_and_before_the_bound(web):
    from serving.core.security import create_token
    from serving.web.session import renewal

    settings, key = web.services.settings, _key(web)
    token = session_token(web, "commission", signed_in_ago_s=0, issued_ago_s=0)
    claims = token_claims(web, token)
    half = (claims.expires_at - claims.issued_at) / 2
    assert renewal(claims, settings, key=key, now=claims.issued_at + half) is None
    later = claims.issued_at + half + 1
    renewed = renewal(claims, settings, key=key, now=later)
    assert renewed is not None
    assert _payload(renewed)["exp"] == int(later) + settings.token_ttl_minutes * MINUTE
    # Close to the bound: the renewal ends there; once a token ends there: none.
    near = renewal(claims, settings, key=key, now=claims.session_expires_at - 10 * MINUTE)
    assert near is not None
    assert _payload(near)["exp"] == claims.session_expires_at
    at_bound = session_token(
        web, "commission", signed_in_ago_s=settings.session_max_hours * HOUR - 10 * MINUTE,
        issued_ago_s=50 * MINUTE,
    )  # fmt: skip
    last = token_claims(web, at_bound)
    assert last.expires_at == last.session_expires_at
    assert renewal(last, settings, key=key) is None
    # An API token (no bound of a page session) is never renewed.
    api = token_claims(web, create_token(
        user_id=claims.user_id, username="commission", role="commission",
        region=claims.region, key=key, ttl_s=settings.token_ttl_minutes * MINUTE,
    ))  # fmt: skip
    assert renewal(api, settings, key=key, now=api.expires_at - 1) is None
