"""Auth review 25: one session signed out twice at once (a double-clicked "Sign out", two
tabs) must not fail the second sign-out on the revoked-token row the first one wrote.

The interleaving is made deterministic: the first sign-out holds its row uncommitted while
the second runs in a thread; that the second waits on the row's lock is read from
PostgreSQL (`pg_stat_activity`), never guessed from a sleep.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from serving import sign_out
from serving.db.models import RevokedToken
from serving.db.session import session_scope
from tests.serving.helpers import waiting_on_a_lock

DEADLINE_S = 30.0


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.005)


def test_a_session_signed_out_twice_at_once_is_signed_out_without_an_error(
    service: Any, database_url: str
) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite's write lock, taken by a sign-out's first statement, serialises them")
    expires_at = time.time() + 600
    sessions = service.services.sessions
    errors: list[BaseException] = []

    def second_sign_out() -> None:
        try:
            with session_scope(sessions) as session:
                sign_out.revoke_token(session, token_id="t1", user_id=1, expires_at=expires_at)
        except BaseException as exc:  # reported by the test below
            errors.append(exc)

    with session_scope(sessions) as first:
        sign_out.revoke_token(first, token_id="t1", user_id=1, expires_at=expires_at)
        first.flush()  # its row written, not committed: the second sees none yet
        thread = threading.Thread(target=second_sign_out)
        thread.start()
        _until(lambda: waiting_on_a_lock(service), "the second sign-out waits on the row")
    thread.join(DEADLINE_S)
    assert not thread.is_alive()
    assert errors == []
    with session_scope(sessions) as session:
        count = session.execute(select(func.count()).select_from(RevokedToken)).scalar_one()
    assert count == 1
