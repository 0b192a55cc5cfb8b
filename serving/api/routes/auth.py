"""Sign-in (OAuth2 password flow) and who-am-I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import OAuth2PasswordRequestForm
from sqlalchemy import select

from serving import audit
from serving.api.deps import (
    ROLES,
    CurrentUserDep,
    ServicesDep,
    SessionDep,
    audit_action,
    policy,
    public,
)
from serving.api.errors import error_responses
from serving.api.schemas import Token, UserOut
from serving.core.security import create_token, verify_password
from serving.db.models import User
from serving.errors import BadCredentialsError
from serving.users import revoke_token

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/token", response_model=Token, responses=error_responses(401, 422, 429), **public())
def login(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    services: ServicesDep,
    session: SessionDep,
) -> Token:
    """Exchange a username and password for a signed access token.

    Rate-limited per client address (every attempt) and per username (failed attempts only,
    so signing in often never locks an account out); the username's limit applies whether
    the account exists or not, so its 429 tells nothing about which accounts exist.
    """
    client = request.client.host if request.client else "unknown"
    services.login_limiter.hit(client)
    account = _account_key(form.username)
    services.login_account_limiter.check(account)
    user = session.execute(select(User).where(User.username == form.username)).scalar_one_or_none()
    ok = verify_password(form.password, user.password_hash if user else None)
    if user is None or not ok or not user.active:
        services.login_account_limiter.record(account)
        audit.append(
            session, services.signing_key, actor=form.username[:64], action="login_failed",
            details={"client": client},
        )  # fmt: skip
        session.commit()
        raise BadCredentialsError("wrong username or password")
    ttl_s = services.settings.token_ttl_minutes * 60
    token = create_token(
        user_id=user.id, username=user.username, role=user.role, region=user.region,
        key=services.signing_key, ttl_s=ttl_s,
    )  # fmt: skip
    audit.append(
        session,
        services.signing_key,
        actor=user.username,
        action="login",
        details={"client": client},
    )
    session.commit()
    return Token(access_token=token, expires_in=int(ttl_s))


def sign_out(session: SessionDep, services: ServicesDep, user: CurrentUserDep) -> None:
    """Revoke the token the request came with and audit it (API and pages alike)."""
    revoke_token(session, token_id=user.token_id, user_id=user.id, expires_at=user.token_expires_at)
    audit_action(session, services, user, "logout")


@router.post(
    "/logout", status_code=204, response_class=Response, responses=error_responses(401),
    **policy(*ROLES),
)  # fmt: skip
def logout(user: CurrentUserDep, services: ServicesDep, session: SessionDep) -> Response:
    """Sign this access token out: it is refused from now on (other sessions stay signed in)."""
    sign_out(session, services, user)
    return Response(status_code=204)


def _account_key(username: str) -> str:
    """The per-account limiter's key: case and spacing variants of one name count together.

    Cut to the longest username an account can have, so a huge form field is not kept.
    """
    return username.strip()[:64].casefold()


@router.get("/me", response_model=UserOut, responses=error_responses(401), **policy(*ROLES))
def me(user: CurrentUserDep, session: SessionDep) -> UserOut:
    """The signed-in user: name, role and region."""
    row = session.get(User, user.id)
    assert row is not None
    return UserOut(
        id=row.id, username=row.username, role=row.role, region=row.region, active=row.active
    )
