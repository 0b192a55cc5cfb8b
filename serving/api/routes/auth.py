"""Sign-in (OAuth2 password flow), sign-out (this session or all of them), the user's own
password change, and who-am-I."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import OAuth2PasswordRequestForm
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

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
from serving.api.schemas import PasswordChange, Token, UserOut
from serving.api.strict_json import StrictJSONRoute
from serving.core.security import create_token, hash_password, needs_rehash, verify_password
from serving.db.models import User
from serving.errors import BadCredentialsError, InvalidTokenError
from serving.ratelimit import LimitRefusedError, RateLimiter, audit_refusal
from serving.sign_out import (
    SignedOutMeanwhileError,
    check_not_signed_out_since,
    revoke_token,
    sign_out_everywhere,
    wait_until_tokens_valid,
)
from serving.users import CurrentPasswordError, change_password, typed_username

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/auth", tags=["auth"], route_class=StrictJSONRoute)

USERNAME_MAX_CHARS = User.__table__.c.username.type.length  # type: ignore[attr-defined]


@router.post("/token", response_model=Token, responses=error_responses(401, 422, 429), **public())
def login(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    services: ServicesDep,
    session: SessionDep,
) -> Token:
    """Exchange a username and password for a signed access token.

    Rate-limited per client address (every attempt; an IPv6 client by its /64, which one
    holder can fill with addresses, an IPv4-mapped IPv6 one as its IPv4) and per username
    (failed attempts only, so signing in often never locks an account out); the username's
    limit applies whether the account exists or not, so its 429 tells nothing about which
    accounts exist. The username is taken in any case and with spaces around it ("Amina.k "
    signs in as "amina.k": serving.users.typed_username), and its spellings share one limit.
    Refusals are audited once per limited address or username and window, not one by one. An
    attempt counts against the username while its password is checked, and is taken back if
    it was right: concurrent guesses get no more checks than the limit.

    A password hash made with older argon2 parameters is replaced by one with the current
    ones, in the sign-in's transaction (noted in its audit entry): the one moment the
    password is at hand. A wrong or refused sign-in leaves it as it is.
    """
    client = request.client.host if request.client else "unknown"
    address, account = _address_key(client), _account_key(form.username)
    by_client, by_account = services.login_limiter, services.login_account_limiter
    with _audit_limit(session, services, by_client, attempted=form.username,
                      target=f"client:{address}"):  # fmt: skip
        by_client.hit(address)
    with _audit_limit(session, services, by_account, attempted=form.username,
                      target=f"account:{account}"):  # fmt: skip
        attempt = by_account.hit(account)
    username = typed_username(form.username)
    user = (
        session.execute(select(User).where(User.username == username)).scalar_one_or_none()
        if _may_be_username(username)
        else None  # no account has such a name: answered as an unknown one, counted the same
    )
    ok = verify_password(form.password, user.password_hash if user else None)
    if user is None or not ok or not user.active:
        _login_failed(session, services, form.username, client)
        raise BadCredentialsError("wrong username or password")
    by_account.forget(account, attempt)
    # Hashed before the account's row is locked (_fresh_token), stored once it is.
    rehashed = hash_password(form.password) if needs_rehash(user.password_hash) else None
    try:
        token = _fresh_token(session, services, user, password=form.password)
    except SignedOutMeanwhileError:
        _login_failed(session, services, form.username, client, reason="signed_out_meanwhile")
        raise
    details: dict[str, object] = {"client": client}
    # The hash as locked still verifies the password (_fresh_token); unless a sign-in that
    # raced this one has replaced it already, the rehash replaces it.
    if rehashed is not None and needs_rehash(user.password_hash):
        user.password_hash = rehashed
        details["password_rehashed"] = True
    audit.append(
        session, services.signing_key, actor=user.username, action="login", details=details
    )
    session.commit()
    return token


def _login_failed(
    session: SessionDep, services: ServicesDep, username: str, client: str, **details: str
) -> None:
    audit.append(
        session, services.signing_key, actor=audit.printable(username, 64),
        action="login_failed", details={"client": audit.printable(client, 128), **details},
    )  # fmt: skip
    session.commit()


def _fresh_token(
    session: SessionDep, services: ServicesDep, user: User, *, password: str | None = None
) -> Token:
    """A new access token for `user`, valid past any sign-out everywhere of the account.

    `user` as read when its password was checked: if the account was signed out everywhere
    or its password changed since (e.g. while the sign-in waited), no token is issued; a
    sign-in gives the `password` it checked, so another's rehash of it is no change. The
    account's row stays locked from that last check until the caller commits, so no sign-out
    can fall between the check and the token (serving.users).
    """
    seen, checked_hash = user.tokens_valid_after, user.password_hash
    wait_until_tokens_valid(session, user)  # right after a sign-out everywhere (up to 1 s)
    check_not_signed_out_since(session, user, seen, password_hash=checked_hash, password=password)
    ttl_s = services.settings.token_ttl_minutes * 60
    token = create_token(
        user_id=user.id, username=user.username, role=user.role, region=user.region,
        key=services.signing_key, ttl_s=ttl_s,
    )  # fmt: skip
    return Token(access_token=token, expires_in=int(ttl_s))


@contextmanager
def _audit_limit(
    session: SessionDep,
    services: ServicesDep,
    limiter: RateLimiter,
    *,
    attempted: str,
    target: str,
) -> Iterator[None]:
    """Audit a sign-in limit when it starts refusing a key, then once a window while it does.

    One entry per window, never one per refused request, so a flood cannot grow the log at
    its own rate; the entry counts the refusals of the window before (see LimitReached).
    The rule is `audit_refusal`'s, as for refused uploads: a notice the database refused is
    written at the key's next refusal.
    """
    try:
        yield
    except LimitRefusedError as refused:

        def write(details: dict[str, Any]) -> bool:
            try:
                audit.append(
                    session, services.signing_key, actor=audit.printable(attempted, 64),
                    action="login_rate_limited", target=audit.printable(target, 128),
                    details=details,
                )  # fmt: skip
                session.commit()
            except SQLAlchemyError:
                # The refusal stands (429) whatever the database says; the notice is at
                # least in the service's log, and the next refusal brings a new one.
                session.rollback()
                logger.exception("login_rate_limited for %r not audited: %s", target, details)
                return False
            return True

        audit_refusal(limiter, refused, write)
        raise


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


def sign_out_all(session: SessionDep, services: ServicesDep, user: CurrentUserDep) -> None:
    """Sign out every session of the user (API and pages alike) and audit it."""
    account = session.get(User, user.id)
    if account is None:
        raise InvalidTokenError("this account is disabled or gone; ask an administrator")
    sign_out_everywhere(account)
    audit_action(session, services, user, "logout_all")


@router.post(
    "/logout-all", status_code=204, response_class=Response, responses=error_responses(401),
    **policy(*ROLES),
)  # fmt: skip
def logout_all(user: CurrentUserDep, services: ServicesDep, session: SessionDep) -> Response:
    """Sign out everywhere: every access token of this account issued until now, this one
    included, is refused from now on (a lost phone or laptop, a password someone saw).

    Signing in again right away works: a token issued in the same second as the sign-out
    would be refused, so the sign-in waits for the next second (at most one).
    """
    sign_out_all(session, services, user)
    return Response(status_code=204)


def change_own_password(
    session: SessionDep, services: ServicesDep, user: CurrentUserDep, body: PasswordChange
) -> Token:
    """Change the caller's password (API and pages alike); a fresh token for the caller.

    A wrong current password counts against the sign-in limit of the account, the one
    failed sign-ins count against, so changes add no guesses to what sign-in allows (the
    attempt counts while it is checked, as a sign-in's does).
    """
    account = _account_key(user.username)
    limiter = services.login_account_limiter
    with _audit_limit(session, services, limiter, attempted=user.username,
                      target=f"account:{account}"):  # fmt: skip
        attempt = limiter.hit(account)
    try:
        row = session.get(User, user.id)
        if row is None:
            raise InvalidTokenError("this account is disabled or gone; ask an administrator")
        change_password(session, row, current=body.current_password, new=body.new_password)
    except CurrentPasswordError:
        audit_action(session, services, user, "password_change_failed")
        raise
    except BaseException:
        limiter.forget(account, attempt)  # the current password was right, or never checked
        raise
    limiter.forget(account, attempt)
    audit_action(session, services, user, "password_changed")
    return _fresh_token(session, services, row)


@router.post(
    "/password", response_model=Token, responses=error_responses(401, 403, 422, 429),
    **policy(*ROLES),
)  # fmt: skip
def password_change(
    body: PasswordChange, user: CurrentUserDep, services: ServicesDep, session: SessionDep
) -> Token:
    """Change your own password; the answer is a fresh access token for this caller.

    Every other access token of the account, the one this request came with included, is
    refused from now on (as after `POST /auth/logout-all`): use the returned one. Refusals:
    403 `current_password_wrong` (it also counts against the account's sign-in limit, so
    too many give 429 `rate_limited`, as for `POST /auth/token`), 422 `password_weak` (the
    rule `shanyraq users add` and `set-password` apply) or `password_unchanged`. The
    change is audited (`password_changed`, a wrong current password `password_change_failed`),
    never the passwords themselves.
    """
    return change_own_password(session, services, user, body)


def _may_be_username(name: str) -> bool:
    """Whether an account could have this name: no control or other unprintable characters
    (PostgreSQL refuses a NUL in text), and no longer than the column holds."""
    return len(name) <= USERNAME_MAX_CHARS and name.isprintable()


def _address_key(host: str) -> str:
    """The per-address limiter's key: an IPv4 address as it is; an IPv6 address by its /64
    (one subscriber's, so rotating addresses in it gains nothing); an IPv4-mapped IPv6 one
    as its IPv4. Anything else (no address known) as it is."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(address), 64), strict=False))
    return str(address)


def _account_key(username: str) -> str:
    """The per-account limiter's key: case and spacing variants of one name count together.

    Cut to the longest username an account can have, so a huge form field is not kept.
    """
    return username.strip()[:USERNAME_MAX_CHARS].casefold()


@router.get("/me", response_model=UserOut, responses=error_responses(401), **policy(*ROLES))
def me(user: CurrentUserDep, session: SessionDep) -> UserOut:
    """The signed-in user: name, role and region."""
    row = session.get(User, user.id)
    assert row is not None
    return UserOut(
        id=row.id, username=row.username, role=row.role, region=row.region, active=row.active
    )
