"""Helpers of the page-lock tests: whether another writer is held by the service's open
transaction, the service's reads watched for it, audit entries, and the check that a page
verified its rows holding nothing."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from serving.db.models import AuditEntry
from serving.db.session import session_scope
from tests.serving.helpers import Service

BUSY_MS = 200  # how long the other writer waits for SQLite's write lock (the service's: 30 s)


def held_by_service(service: Service, database_url: str) -> str | None:
    """What holds the database now, or None: SQLite's write lock (another connection cannot
    take it within BUSY_MS), or a connection of the service idle in a transaction (PostgreSQL)."""
    if database_url.startswith("sqlite"):
        file = make_url(database_url).database
        assert file is not None
        other = sqlite3.connect(file, isolation_level=None, timeout=BUSY_MS / 1000)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            return f"the write lock: {exc}"
        finally:
            other.close()
        return None
    with session_scope(service.services.sessions) as session:
        open_ = session.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'"
            )
        ).scalar_one()
    return f"{open_} connection(s) idle in a transaction" if open_ else None


class Watched:
    """The reuse index's `verified`, noting what held the database at each call."""

    def __init__(self, service: Service, database_url: str, real: Callable[..., Any]) -> None:
        self.service, self.database_url, self.real = service, database_url, real
        self.calls = 0
        self.held: list[str] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        held = held_by_service(self.service, self.database_url)
        if held is not None:
            self.held.append(held)
        return self.real(*args, **kwargs)


def audited_entries(service: Service, action: str, target: str | None) -> list[dict[str, Any]]:
    with session_scope(service.services.readers) as session:
        return [
            dict(entry.details or {})
            for entry in session.execute(
                select(AuditEntry).where(AuditEntry.action == action, AuditEntry.target == target)
            ).scalars()
        ]


def assert_verified_unheld(watch: Watched, service: Service) -> None:
    assert watch.calls, "the view verified no photo"
    assert watch.held == [], f"photos were verified while the database was held: {watch.held}"
    service.create_family("F9")  # the service still writes through its own sessions
