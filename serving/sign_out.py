"""Signing sessions out before their tokens expire, and the checks that hold a signed-out
session to it (a sign-in's last check, each request's).

Two ways to end sessions before their tokens expire:
- One token: its `jti` goes into `revoked_tokens` (`revoke_token`, on sign-out).
- Every token of an account: `users.tokens_valid_after` (`sign_out_everywhere`, on "sign out
  everywhere", an administrator's sign-out of the account, and a password reset).

The mark is compared with a token's sign-in time (`auth_time`; a sign-in's own token: its
`iat`), so a page session's renewed tokens, which keep their sign-in time, end with it too.

Timestamp granularity: that time is in whole seconds, so a token signed in in the same
second as the mark cannot be told to be before or after it. Such tokens are refused
(`issued_before_mark`), so none issued before the mark survives it. A sign-in waits for the
next second instead of issuing one (`wait_until_tokens_valid`, at most a second, and only
right after a mark), so signing in again at once still gives a working token.

Concurrency: whole seconds are enough because the account's row is locked
(`lock_account`; SELECT ... FOR UPDATE on PostgreSQL, the write lock SQLite's transactions
hold already) by a sign-in from its last check of the account until its token is committed
(`check_not_signed_out_since`) and by every sign-out everywhere before it takes its mark. So
a mark is either committed before that check, which sees it and refuses the sign-in, or
taken after the token was made, in its second or later, which refuses the token.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import delete, inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, object_session

from serving.core.security import verify_password
from serving.db.models import RevokedToken, User, utcnow
from serving.errors import BadCredentialsError

logger = logging.getLogger(__name__)


class SignedOutMeanwhileError(BadCredentialsError):
    """A sign-in whose account was signed out everywhere (a password change or reset
    included) after its password was checked: a token issued now would outlive that."""


def lock_account(session: Session, user: User) -> None:
    """Lock `user`'s row until `session`'s transaction ends, and read its password and mark
    anew: as last committed (a writer of the row in flight is waited for), or as this
    transaction wrote them (its changes are flushed first, so the read keeps them)."""
    session.flush()
    session.refresh(user, ["password_hash", "tokens_valid_after"], with_for_update=True)


def sign_out_everywhere(user: User, *, now: datetime | None = None) -> datetime:
    """Refuse every access token `user` holds: those issued before now or in this second.

    The mark is taken once the account's row is locked (see the module docstring). It only
    moves forward, so a clock stepped back cannot revive signed-out tokens.
    """
    session = object_session(user)
    if session is not None and inspect(user).persistent:  # else: a user of no database
        lock_account(session, user)
    mark = now or utcnow()
    if user.tokens_valid_after is None or user.tokens_valid_after < mark:
        user.tokens_valid_after = mark
    return user.tokens_valid_after


def issued_before_mark(user: User, *, issued_at_s: int) -> bool:
    """True if a token whose session signed in at `issued_at_s` (whole seconds: its
    `auth_time`, or a sign-in token's `iat`) was signed out.

    A token of the mark's own second counts as issued before it (see the module docstring).
    """
    mark = user.tokens_valid_after
    return mark is not None and issued_at_s <= math.floor(mark.timestamp())


def wait_until_tokens_valid(
    session: Session,
    user: User,
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Before issuing a token: wait until its `iat` second is past the user's mark.

    Only for a sign-in in the same second as a sign-out everywhere, so at most a second. A
    mark further ahead comes from a clock ahead of this one (another host): not waited for,
    since a request must not hang; the token is refused until this clock reaches the mark.
    The session's transaction is committed before waiting, so SQLite's write lock (taken at
    the transaction's start) is not held meanwhile.
    """
    if user.tokens_valid_after is None:
        return
    first_valid_s = math.floor(user.tokens_valid_after.timestamp()) + 1
    ahead_s = first_valid_s - clock()
    if ahead_s <= 0:
        return
    if ahead_s > 1:
        logger.warning("%s was signed out %.1f s ahead of this clock; clocks disagree",
                       user.username, ahead_s - 1)  # fmt: skip
        return
    session.commit()
    while (wait_s := first_valid_s - clock()) > 0:  # a loop: the wall clock may lag the sleep's
        sleep(wait_s)


def check_not_signed_out_since(
    session: Session,
    user: User,
    seen: datetime | None,
    *,
    password_hash: str | None,
    password: str | None = None,
) -> None:
    """Last before issuing a token to `user`, whose mark was `seen` and password `password_hash`
    when its password was checked: SignedOutMeanwhileError if the account was signed out
    everywhere since, or its password changed (even by a change whose clock was behind the
    mark, which leaves the mark as it was), e.g. during `wait_until_tokens_valid`.

    With the `password` a sign-in checked, a hash that differs but still verifies it is no
    change: another sign-in replaced a hash of older argon2 parameters meanwhile.

    The account's row stays locked until the transaction ends: make the token after this
    check (its `iat` then comes after the lock) and commit after making it.
    """
    lock_account(session, user)
    changed = user.password_hash != password_hash and not (
        password is not None and verify_password(password, user.password_hash)
    )
    if user.tokens_valid_after != seen or changed:
        raise SignedOutMeanwhileError(
            "this account was signed out everywhere while signing in (a password change, "
            "for example); sign in again"
        )


def revoke_token(session: Session, *, token_id: str, user_id: int, expires_at: float) -> None:
    """Sign one access token out before it expires: it is refused from then on. Signed out
    twice at once (two tabs), the second finds its row written and leaves it. Rows of tokens
    that have expired since are dropped, so the table holds only tokens still accepted else."""
    session.execute(delete(RevokedToken).where(RevokedToken.expires_at < time.time()))
    dialect = {"postgresql": postgresql, "sqlite": sqlite}[session.get_bind().dialect.name]
    row = {"jti": token_id, "user_id": user_id, "expires_at": expires_at}
    session.execute(dialect.insert(RevokedToken).values(row).on_conflict_do_nothing())


def is_revoked(session: Session, token_id: str) -> bool:
    return session.get(RevokedToken, token_id) is not None
