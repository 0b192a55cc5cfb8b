"""Auth review 14: a password change racing a sign-in's token, and argon2 parameters upgraded
at sign-in.

The races are made deterministic with a hook inside the sign-in and a thread that changes the
account meanwhile; whether that thread finished or waits on the account's row lock is read
from PostgreSQL (`pg_stat_activity`), never guessed from a sleep. Both clocks (the token's
`iat` and the mark of the change) are one fake clock, set so the token falls in the second
after the change's mark: the case whole-second comparison alone cannot refuse.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from argon2 import PasswordHasher, Type
from sqlalchemy import select
from sqlalchemy.orm import Session

from serving import audit, sign_out, users
from serving.api.routes import auth
from serving.core import security
from serving.db.models import AuditEntry, User
from serving.db.session import session_scope
from tests.serving.helpers import PASSWORD, waiting_on_a_lock
from tests.serving.user_helpers import OLD_HASHER

NEW_PASSWORD = "a brand new pass phrase"
DEADLINE_S = 30.0  # how long a hook waits for the other side before the test fails


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _login(service: Any, username: str, password: str) -> Any:
    return service.client.post("/auth/token", data={"username": username, "password": password})


def _me(service: Any, token: str) -> Any:
    return service.client.get("/auth/me", headers=_bearer(token))


def _account(service: Any, username: str) -> User:
    with session_scope(service.services.sessions) as session:
        return session.execute(select(User).where(User.username == username)).scalar_one()


def _needs_postgres(database_url: str) -> None:
    if database_url.startswith("sqlite"):
        # SQLite's write lock, held by a sign-in from its first read to its commit, already
        # keeps every account change out of that span: these interleavings cannot happen.
        pytest.skip("the interleaving needs a database without a whole-file write lock")


class _FakeClock:
    """One clock for both sides: the mark a change sets (sign_out.utcnow) and a token's iat."""

    def __init__(self, now: float) -> None:
        self.now = now

    def utcnow(self) -> datetime:
        return datetime.fromtimestamp(self.now, tz=UTC)


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.005)


def _change_own_password(session: Session, user: User) -> None:
    users.change_password(session, user, current=PASSWORD, new=NEW_PASSWORD)


def _reset_password(session: Session, user: User) -> None:
    users.reset_password(session, username=user.username, password=NEW_PASSWORD)


def _sign_out_everywhere(session: Session, user: User) -> None:
    sign_out.sign_out_everywhere(user)
    session.flush()


CHANGES = {
    "own_change": _change_own_password,
    "reset": _reset_password,
    "sign_out_everywhere": _sign_out_everywhere,
}


class _Racer(threading.Thread):
    """Changes the account in a transaction of its own, in a thread, while a sign-in runs.

    With `hold`, it flushes the change and then keeps its transaction open until `release()`
    or until a connection waits on a lock (the sign-in, on the row the change wrote).
    """

    def __init__(self, service: Any, username: str, change: Callable[..., None], *, hold: bool):
        super().__init__(name="racer", daemon=True)
        self.service, self.username, self.change, self.hold = service, username, change, hold
        self.flushed, self.released = threading.Event(), threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with session_scope(self.service.services.sessions) as session:
                user = session.execute(
                    select(User).where(User.username == self.username)
                ).scalar_one()
                self.change(session, user)
                self.flushed.set()
                if self.hold:
                    _until(
                        lambda: self.released.is_set() or waiting_on_a_lock(self.service),
                        "the sign-in finished or waited on the account's row",
                    )
        except BaseException as error:  # reported by finish()
            self.error = error
            self.flushed.set()

    def finished_or_blocked(self) -> bool:
        return not self.is_alive() or waiting_on_a_lock(self.service)

    def finish(self) -> None:
        self.released.set()
        self.join(DEADLINE_S)
        assert not self.is_alive(), "the account change never finished"
        if self.error is not None:
            raise self.error


