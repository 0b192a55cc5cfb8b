"""Helpers of the command-line tests: running a command in this process and its error code, a
serving.yaml for a database URL (and the URL of its SQLite database), a database an older
version left behind this schema and one a later version left ahead of it, what a database holds
(its schema revision, its audit log), and another process holding a SQLite database open."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import select
from typer.testing import CliRunner

from serving.db.models import AuditEntry
from serving.db.session import make_engine, make_session_factory, session_scope
from serving.migrations import alembic_config, upgrade
from shanyraq.cli import build_app
from shanyraq.errors import ShanyraqError
from tests.serving.helpers import PASSWORD

SECRET_KEY = "db-commands-key-0123456789abcdef-0123456789"  # serving_config's secret_key
OLD_REVISION = "0005"  # the schema revision database_behind leaves a database at


def run_cli(*args: str | Path, stdin: str | bytes | None = None) -> Any:
    """`shanyraq *args` in this process, `stdin` its standard input; typer's Result."""
    return CliRunner().invoke(build_app(), [str(arg) for arg in args], input=stdin)


def error_code(result: Any) -> str | None:
    """The code of the ShanyraqError the command ended with (None: it ended otherwise)."""
    return result.exception.code if isinstance(result.exception, ShanyraqError) else None


def sqlite_url(tmp_path: Path) -> str:
    """The URL of the SQLite database serving_config's data folder in `tmp_path` keeps."""
    return f"sqlite:///{tmp_path / 'data' / 'shanyraq.db'}"


def serving_config(
    tmp_path: Path, url: str, *, auto_migrate: bool = True, key: bool = True
) -> Path:
    """serving.yaml in `tmp_path` for the database at `url`, its data under tmp_path/data and
    its audit anchor file beside it; with SECRET_KEY unless `key` is false."""
    config = tmp_path / "serving.yaml"
    config.write_text(
        f"data_dir: {tmp_path / 'data'}\ndatabase_url: '{url}'\n"
        f"auto_migrate: {str(auto_migrate).lower()}\naudit_anchor_file: {tmp_path / 'anchor.log'}\n"
        + (f"secret_key: {SECRET_KEY}\n" if key else "")
    )
    return config


def database_behind(tmp_path: Path, url: str) -> Path:
    """The config (auto_migrate off) of a database at OLD_REVISION holding one account, as an
    older version left it."""
    config = serving_config(tmp_path, url, auto_migrate=False)
    added = run_cli("users", "add", "amina", "--role", "admin", "--config", config,
                    stdin=f"{PASSWORD}\n{PASSWORD}\n")  # fmt: skip  # asked for, twice
    assert added.exit_code == 0, added.output
    command.downgrade(alembic_config(url), OLD_REVISION)
    return config


def schema_revision(url: str) -> str | None:
    """The schema revision alembic records in the database at `url` (None: none recorded)."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def head_revision() -> str:
    """The newest schema revision this version's migrations know."""
    return ScriptDirectory.from_config(alembic_config("")).get_current_head() or ""


def audit_entries_at(url: str) -> list[AuditEntry]:
    """The audit log of the database at `url`, in order."""
    engine = make_engine(url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            return list(session.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars())
    finally:
        engine.dispose()


def newer_database(database: Path) -> str:
    """The URL of a database a later version of the service left (a migration unknown here)."""
    url = f"sqlite:///{database}"
    upgrade(url)
    with sqlite3.connect(database) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999'")
    connection.close()
    return url


@contextmanager
def holding_open(database: Path) -> Iterator[int]:
    """Another process with the SQLite database open, as the service holds it; its id."""
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]);"
         "c.execute('SELECT count(*) FROM sqlite_master').fetchone();"
         "print('open', flush=True); sys.stdin.read()", str(database)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "open\n"
        yield holder.pid
    finally:
        assert holder.stdin is not None and holder.stdout is not None
        holder.stdin.close()  # it ends, closing the database
        holder.wait(timeout=30)
        holder.stdout.close()
