"""Sign out everywhere: by the user, by an admin within its scope, and on a password reset.

Every token the account held is refused, on the API and on the pages, and a token of the
mark's own second too (JWT `iat` is in whole seconds); a sign-in right after still works.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from sqlalchemy import select

from serving.db.models import AuditEntry, User
from serving.db.session import session_scope
from serving.sign_out import sign_out_everywhere, wait_until_tokens_valid
from serving.users import reset_password
from tests.serving.helpers import OTHER_REGION, PASSWORD, REGION, audit_entries
from tests.serving.logout_helpers import audit_intact, auth_me, bearer, user_row

SIGNED_OUT = "every session of this account was signed out; sign in again"


def _token(service, username: str, *, issued_at_s: int) -> str:
    """A token of `username` as the service signs them, issued at a chosen second."""
    user = user_row(service, username)
    claims = {"sub": str(user.id), "name": user.username, "role": user.role,
              "region": user.region, "iat": issued_at_s, "nbf": issued_at_s,
              "exp": int(time.time()) + 600, "jti": f"t{issued_at_s}"}  # fmt: skip
    return jwt.encode(claims, service.services.signing_key, algorithm="HS256")


def test_logout_all_ends_every_session_of_the_user_only(service):
    tokens = [service.tokens["commission"], service.sign_in("commission")]
    tokens.append(service.sign_in("commission"))
    out = service.client.post("/auth/logout-all", headers=bearer(tokens[1]))
    assert out.status_code == 204 and out.content == b""
    for token in tokens:
        refused = auth_me(service, token)
        assert refused.status_code == 401
        assert refused.json() == {"code": "token_invalid", "message": SIGNED_OUT}
    assert auth_me(service, service.tokens["inspector"]).status_code == 200  # another user
    again = service.client.post("/auth/logout-all", headers=bearer(tokens[0]))
    assert again.status_code == 401
    assert [(e.actor, e.target) for e in audit_entries(service, "logout_all")] == [
        ("commission", None)
    ]
    audit_intact(service)


def test_a_sign_in_right_after_logout_all_works(service):
    token = service.sign_in("inspector")
    assert service.client.post("/auth/logout-all", headers=bearer(token)).status_code == 204
    mark = user_row(service, "inspector").tokens_valid_after
    assert mark is not None
    started = time.monotonic()
    fresh = service.sign_in("inspector")  # most likely in the mark's own second: it waits
    assert time.monotonic() - started < 5  # at most about one second of waiting
    assert jwt.decode(fresh, options={"verify_signature": False})["iat"] > math.floor(
        mark.timestamp()
    )
    assert auth_me(service, fresh).status_code == 200
    assert auth_me(service, token).status_code == 401


def test_tokens_of_the_marks_own_second_are_refused_and_of_the_next_accepted(service):
    # A mark a few seconds back, so that a token of the second after it is not from the future.
    mark = datetime.fromtimestamp(math.floor(time.time()) - 5 + 0.25, tz=UTC)
    with session_scope(service.services.sessions) as session:
        annotator = session.execute(select(User).where(User.username == "annotator")).scalar_one()
        sign_out_everywhere(annotator, now=mark)
    mark_s = math.floor(mark.timestamp())
    for issued_at_s, status in ((mark_s - 1, 401), (mark_s, 401), (mark_s + 1, 200)):
        answer = auth_me(service, _token(service, "annotator", issued_at_s=issued_at_s))
        assert answer.status_code == status, (issued_at_s - mark_s, answer.text)


class _FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now
        self.slept: list[float] = []
        self.commits = 0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def commit(self) -> None:
        self.commits += 1


@pytest.mark.parametrize(
    ("mark_s", "now_s", "slept"),
    [
        (None, 100.2, []),  # never signed out everywhere
        (100.7, 100.9, [pytest.approx(0.1)]),  # the mark's second: wait for the next
        (100.7, 100.2, [pytest.approx(0.8)]),  # a clock a little behind the mark's writer
        (100.7, 101.0, []),  # the next second already
        (100.0, 100.0, [pytest.approx(1.0)]),  # exactly on the second: still its second
        (130.5, 100.2, []),  # a mark from a clock far ahead: not waited for (would hang)
    ],
)
def test_wait_until_tokens_valid_on_a_fake_clock(mark_s, now_s, slept):
    clock = _FakeClock(now_s)
    mark = None if mark_s is None else datetime.fromtimestamp(mark_s, tz=UTC)
    user = User(username="u", password_hash="x", role="admin", tokens_valid_after=mark)
    session: Any = clock  # only its commit() is used
    wait_until_tokens_valid(session, user, clock=clock, sleep=clock.sleep)
    assert clock.slept == slept
    assert clock.commits == (1 if slept else 0)  # the write lock is let go before waiting
    if slept:
        assert math.floor(clock.now) > math.floor(mark_s)


def _sign_out_user(service, who: str, username: str):
    target = user_row(service, username)
    return service.client.post(f"/users/{target.id}/logout-all", headers=service.headers(who))


def test_national_admin_signs_out_any_account(service):
    for username in ("inspector_other", "commission"):
        token = service.sign_in(username)
        out = _sign_out_user(service, "admin_national", username)
        assert out.status_code == 204, out.text
        assert auth_me(service, token).json()["message"] == SIGNED_OUT
    assert auth_me(service, service.tokens["admin_national"]).status_code == 200
    entries = audit_entries(service, "user_logout_all")
    assert [(e.actor, e.target) for e in entries] == [
        ("admin_national", "user:inspector_other"),
        ("admin_national", "user:commission"),
    ]
    audit_intact(service)


def test_regional_admin_signs_out_only_accounts_of_its_region(service):
    inside = service.sign_in("inspector")
    assert _sign_out_user(service, "admin", "inspector").status_code == 204
    assert auth_me(service, inside).status_code == 401
    for username in ("inspector_other", "admin_national"):  # another region; national scope
        token = service.sign_in(username)
        refused = _sign_out_user(service, "admin", username)
        assert refused.status_code == 404, username
        assert refused.json()["code"] == "not_found" and "in your region" in refused.text
        assert auth_me(service, token).status_code == 200, username
    missing = service.client.post("/users/99999/logout-all", headers=service.headers("admin"))
    assert missing.status_code == 404
    assert missing.json()["message"] == "no user 99999 in your region"  # the same as above
    assert [e.target for e in audit_entries(service, "user_logout_all")] == ["user:inspector"]


def test_only_admins_may_sign_out_another_account(service):
    for role in ("inspector", "annotator", "commission"):
        refused = _sign_out_user(service, role, "inspector")
        assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    assert auth_me(service, service.tokens["inspector"]).status_code == 200


def test_pages_are_signed_out_by_an_api_logout_all(service):
    from fastapi.testclient import TestClient

    from tests.web.helpers import sign_in

    browser = TestClient(service.app, base_url="http://127.0.0.1")
    assert sign_in(browser, "commission", PASSWORD).status_code == 303
    assert browser.get("/ui/", follow_redirects=False).status_code == 200
    service.client.post("/auth/logout-all", headers=service.headers("commission"))
    stale = browser.get("/ui/", follow_redirects=False)
    assert stale.status_code == 303 and stale.headers["location"].startswith("/ui/login")


def test_the_pages_sign_out_everywhere(service):
    from fastapi.testclient import TestClient

    from tests.web.helpers import csrf_from, sign_in

    browser = TestClient(service.app, base_url="http://127.0.0.1")
    assert sign_in(browser, "commission", PASSWORD).status_code == 303
    page = browser.get("/ui/").text
    assert 'action="/ui/logout-all"' in page and "Sign out everywhere" in page  # the button
    csrf = csrf_from(page)
    refused = browser.post("/ui/logout-all", data={}, follow_redirects=False)
    assert refused.status_code == 403  # no CSRF token: not signed out
    assert auth_me(service, service.tokens["commission"]).status_code == 200
    out = browser.post("/ui/logout-all", data={"csrf_token": csrf}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/ui/login"
    assert 'shanyraq_session=""' in out.headers["set-cookie"]
    assert auth_me(service, service.tokens["commission"]).status_code == 401  # the API's token too
    assert [e.actor for e in audit_entries(service, "logout_all")] == ["commission"]


def test_a_password_reset_signs_every_session_out(service):
    token = service.sign_in("commission")
    with session_scope(service.services.sessions) as session:
        reset_password(session, username="commission", password="a new password 42")
    assert auth_me(service, token).json()["message"] == SIGNED_OUT
    assert auth_me(service, service.tokens["commission"]).status_code == 401
    signed_in = service.client.post(
        "/auth/token", data={"username": "commission", "password": "a new password 42"}
    )
    assert signed_in.status_code == 200
    assert auth_me(service, signed_in.json()["access_token"]).status_code == 200


def test_a_password_reset_checks_the_account_and_the_password(service):
    from serving.errors import NotFoundError, RecordInvalidError

    with pytest.raises(NotFoundError), session_scope(service.services.sessions) as session:
        reset_password(session, username="nobody", password="long enough 123")
    with pytest.raises(RecordInvalidError), session_scope(service.services.sessions) as session:
        reset_password(session, username="commission", password="short")
    assert auth_me(service, service.tokens["commission"]).status_code == 200  # nothing changed


def test_cli_set_password_signs_out_and_is_audited(tmp_path, database_url):
    from typer.testing import CliRunner

    from serving.audit_cli import app as audit_app
    from serving.core.config import load_serving_settings
    from serving.core.security import create_token, verify_password
    from serving.db.session import make_engine, make_session_factory
    from serving.sign_out import issued_before_mark
    from serving.users_cli import app as users_app

    config = tmp_path / "serving.yaml"
    config.write_text(
        f"data_dir: {tmp_path / 'data'}\ndatabase_url: {database_url}\n"
        "secret_key: cli-test-key-0123456789abcdef-0123456789\n"
    )
    runner = CliRunner()
    common = ["--config", str(config)]
    added = runner.invoke(
        users_app, ["add", "amina", "--role", "inspector", "--region", REGION,
                    "--password", PASSWORD, *common],
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    settings = load_serving_settings(config)
    engine = make_engine(settings.resolved_database_url)
    sessions = make_session_factory(engine)
    with session_scope(sessions) as session:
        amina = session.execute(select(User).where(User.username == "amina")).scalar_one()
        assert amina.tokens_valid_after is None
        token = create_token(user_id=amina.id, username="amina", role="inspector", region=REGION,
                             key=settings.signing_key(), ttl_s=600)  # fmt: skip
    issued_at_s = jwt.decode(token, options={"verify_signature": False})["iat"]
    reset = runner.invoke(users_app, ["set-password", "amina", "--password", "fresh pass 123",
                                      *common])  # fmt: skip
    assert reset.exit_code == 0, reset.output
    assert "all its sessions are signed out" in reset.output
    unknown = runner.invoke(users_app, ["set-password", "nobody", "--password", "fresh pass 123",
                                        *common])  # fmt: skip
    assert unknown.exit_code != 0
    with session_scope(sessions) as session:
        amina = session.execute(select(User).where(User.username == "amina")).scalar_one()
        assert issued_before_mark(amina, issued_at_s=issued_at_s)
        assert verify_password("fresh pass 123", amina.password_hash)
        entries = session.execute(
            select(AuditEntry.actor, AuditEntry.target).where(AuditEntry.action == "password_reset")
        ).all()
    engine.dispose()
    assert [tuple(e) for e in entries] == [("cli", "user:amina")]
    verified = runner.invoke(audit_app, ["verify", *common])
    assert verified.exit_code == 0, verified.output


def test_migration_0005_over_existing_accounts_and_back(database_url):
    from alembic import command
    from sqlalchemy import inspect, text

    from serving.db.session import make_engine
    from serving.migrations import alembic_config, upgrade

    upgrade(database_url, "0004")
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO users (username, password_hash, role, region, active, created_at) "
            "VALUES ('old', 'x', 'inspector', :region, :active, :at)"
        ), {"region": OTHER_REGION, "active": True, "at": "2026-01-01 00:00:00+00:00"})  # fmt: skip
        user_id = connection.execute(text("SELECT id FROM users")).scalar_one()
        # A row that refers to the account: a migration that copied `users` would trip on it.
        connection.execute(text(
            "INSERT INTO revoked_tokens (jti, user_id, expires_at) VALUES ('j', :u, 1e12)"
        ), {"u": user_id})  # fmt: skip
    upgrade(database_url)
    with engine.begin() as connection:
        row = connection.execute(text("SELECT username, tokens_valid_after FROM users")).one()
    assert tuple(row) == ("old", None)  # existing accounts keep their sessions
    command.downgrade(alembic_config(database_url), "0004")
    columns = {c["name"] for c in inspect(engine).get_columns("users")}
    assert "tokens_valid_after" not in columns and "username" in columns
    with engine.begin() as connection:
        assert connection.execute(text("SELECT count(*) FROM revoked_tokens")).scalar() == 1
    upgrade(database_url)
    columns = {c["name"] for c in inspect(engine).get_columns("users")}
    assert "tokens_valid_after" in columns
    engine.dispose()
