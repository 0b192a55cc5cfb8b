"""Signing out revokes the token on the server: a copy of it is refused from then on."""

from __future__ import annotations

import time

from sqlalchemy import select

from serving.db.models import AuditEntry, RevokedToken, User
from serving.db.session import session_scope


def _me(service, token: str):
    return service.client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})


def test_logout_revokes_only_the_token_it_came_with(service):
    first, second = service.sign_in("commission"), service.sign_in("commission")
    assert _me(service, first).status_code == 200
    out = service.client.post("/auth/logout", headers={"Authorization": f"Bearer {first}"})
    assert out.status_code == 204
    refused = _me(service, first)
    assert refused.status_code == 401
    assert refused.json()["message"] == "this session was signed out; sign in again"
    assert _me(service, second).status_code == 200  # another session of the same user
    again = service.client.post("/auth/logout", headers={"Authorization": f"Bearer {first}"})
    assert again.status_code == 401
    with session_scope(service.services.sessions) as session:
        actions = session.execute(
            select(AuditEntry.action).where(AuditEntry.actor == "commission")
        ).scalars()
        assert list(actions).count("logout") == 1


def test_revocations_of_expired_tokens_are_dropped(service):
    with session_scope(service.services.sessions) as session:
        inspector = session.execute(select(User).where(User.username == "inspector")).scalar_one()
        session.add(RevokedToken(jti="old", user_id=inspector.id, expires_at=time.time() - 1))
    token = service.sign_in("inspector")
    service.client.post("/auth/logout", headers={"Authorization": f"Bearer {token}"})
    with session_scope(service.services.sessions) as session:
        kept = set(session.execute(select(RevokedToken.jti)).scalars())
    assert "old" not in kept and len(kept) == 1
