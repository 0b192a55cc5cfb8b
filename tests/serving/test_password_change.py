"""The user's own password change (`POST /auth/password`), on SQLite and PostgreSQL.

The current password must verify (a wrong one counts against the account's sign-in limit),
the new one must pass the account rule and differ; on success every earlier token of the
account is refused, the answer is a fresh token, and the change is audited without either
password.
"""

from __future__ import annotations

import json

import pytest

from serving import audit
from serving.db.session import session_scope
from serving.users import PASSWORD_MIN_CHARS
from tests.serving.helpers import PASSWORD, ROLES, audit_entries

NEW_PASSWORD = "a brand new pass phrase"
SIGNED_OUT = "every session of this account was signed out; sign in again"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _change(service, token: str, current: str, new: str):
    return service.client.post(
        "/auth/password",
        json={"current_password": current, "new_password": new},
        headers=_bearer(token),
    )


def _login(service, username: str, password: str):
    return service.client.post("/auth/token", data={"username": username, "password": password})


def _me(service, token: str):
    return service.client.get("/auth/me", headers=_bearer(token))


def _actions(service, action: str) -> list[tuple[str | None, str | None, dict]]:
    return [(e.actor, e.target, e.details) for e in audit_entries(service, action)]


def test_the_change_gives_a_fresh_token_and_ends_every_other_session(service):
    used, other = service.sign_in("commission"), service.sign_in("commission")
    answer = _change(service, used, PASSWORD, NEW_PASSWORD)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["token_type"] == "bearer" and body["expires_in"] > 0
    fresh = body["access_token"]
    me = _me(service, fresh)
    assert me.status_code == 200 and me.json()["username"] == "commission"
    for token in (used, other, service.tokens["commission"]):  # this request's token too
        refused = _me(service, token)
        assert refused.status_code == 401
        assert refused.json() == {"code": "token_invalid", "message": SIGNED_OUT}
    assert _me(service, service.tokens["inspector"]).status_code == 200  # other accounts stay


def test_the_new_password_signs_in_and_the_old_one_no_longer_does(service):
    assert _change(service, service.sign_in("inspector"), PASSWORD, NEW_PASSWORD).status_code == 200
    old = _login(service, "inspector", PASSWORD)
    assert old.status_code == 401 and old.json()["code"] == "credentials_invalid"
    new = _login(service, "inspector", NEW_PASSWORD)
    assert new.status_code == 200
    assert _me(service, new.json()["access_token"]).status_code == 200
    # And the new password is now the current one for a further change.
    again = _change(service, new.json()["access_token"], NEW_PASSWORD, "yet another pass phrase")
    assert again.status_code == 200, again.text


def test_a_wrong_current_password_is_refused_and_changes_nothing(service):
    token = service.sign_in("annotator")
    answer = _change(service, token, "not the password", NEW_PASSWORD)
    assert answer.status_code == 403
    assert answer.json()["code"] == "current_password_wrong"
    assert "WWW-Authenticate" not in answer.headers  # the token is fine: not a sign-in prompt
    assert _me(service, token).status_code == 200  # nobody was signed out
    assert _login(service, "annotator", PASSWORD).status_code == 200
    assert _login(service, "annotator", NEW_PASSWORD).status_code == 401
    assert [(a, t) for a, t, _ in _actions(service, "password_change_failed")] == [
        ("annotator", None)
    ]
    assert _actions(service, "password_changed") == []


@pytest.mark.parametrize(
    ("new", "code"),
    [
        ("x" * (PASSWORD_MIN_CHARS - 1), "password_weak"),  # the rule `users add` applies
        ("", "password_weak"),
        (PASSWORD, "password_unchanged"),
    ],
    ids=["one_too_short", "empty", "same_as_current"],
)
def test_a_new_password_that_breaks_the_rules_is_refused(service, new, code):
    token = service.sign_in("admin")
    answer = _change(service, token, PASSWORD, new)
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == code
    assert _me(service, token).status_code == 200
    assert _login(service, "admin", PASSWORD).status_code == 200
    assert _actions(service, "password_changed") == []


