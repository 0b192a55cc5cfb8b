"""Users: create accounts, set passwords and sign sessions out (shared by the CLI and routes).

Passwords change two ways, both with the same strength rule (`check_password`) and both
signing every session of the account out: an operator's reset (`reset_password`, the CLI)
and the user's own change, which needs the current password (`change_password`).

Signing sessions out (one token, or every token of an account), and the checks a sign-in and
each request make against that, live in serving/sign_out.py.
"""

from __future__ import annotations

import re
import unicodedata

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from serving.core.security import hash_password, verify_password
from serving.db.models import ROLES, User
from serving.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    RecordInvalidError,
)
from serving.sign_out import lock_account, sign_out_everywhere
from welfare.criteria import get_welfare_config

PASSWORD_MIN_CHARS = 10
# The most the sign-in and password pages take (and the API's UserCreate and PasswordChange):
# a longer one set by the CLI could never be typed into them.
PASSWORD_MAX_CHARS = 256
# The one username rule (`check_username`); the API's UserCreate reads the same constants.
# The most is the users.username column's width, String(64).
USERNAME_MIN_CHARS = 3
USERNAME_MAX_CHARS = 64
USERNAME_PATTERN = r"^[a-z0-9_.-]+$"
# Names the audit trail gives other actors: "cli" records the operator's commands (users_cli,
# db_cli, ...). An account of that name would pass for the operator there, and a regional
# admin's audit page (which shows what its region's accounts did) would show every command's.
RESERVED_USERNAMES = frozenset({"cli"})


class PasswordWeakError(RecordInvalidError):
    """A new password that does not meet `check_password`'s rule; `reason` says which part
    (`too_short`, `too_long`, `control_character`, `blank`), so the pages can say it in the
    reader's language (`too_long` comes only from the CLI: the pages refuse it earlier)."""

    code = "password_weak"

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class PasswordUnchangedError(RecordInvalidError):
    """A password change to the password the account has already."""

    code = "password_unchanged"


class CurrentPasswordError(ForbiddenError):
    """A password change whose current password did not verify (the caller's token did)."""

    code = "current_password_wrong"


class OwnAccountError(ConflictError):
    """An admin disabling its own account: nobody would be left to enable it again (409)."""

    code = "own_account"


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


def check_username(username: str) -> None:
    """The one rule for a new account's login name: 3-64 of a-z 0-9 . _ -, not a reserved
    one (`RESERVED_USERNAMES`)."""
    if not (
        USERNAME_MIN_CHARS <= len(username) <= USERNAME_MAX_CHARS
        and re.fullmatch(USERNAME_PATTERN, username)
    ):
        raise RecordInvalidError(
            f"the username {username[:USERNAME_MAX_CHARS]!r} is not allowed: use "
            f"{USERNAME_MIN_CHARS}-{USERNAME_MAX_CHARS} characters of a-z 0-9 . _ - "
            "(lower case, no spaces)"
        )
    if username in RESERVED_USERNAMES:
        raise RecordInvalidError(
            f"the username {username!r} is reserved: the audit trail names the operator's "
            "commands so; choose another"
        )


def not_text(value: str) -> bool:
    """Whether `value` holds bytes its source could not decode (a command line or standard input
    in another encoding: Python keeps each such byte as a lone surrogate, which no database or
    password hash takes)."""
    return any("\ud800" <= char <= "\udfff" for char in value)


def typed_username(name: str) -> str:
    """The account name a sign-in's typed one stands for (the token route and the sign-in
    page alike). Surrounding spaces are dropped: no username has one, and a phone keyboard's
    autocomplete adds one after the name. Usernames are lower-case ASCII (`check_username`),
    so an upper-case letter (a phone keyboard's capital first letter) is folded; any other
    character is kept, so no non-ASCII name folds onto an account's. Never for passwords."""
    name = name.strip()
    return name.lower() if name.isascii() else name


def check_new_user(*, username: str, password: str, role: str, region: str | None) -> None:
    """Every check of a new account that needs no database: name, role, region, password."""
    check_username(username)
    if role not in ROLES:
        raise RecordInvalidError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    regions = get_welfare_config().regions
    if region is None and role != "admin":
        raise RecordInvalidError(
            f"an account with role {role} needs a region; choose one of {', '.join(regions)}"
        )
    if region is not None and region not in regions:
        raise RecordInvalidError(f"unknown region {region!r}; choose one of {', '.join(regions)}")
    check_password(password)


