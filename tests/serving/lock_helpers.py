"""Helpers of the tests of the lock `shanyraq db upgrade` holds while it migrates: a call run in
a thread (a start or an upgrade that waits for the lock) and what it returned or raised, a
condition waited for within a bound, the words of the refusal a start gets meanwhile, and how
many PostgreSQL sessions wait for a lock."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

WAIT_S = 120  # a bound on waits that end on an event, so a broken run fails, not hangs
BEING_UPGRADED = "try again when `shanyraq db upgrade` has finished"


@dataclass
class ThreadRun:
    """A call run in a thread: what it returned or raised."""

    thread: threading.Thread
    outcome: dict[str, Any] = field(default_factory=dict)

    def result(self) -> Any:
        """What the call returned, once the thread has ended (within WAIT_S); what it raised
        is raised here."""
        self.thread.join(timeout=WAIT_S)
        assert not self.thread.is_alive(), "still running"
        if "error" in self.outcome:
            raise self.outcome["error"]
        return self.outcome["value"]


def in_thread(call: Callable[[], Any]) -> ThreadRun:
    """`call()` started in a daemon thread."""
    run = ThreadRun(thread=threading.Thread(target=lambda: None))

    def target() -> None:
        try:
            run.outcome["value"] = call()
        except BaseException as exc:  # handed to the test by result()
            run.outcome["error"] = exc

    run.thread = threading.Thread(target=target, daemon=True)
    run.thread.start()
    return run


def wait_for(condition: Callable[[], bool]) -> None:
    """Returns once `condition()` holds, asked every 50 ms; fails the test after WAIT_S."""
    ticks = threading.Event()  # never set: each wait is one poll interval
    for _ in range(WAIT_S * 20):
        if condition():
            return
        ticks.wait(0.05)
    raise AssertionError("the condition never held")


def waiting_on_a_lock(url: str) -> int:
    """How many sessions on the PostgreSQL database at `url` wait for a lock now."""
    import psycopg

    plain = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as connection:
        row = connection.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()
    return int(row[0]) if row else 0
