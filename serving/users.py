"""Users: create and list accounts (library functions the CLI and the admin route share)."""

from __future__ import annotations

import time

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from serving.core.security import hash_password
from serving.db.models import ROLES, RevokedToken, User
from serving.errors import ConflictError, ForbiddenError, RecordInvalidError
from welfare.criteria import get_welfare_config


class RegionScopeError(ForbiddenError):
    """A regional admin asked for an account outside its region (or a national one)."""

    code = "region_out_of_scope"


def check_grant(granter_region: str | None, *, region: str | None) -> None:
    """Refuse an account wider than the granting admin's own scope.

    A national admin (`granter_region` None) may create any account. A regional admin may
    create accounts of any role, admins included, but only in its own region: never in
    another region, and never a national account (region None), which would see every region.
    The CLI runs as the operator and does not call this.
    """
    if granter_region is None or region == granter_region:
        return
    asked = "a national account (no region)" if region is None else f"an account in {region!r}"
    raise RegionScopeError(
        f"you may create accounts only in your region ({granter_region}), not {asked}; "
        "ask a national administrator"
    )


def create_user(
    session: Session, *, username: str, password: str, role: str, region: str | None
) -> User:
    """Add a user (flushed, not committed); region is required for all but admins."""
    if role not in ROLES:
        raise RecordInvalidError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    regions = get_welfare_config().regions
    if region is None and role != "admin":
        raise RecordInvalidError(f"a {role} needs a region; choose one of {', '.join(regions)}")
    if region is not None and region not in regions:
        raise RecordInvalidError(f"unknown region {region!r}; choose one of {', '.join(regions)}")
    if len(password) < 10:
        raise RecordInvalidError("the password is too short; use at least 10 characters")
    if session.execute(select(User.id).where(User.username == username)).first():
        raise ConflictError(f"the user {username!r} exists already")
    user = User(username=username, password_hash=hash_password(password), role=role, region=region)
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        raise ConflictError(f"the user {username!r} exists already") from None
    return user


def revoke_token(session: Session, *, token_id: str, user_id: int, expires_at: float) -> None:
    """Sign one access token out before it expires: it is refused from then on.

    Rows of tokens that have expired since are dropped here, so the table holds only tokens
    that would still be accepted otherwise.
    """
    session.execute(delete(RevokedToken).where(RevokedToken.expires_at < time.time()))
    if session.get(RevokedToken, token_id) is None:
        session.add(RevokedToken(jti=token_id, user_id=user_id, expires_at=expires_at))


def is_revoked(session: Session, token_id: str) -> bool:
    return session.get(RevokedToken, token_id) is not None
