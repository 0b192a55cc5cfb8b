"""Review 19 of request limits and the session clock.

- A session at its bound (final: "Stay signed in" is not offered) was warned only half its
  last token's life before its end, not `session_warning_seconds` before as the README says:
  that cap only keeps "Stay signed in" from coming before a renewal is due.
"""

from __future__ import annotations

from tests.serving.helpers import PASSWORD, started
from tests.web.session_helpers import HOUR, page_clock, session_cookies, session_get, session_token


def test_a_final_session_is_warned_the_full_time_before_its_end(web):
    settings = web.services.settings
    bound_in_s = 150  # the session's last token: issued 10 s ago, ending at the bound
    token = session_token(
        web, "commission", signed_in_ago_s=settings.session_max_hours * HOUR - bound_in_s,
        issued_ago_s=10,
    )  # fmt: skip
    warning_s = settings.session_warning_seconds
    assert warning_s < bound_in_s and warning_s > (bound_in_s + 10) / 2  # the cap would bite

    kept = session_get(web, "/ui/session", token)
    assert kept.status_code == 200 and session_cookies(kept) == []  # nothing to renew
    clock = kept.json()
    assert clock["final"] is True and abs(clock["ends_in_s"] - bound_in_s) <= 5
    assert clock["warn_before_s"] == warning_s

    ends_in, warn_before, final = page_clock(session_get(web, "/ui/", token).text)
    assert final and warn_before == warning_s and abs(ends_in - bound_in_s) <= 5


def test_a_session_that_can_be_extended_is_warned_no_earlier_than_a_renewal_is_due(tmp_path):
    """The cap stays where "Stay signed in" is offered (two-minute tokens, far from the bound)."""
    with started(tmp_path, token_ttl_minutes=2) as web:
        token = session_token(web, "commission", signed_in_ago_s=0, issued_ago_s=0)
        clock = session_get(web, "/ui/session", token).json()
        assert clock["final"] is False and clock["warn_before_s"] == 60 - 1


# --- a sign-in over a session ends it ---------------------------------------------------------


def test_a_sign_in_over_a_session_signs_the_old_one_out(web, browser_for):
    from serving.web.session import SESSION_COOKIE
    from tests.serving.helpers import audit_entries
    from tests.serving.logout_helpers import auth_me
    from tests.web.helpers import sign_in

    client = browser_for("commission")
    old = client.cookies.get(SESSION_COOKIE)
    assert auth_me(web, old).status_code == 200

    wrong = sign_in(client, "inspector", "not the password")
    assert wrong.status_code == 401
    assert auth_me(web, old).status_code == 200  # a failed sign-in ends nothing

    # The next user of a shared computer signs in over it: a copy of the old cookie is refused.
    assert sign_in(client, "inspector", PASSWORD).status_code == 303
    assert client.cookies.get(SESSION_COOKIE) != old
    assert auth_me(web, old).json()["message"] == "this session was signed out; sign in again"
    assert [e.actor for e in audit_entries(web, "logout")] == ["commission"]
    assert auth_me(web, client.cookies.get(SESSION_COOKIE)).status_code == 200