def _assert_no_token_outlived(service: Any, answer: Any, username: str, change: str) -> None:
    """A sign-in that raced an account change is refused, or its token is signed out."""
    if answer.status_code == 200:
        token = answer.json()["access_token"]
        me = _me(service, token)
        assert me.status_code == 401, "a token of a sign-in racing the change outlived it"
        mark = _account(service, username).tokens_valid_after
        assert mark is not None
        issued_at_s = jwt.decode(token, options={"verify_signature": False})["iat"]
        assert issued_at_s <= math.floor(mark.timestamp())
    else:
        assert answer.status_code == 401, answer.text
        assert answer.json()["code"] == "credentials_invalid"
    if change != "sign_out_everywhere":
        assert _login(service, username, PASSWORD).status_code == 401
        assert _login(service, username, NEW_PASSWORD).status_code == 200
    else:
        assert _login(service, username, PASSWORD).status_code == 200


@pytest.mark.parametrize("change", CHANGES)
def test_a_change_committed_after_the_last_check_ends_the_token_issued_next(
    service, database_url, monkeypatch, change
):
    """The change commits between the sign-in's last re-read of the account and its token,
    and the token's second is the one after the change's mark."""
    _needs_postgres(database_url)
    base_s = math.floor(time.time()) - 30  # in the past: tokens of it are valid, not early
    clock = _FakeClock(base_s + 0.9)
    monkeypatch.setattr(sign_out, "utcnow", clock.utcnow)
    racer = _Racer(service, "commission", CHANGES[change], hold=False)
    real = auth.create_token

    def create_token_after_a_change(**claims: Any) -> str:
        monkeypatch.setattr(auth, "create_token", real)
        racer.start()
        _until(racer.finished_or_blocked, "the change committed or waited for the sign-in")
        clock.now = base_s + 1.1  # the second after the mark, had the change gone first
        return real(**claims, now=clock.now)

    monkeypatch.setattr(auth, "create_token", create_token_after_a_change)
    answer = _login(service, "commission", PASSWORD)
    racer.finish()
    _assert_no_token_outlived(service, answer, "commission", change)


@pytest.mark.parametrize("change", CHANGES)
def test_a_change_in_flight_at_the_last_check_refuses_the_sign_in(
    service, database_url, monkeypatch, change
):
    """The change has set its mark but not committed when the sign-in re-reads the account:
    a plain read (READ COMMITTED) still sees the old row there, so the check must wait."""
    _needs_postgres(database_url)
    base_s = math.floor(time.time()) - 30
    clock = _FakeClock(base_s + 0.9)
    monkeypatch.setattr(sign_out, "utcnow", clock.utcnow)
    racer = _Racer(service, "commission", CHANGES[change], hold=True)
    real_wait, real_create = auth.wait_until_tokens_valid, auth.create_token

    def wait_with_a_change_in_flight(session: Session, user: User, **kw: Any) -> None:
        monkeypatch.setattr(auth, "wait_until_tokens_valid", real_wait)
        racer.start()
        assert racer.flushed.wait(DEADLINE_S), "the change never flushed"
        clock.now = base_s + 1.1
        real_wait(session, user, **kw)

    def create_token_on_the_clock(**claims: Any) -> str:
        return real_create(**claims, now=clock.now)

    monkeypatch.setattr(auth, "wait_until_tokens_valid", wait_with_a_change_in_flight)
    monkeypatch.setattr(auth, "create_token", create_token_on_the_clock)
    answer = _login(service, "commission", PASSWORD)
    racer.finish()
    monkeypatch.setattr(auth, "create_token", real_create)
    _assert_no_token_outlived(service, answer, "commission", change)
    if answer.status_code == 401:
        with session_scope(service.services.sessions) as session:
            failed = session.execute(
                select(AuditEntry.details).where(AuditEntry.action == "login_failed")
            ).scalars()
            assert {"reason": "signed_out_meanwhile"}.items() <= next(iter(failed)).items()


# argon2 parameters: a hash made with others than the service's is replaced at sign-in.


