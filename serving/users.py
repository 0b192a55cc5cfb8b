"""Users: create and list accounts (library functions the CLI and the admin route share)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from serving.core.security import hash_password
from serving.db.models import ROLES, User
from serving.errors import ConflictError, RecordInvalidError
from welfare.criteria import get_welfare_config


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