def create_user(
    session: Session, *, username: str, password: str, role: str, region: str | None
) -> User:
    """Add a user (flushed, not committed); region is required for all but admins."""
    check_new_user(username=username, password=password, role=role, region=region)
    if session.execute(select(User.id).where(User.username == username)).first():
        raise ConflictError(f"the user {username!r} exists already")
    user = User(username=username, password_hash=hash_password(password), role=role, region=region)
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        raise ConflictError(f"the user {username!r} exists already") from None
    return user


def check_password(password: str) -> None:
    """The one rule for a new password (accounts, resets and changes alike): long enough but
    no longer than the sign-in form takes, not only spaces, and no control characters (a tab
    or line break pasted with it, or a byte no keyboard types), which cannot be typed into a
    sign-in form."""
    if len(password) < PASSWORD_MIN_CHARS:
        raise PasswordWeakError(
            f"the password is too short; use at least {PASSWORD_MIN_CHARS} characters",
            reason="too_short",
        )
    if len(password) > PASSWORD_MAX_CHARS:
        raise PasswordWeakError(
            f"the password is too long ({len(password)} characters): the sign-in page takes "
            f"at most {PASSWORD_MAX_CHARS}; use a shorter one",
            reason="too_long",
        )
    if any(unicodedata.category(char) == "Cc" for char in password):
        raise PasswordWeakError(
            "the password contains a control character (a tab, a line break or another "
            "invisible one); type it again without one",
            reason="control_character",
        )
    if not_text(password):  # bytes read as escapes
        raise PasswordWeakError(
            "the password holds bytes that are not UTF-8 text (a terminal or file in another "
            "encoding); give it as UTF-8",
            reason="control_character",  # only from the CLI: the pages decode their forms
        )
    if not password.strip():
        raise PasswordWeakError(
            "the password is only spaces; use letters, digits or other characters too",
            reason="blank",
        )


def reset_password(session: Session, *, username: str, password: str) -> User:
    """Give `username` a new password and sign all its sessions out (flushed, not committed).

    An operator's reset (no current password asked) may set the password the account has
    already: it still signs every session out, e.g. after a device was lost. Only the user's
    own change refuses an unchanged password (`change_password`)."""
    user = find_user(session, username)
    check_password(password)
    _set_password(user, password)
    session.flush()
    return user


def find_user(session: Session, username: str) -> User:
    """The account named `username` (NotFoundError naming it if there is none)."""
    if not_text(username):  # a command line's odd bytes
        raise NotFoundError(f"no user {username!r}: the name is not UTF-8 text")
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        raise NotFoundError(f"no user {username!r}")
    return user


def set_active(user: User, *, active: bool, by_user_id: int | None = None) -> bool:
    """Enable or disable `user` (flushed with the caller's session, not committed); whether it
    changed. A disabled account cannot sign in, and every token it holds is refused from now
    on (the service checks `active` on each request; its sessions are signed out as well, so
    enabling it again does not revive them). `by_user_id`: the admin doing it, who may not
    disable itself (OwnAccountError): nobody might be left to enable it again."""
    if not active and by_user_id is not None and user.id == by_user_id:
        raise OwnAccountError(
            "an admin cannot disable its own account; ask another admin, or run "
            "`shanyraq users disable NAME` on the server"
        )
    if not active:
        sign_out_everywhere(user)
    changed = user.active != active
    user.active = active
    return changed


def change_password(session: Session, user: User, *, current: str, new: str) -> None:
    """The user's own change: `current` must verify, `new` pass the rule and differ from it.

    Every session of the account is signed out, as on a reset (flushed, not committed).
    Raises CurrentPasswordError, PasswordWeakError or PasswordUnchangedError, in that order
    of checks, so only a caller who knows the password learns anything about the new one.
    """
    lock_account(session, user)  # checked against the password as committed, not as first read
    if not verify_password(current, user.password_hash):
        raise CurrentPasswordError("the current password is wrong; type it again")
    check_password(new)
    if new == current:
        raise PasswordUnchangedError("the new password is the current one; choose another")
    _set_password(user, new)
    session.flush()


def _set_password(user: User, password: str) -> None:
    """Store `password` (already checked) and sign every session of `user` out."""
    user.password_hash = hash_password(password)
    sign_out_everywhere(user)
