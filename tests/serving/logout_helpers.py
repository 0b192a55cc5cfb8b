"""Helpers of the sign-out tests: /auth/me asked with a token, a user row as stored, the audit
log checked intact, and a session ended by another sign-in or by a password change (with the
two as `parametrize` values)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from serving import audit
from serving.db.models import User
from serving.db.session import session_scope
from serving.sign_out import revoke_token, sign_out_everywhere
from tests.web.session_helpers import token_claims


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def auth_me(service, token: str):
    return service.client.get("/auth/me", headers=bearer(token))


def user_row(service, username: str) -> User:
    with session_scope(service.services.sessions) as session:
        return session.execute(select(User).where(User.username == username)).scalar_one()


def audit_intact(service) -> None:
    with session_scope(service.services.sessions) as session:
        result = audit.verify(session, service.services.signing_key)
    assert result.ok, result.problems


def ended_by_sign_in(web: Any, token: str) -> None:
    claims = token_claims(web, token)
    with session_scope(web.services.sessions) as session:
        revoke_token(
            session,
            token_id=claims.token_id,
            user_id=claims.user_id,
            expires_at=claims.session_expires_at,
        )


def ended_by_password_change(web: Any, token: str) -> None:
    with session_scope(web.services.sessions) as session:
        sign_out_everywhere(session.get(User, token_claims(web, token).user_id))


# The two ways a session ends while a request of it runs, for `parametrize`; the ids are the
# ones these tests have always had, so their history stays comparable.
SESSION_ENDINGS = [
    pytest.param(ended_by_sign_in, id="_ended_by_sign_in"),
    pytest.param(ended_by_password_change, id="_ended_by_password_change"),
]