def _store_hash(service: Any, username: str, password_hash: str) -> None:
    with session_scope(service.services.sessions) as session:
        user = session.execute(select(User).where(User.username == username)).scalar_one()
        user.password_hash = password_hash


def _login_entries(service: Any) -> list[dict[str, Any]]:
    with session_scope(service.services.sessions) as session:
        statement = select(AuditEntry).where(AuditEntry.action == "login").order_by(AuditEntry.seq)
        return [entry.details for entry in session.execute(statement).scalars()]


def test_needs_rehash_follows_the_hashers_parameters():
    assert security.needs_rehash(OLD_HASHER.hash("some password 1"))
    assert not security.needs_rehash(security.hash_password("some password 1"))
    legacy_type = PasswordHasher(
        time_cost=security._HASHER.time_cost,
        memory_cost=security._HASHER.memory_cost,
        parallelism=security._HASHER.parallelism,
        type=Type.I,
    )
    assert security.needs_rehash(legacy_type.hash("some password 1"))  # argon2i, not argon2id


def test_a_hash_of_older_parameters_is_replaced_at_a_correct_sign_in_only(service):
    old = OLD_HASHER.hash(PASSWORD)
    _store_hash(service, "annotator", old)
    assert _login(service, "annotator", "a wrong password").status_code == 401
    assert _account(service, "annotator").password_hash == old  # a wrong one changes nothing
    before = len(_login_entries(service))

    answer = _login(service, "annotator", PASSWORD)
    assert answer.status_code == 200, answer.text
    upgraded = _account(service, "annotator").password_hash
    assert upgraded != old and not security.needs_rehash(upgraded)
    assert security.verify_password(PASSWORD, upgraded)
    assert _me(service, answer.json()["access_token"]).status_code == 200
    assert _login_entries(service)[before:] == [{"client": "testclient", "password_rehashed": True}]

    again = _login(service, "annotator", PASSWORD)  # already current: left as it is
    assert again.status_code == 200
    assert _account(service, "annotator").password_hash == upgraded
    assert _login_entries(service)[-1] == {"client": "testclient"}
    with session_scope(service.services.sessions) as session:
        verified = audit.verify(session, service.services.signing_key)
    assert verified.ok, verified.problems


def test_a_disabled_account_keeps_its_hash_even_with_the_right_password(service):
    old = OLD_HASHER.hash(PASSWORD)
    with session_scope(service.services.sessions) as session:
        user = session.execute(select(User).where(User.username == "inspector")).scalar_one()
        user.password_hash, user.active = old, False
    assert _login(service, "inspector", PASSWORD).status_code == 401
    assert _account(service, "inspector").password_hash == old


def test_a_rehash_never_overwrites_a_password_changed_meanwhile(service, database_url, monkeypatch):
    """A change whose mark does not move (its clock behind the mark of a host ahead) still
    changed the password: the sign-in that checked the old one must not write it back."""
    _needs_postgres(database_url)
    _store_hash(service, "commission", OLD_HASHER.hash(PASSWORD))
    with session_scope(service.services.sessions) as session:
        user = session.execute(select(User).where(User.username == "commission")).scalar_one()
        sign_out.sign_out_everywhere(user, now=datetime.fromtimestamp(time.time() + 3600, tz=UTC))
    racer = _Racer(service, "commission", _change_own_password, hold=False)
    real_wait = auth.wait_until_tokens_valid

    def wait_with_a_change_meanwhile(session: Session, user: User, **kw: Any) -> None:
        monkeypatch.setattr(auth, "wait_until_tokens_valid", real_wait)
        racer.start()
        racer.finish()
        real_wait(session, user, **kw)

    monkeypatch.setattr(auth, "wait_until_tokens_valid", wait_with_a_change_meanwhile)
    answer = _login(service, "commission", PASSWORD)
    assert answer.status_code == 401, answer.text
    assert _login(service, "commission", PASSWORD).status_code == 401
    assert security.verify_password(NEW_PASSWORD, _account(service, "commission").password_hash)