def test_a_new_password_of_exactly_the_minimum_length_is_accepted(service):
    shortest = "y" * PASSWORD_MIN_CHARS
    assert _change(service, service.sign_in("admin"), PASSWORD, shortest).status_code == 200
    assert _login(service, "admin", shortest).status_code == 200


def test_wrong_current_passwords_share_the_sign_in_limit_of_the_account(make_service):
    service = make_service(
        rate_limits={"login_per_minute": 100, "login_per_account": 3,
                     "login_account_window_minutes": 15},
    )  # fmt: skip
    token = service.sign_in("commission")
    assert _login(service, "commission", "wrong at sign-in").status_code == 401  # counts too
    for attempt in range(2):
        refused = _change(service, token, f"guess number {attempt}", NEW_PASSWORD)
        assert refused.status_code == 403, refused.text
    limited = _change(service, token, PASSWORD, NEW_PASSWORD)  # even the right one, now
    assert limited.status_code == 429, limited.text
    assert limited.json()["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) > 0
    assert _login(service, "commission", PASSWORD).status_code == 429  # the same limit
    assert _me(service, token).status_code == 200  # nothing changed, nobody signed out
    notices = _actions(service, "login_rate_limited")
    assert [(a, t) for a, t, _ in notices] == [("commission", "account:commission")]
    # Another account keeps its own budget.
    other = service.sign_in("inspector")
    assert _change(service, other, PASSWORD, NEW_PASSWORD).status_code == 200


def test_the_change_is_audited_without_either_password(service):
    answer = _change(service, service.sign_in("inspector"), PASSWORD, NEW_PASSWORD)
    assert answer.status_code == 200
    wrong = _change(service, answer.json()["access_token"], "a guessed password", "other pass 123")
    assert wrong.status_code == 403
    assert [(a, t) for a, t, _ in _actions(service, "password_changed")] == [("inspector", None)]
    assert len(_actions(service, "password_change_failed")) == 1
    written = json.dumps(
        [(e.actor, e.action, e.target, e.details) for e in audit_entries(service)],
        ensure_ascii=False,
    )
    for secret in (PASSWORD, NEW_PASSWORD, "a guessed password", "other pass 123"):
        assert secret not in written
    with session_scope(service.services.sessions) as session:
        verified = audit.verify(session, service.services.signing_key)
    assert verified.ok, verified.problems


@pytest.mark.parametrize("username", [*ROLES, "admin_national"])
def test_every_role_may_change_its_own_password(service, username):
    answer = _change(service, service.tokens[username], PASSWORD, NEW_PASSWORD)
    assert answer.status_code == 200, answer.text
    assert _me(service, answer.json()["access_token"]).json()["username"] == username
    assert _login(service, username, NEW_PASSWORD).status_code == 200


def test_without_a_valid_token_the_change_is_refused(service):
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    anonymous = service.client.post("/auth/password", json=body)
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "not_authenticated"
    forged = service.client.post("/auth/password", json=body, headers=_bearer("not-a-token"))
    assert forged.status_code == 401 and forged.json()["code"] == "token_invalid"
    assert _login(service, "inspector", PASSWORD).status_code == 200


def test_the_request_body_is_checked(service):
    token = service.tokens["inspector"]
    cases = [
        {"new_password": NEW_PASSWORD},
        {"current_password": PASSWORD},
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "role": "admin"},
        {"current_password": PASSWORD, "new_password": "z" * 257},
    ]
    for body in cases:
        answer = service.client.post("/auth/password", json=body, headers=_bearer(token))
        assert answer.status_code == 422 and answer.json()["code"] == "request_invalid", body
    assert _me(service, token).status_code == 200


def test_the_openapi_declares_the_route_for_every_role_with_an_example(service):
    openapi = service.client.get("/openapi.json").json()
    operation = openapi["paths"]["/auth/password"]["post"]
    assert operation["x-policy"] == {"roles": sorted(ROLES)}
    assert {"200", "401", "403", "422", "429"} <= set(operation["responses"])
    assert "fresh access token" in operation["description"]
    schema = openapi["components"]["schemas"]["PasswordChange"]
    assert set(schema["required"]) == {"current_password", "new_password"}
    (example,) = schema["examples"]
    assert set(example) == {"current_password", "new_password"}
    # The example must not be a seeded account's password: property tests send it.
    assert PASSWORD not in example.values()
