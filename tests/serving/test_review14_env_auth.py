"""Review of review 14's sign-in locking and env check: a sign-out committed between a password
change and its fresh token, a sign-in racing another that rehashed the password, and a
variable Shanyraq reads by its exact name given in lower case.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from serving import sign_out
from serving.api.routes import auth
from serving.core import security
from serving.db.models import AuditEntry, User
from serving.db.session import session_scope
from shanyraq.config import get_settings
from shanyraq.errors import ConfigError
from tests.serving.helpers import PASSWORD
from tests.serving.user_helpers import OLD_HASHER

NEW_PASSWORD = "a brand new pass phrase"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _account(session: Session, username: str) -> User:
    return session.execute(select(User).where(User.username == username)).scalar_one()


def test_a_sign_out_committed_after_a_password_change_ends_its_fresh_token(service, monkeypatch):
    """The change commits with its audit entry; an admin's sign-out everywhere of the account
    commits before the change's fresh token is made. That token must not outlive it."""
    base_s = math.floor(time.time()) - 30  # in the past: the tokens of it are valid, not early
    monkeypatch.setattr(sign_out, "utcnow", lambda: datetime.fromtimestamp(base_s + 0.5, tz=UTC))
    real_audit, real_create = auth.audit_action, auth.create_token

    def audit_then_admin_signs_out(session: Session, services: Any, user: Any, action: str,
                                   **kw: Any) -> None:  # fmt: skip
        real_audit(session, services, user, action, **kw)  # commits the change
        if action == "password_changed":
            with session_scope(service.services.sessions) as other:
                mark = datetime.fromtimestamp(base_s + 0.9, tz=UTC)  # after the change's
                sign_out.sign_out_everywhere(_account(other, "commission"), now=mark)

    def create_token_after_the_marks(**claims: Any) -> str:
        return real_create(**claims, now=base_s + 1.1)

    monkeypatch.setattr(auth, "audit_action", audit_then_admin_signs_out)
    monkeypatch.setattr(auth, "create_token", create_token_after_the_marks)
    answer = service.client.post(
        "/auth/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=_bearer(service.tokens["commission"]),
    )
    if answer.status_code == 200:
        me = service.client.get("/auth/me", headers=_bearer(answer.json()["access_token"]))
        assert me.status_code == 401, "the change's token outlived a later sign-out everywhere"
    else:
        assert answer.status_code == 401 and answer.json()["code"] == "credentials_invalid"
    monkeypatch.setattr(auth, "create_token", real_create)
    with session_scope(service.services.sessions) as session:  # the change itself stands
        assert security.verify_password(NEW_PASSWORD, _account(session, "commission").password_hash)


def test_a_sign_in_racing_another_that_rehashed_the_password_still_signs_in(
    service, database_url, monkeypatch
):
    """Two correct sign-ins of an account with a hash of older argon2 parameters: the first
    commits its new hash while the second waits; the password did not change, so the second
    is no "signed out meanwhile", and does not hash it once more."""
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite's write lock keeps the other sign-in out of this span")
    with session_scope(service.services.sessions) as session:
        _account(session, "commission").password_hash = OLD_HASHER.hash(PASSWORD)
    rehashed_by_the_other = security.hash_password(PASSWORD)
    real_wait = auth.wait_until_tokens_valid

    def wait_while_the_other_commits(session: Session, user: User, **kw: Any) -> None:
        monkeypatch.setattr(auth, "wait_until_tokens_valid", real_wait)
        with session_scope(service.services.sessions) as other:
            _account(other, "commission").password_hash = rehashed_by_the_other
        real_wait(session, user, **kw)

    monkeypatch.setattr(auth, "wait_until_tokens_valid", wait_while_the_other_commits)
    answer = service.client.post(
        "/auth/token", data={"username": "commission", "password": PASSWORD}
    )
    assert answer.status_code == 200, answer.text
    me = service.client.get("/auth/me", headers=_bearer(answer.json()["access_token"]))
    assert me.status_code == 200
    with session_scope(service.services.sessions) as session:
        assert _account(session, "commission").password_hash == rehashed_by_the_other
        last = session.execute(
            select(AuditEntry.details)
            .where(AuditEntry.action == "login")
            .order_by(AuditEntry.seq.desc())
        ).scalars()
        assert next(iter(last)) == {"client": "testclient"}


@pytest.mark.parametrize("name", ["shanyraq_debug", "Shanyraq_Configs_Dir"])
def test_a_variable_read_by_its_exact_name_is_refused_in_another_case(monkeypatch, name):
    """SHANYRAQ_DEBUG and SHANYRAQ_CONFIGS_DIR are read with os.environ, which is
    case-sensitive: another spelling would be accepted by the check and then ignored."""
    monkeypatch.setenv(name, "1")
    get_settings.cache_clear()
    try:
        with pytest.raises(ConfigError) as info:
            get_settings()
    finally:
        get_settings.cache_clear()
    upper = name.upper()
    assert str(info.value) == (
        f"{name} is not read: this name is case-sensitive; did you mean {upper}?"
    )
