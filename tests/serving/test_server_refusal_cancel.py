"""A read that PostgreSQL cut short (SQLSTATE 57014, 55P03; serving.db.session.unavailable)
is worded as serving.migrations.version_lock.cut_by tells it: a pg_cancel_backend is not
called a timeout, and a timeout's advice names the setting the server's words name."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from serving.db.session import unavailable
from serving.migrations import open_database
from shanyraq.errors import ShanyraqError
from tests.serving.helpers import fresh_postgres_db
from tests.serving.lock_helpers import in_thread
from tests.serving.migration_helpers import CANCELLED, plain, raised_once_cancelled, set_on_database


@pytest.fixture
def migrated_pg(postgres_server: str) -> str:
    url = fresh_postgres_db(postgres_server)
    open_database(url, create=True, migrate=True).dispose()
    return url


def test_a_read_cancelled_by_an_administrator_is_not_called_a_timeout(migrated_pg):
    # Before: "... canceling statement due to user request; the server cut the statement
    # short (its statement_timeout or lock_timeout, ...): raise that setting for this role".
    url = migrated_pg
    with psycopg.connect(plain(url)) as upgrading:  # as `db upgrade` holds it
        upgrading.execute("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE")
        reading = in_thread(lambda: open_database(url, create=False, migrate=False))
        refused = raised_once_cancelled(url, reading)
    assert isinstance(refused, ShanyraqError), refused
    message = refused.message
    assert refused.code == "database_unavailable", message
    assert "canceling statement due to user request" in message, message
    assert f"the statement was {CANCELLED}, not by a timeout" in message, message
    assert "raise " not in message and "_timeout" not in message, message
    assert "server is running" not in message, message


@pytest.mark.parametrize(
    ("setting", "words"),
    [("lock_timeout", "lock timeout"), ("statement_timeout", "statement timeout")],
)
def test_a_read_cut_short_by_a_timeout_names_that_setting(migrated_pg, setting, words):
    # Before: "(its statement_timeout or lock_timeout, or an administrator, ...): raise that
    # setting", leaving the operator to work out which from the server's words.
    url = migrated_pg
    set_on_database(url, setting, "300ms")
    with psycopg.connect(plain(url)) as upgrading:
        upgrading.execute("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE")
        with pytest.raises(ShanyraqError) as refused:
            open_database(url, create=False, migrate=False)
    message = refused.value.message
    assert f"canceling statement due to {words}" in message, message
    assert f"the server cut the statement short (its {setting}," in message, message
    assert f"raise {setting} for this role" in message and "off-peak" in message, message
    other = {"lock_timeout": "statement_timeout", "statement_timeout": "lock_timeout"}[setting]
    assert other not in message and "pg_cancel_backend" not in message, message


class _Canceled(Exception):
    """A psycopg QueryCanceled as a server whose lc_messages is not English raises it."""

    sqlstate = "57014"


def test_a_cancel_in_words_not_known_here_names_both_causes():
    # Before: "(its statement_timeout or lock_timeout, or an administrator, ...)": a 57014 is
    # never a lock_timeout (55P03).
    exc = OperationalError("SELECT 1", {}, _Canceled("Anfrage wird abgebrochen"))
    refused = unavailable(make_url("postgresql+psycopg://shanyraq@db/s"), exc, doing="read")
    said = refused.message
    assert "Anfrage wird abgebrochen" in said, said
    assert (
        "(its statement_timeout, or an administrator or another session (pg_cancel_backend), "
        "as its words say): raise statement_timeout for this role"
    ) in said, said
    assert "lock_timeout" not in said and "not by a timeout" not in said, said
