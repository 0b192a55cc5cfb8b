"""CLI of the service database: `shanyraq db status`, `db upgrade`, `db backup OUT`.

`db status` only reads (no migration, no journal change, no file made) and exits
`EXIT_UPGRADE_NEEDED` (3) when `db upgrade` would bring the database to this version, or
`EXIT_NOT_UPGRADABLE` (4) when it cannot: a revision this version does not know (newer code)
or no Shanyraq tables. Every command refuses a database that does not exist
(`database_missing`).

`db upgrade` is the explicit upgrade, whatever `auto_migrate` says; with `auto_migrate: false`
it is the only command that migrates an existing database (serving/cli.py). It makes no
database (`shanyraq users add` or `shanyraq serve` does), refuses before changing anything
when the signing key is missing, seals an audit head left without a MAC, and records an
upgrade that changed the revision (`database_upgraded`: from, to, code version). It refuses
(`database_in_use`, unless `--force`) a database behind this version that another process has
open: a running service keeps the schema it started with, and migrating under it breaks it.
On SQLite, any process holding it open (the lock every connection of a WAL database holds on
its -shm file, asked for as SQLite does; off Linux that cannot be told: refused); on PostgreSQL,
another session on it named like the service's ("shanyraq...", or none as earlier versions').
Asked again once migrated (unless --force): one that opened it meanwhile is named, exit 5.

`db backup OUT` copies the embedded SQLite database (serving/db_backup.py), never over or
into the service's own files (serving.data_dir.service_paths), then records it
(`database_backed_up`: path, size, revision) where it can. Not when the database is read-only
here, or cannot be written now (a writer held its lock past the 30 s busy timeout), or the
signing key is not at hand (it may be in the service's environment only): the copy is made
and verified first, and a backup must work from a read-only mount, so the command still
succeeds and says why it was not recorded. Not when the database is behind this
version either (an older schema cannot take this version's entries; the upgrade that follows
is recorded). The entry is written after the copy, so the copy's log ends just before it.
It prints what else a restore needs.
"""

from __future__ import annotations

import os
import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from serving.cli import CONFIG_OPTION, load_settings
from shanyraq.errors import ShanyraqError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from serving.core.config import ServingSettings
    from serving.db_backup import Backup
    from serving.migrations import SchemaState

EXIT_UPGRADE_NEEDED = 3
EXIT_NOT_UPGRADABLE = 4
EXIT_OPEN_AFTER_UPGRADE = 5
MAKES_NONE = (
    "The `db` commands make no database: on a fresh install `shanyraq users add` or "
    "`shanyraq serve` creates it"
)

# SQLite's unix VFS: every connection of a WAL database holds a read lock on this byte of the
# -shm file while it is open (UNIX_SHM_DMS in os_unix.c: (22 + 8) * 4 + 8).
SQLITE_SHM_DMS_BYTE = 128
# Sessions of the service and commands on PostgreSQL: this version's are named "shanyraq"
# (serving.db.session.APPLICATION_NAME); earlier ones, which a `db upgrade` usually finds
# running, set no application_name. Another role's session shows no backend_type (unless this
# role has pg_read_all_stats): counted, as background workers (no user) are not.
_OTHER_SESSIONS = """
SELECT format('session %s of %s %s%s', pid, usename, CASE WHEN backend_type IS NULL
    THEN '(its address hidden from this role)'
    ELSE 'from ' || coalesce(host(client_addr), 'a local socket') END,
  ' (' || nullif(application_name, '') || ')')
FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
  AND (backend_type = 'client backend' OR backend_type IS NULL AND usename IS NOT NULL)
  AND (coalesce(application_name, '') = '' OR application_name LIKE 'shanyraq%')
ORDER BY pid
"""


class DatabaseInUseError(ShanyraqError):
    """`db upgrade` found another process on the database (the service, most likely), or
    cannot tell here whether one has it open."""

    code = "database_in_use"
    http_status = 409


app = typer.Typer(help="The service database: status, upgrade, backup.", no_args_is_help=True)


@app.callback()
def _db() -> None:
    """The service database: status, upgrade, backup."""


def shown_url(settings: ServingSettings) -> str:
    """The database URL as it may be printed: its password hidden."""
    from serving.db.session import parse_url

    return parse_url(settings.resolved_database_url).render_as_string(hide_password=True)


def _read_engine(settings: ServingSettings) -> Engine:
    """A read-only engine on an existing database (as `audit verify` reads)."""
    from serving.db.session import open_engine

    return open_engine(settings.resolved_database_url, create=False, read_only=True)


def database_status(settings: ServingSettings) -> SchemaState:
    """Where the database stands against this version's migrations; reads only."""
    from sqlalchemy.exc import DBAPIError

    from serving.db.session import DatabaseMissingError, unavailable
    from serving.migrations import schema_state

    try:
        engine = _read_engine(settings)
    except DatabaseMissingError as exc:
        raise DatabaseMissingError(f"{exc.message}. {MAKES_NONE}") from None
    try:
        return schema_state(engine)
    except DBAPIError as exc:
        raise unavailable(engine, exc, doing="read") from None
    finally:
        engine.dispose()


@dataclass(frozen=True)
class UpgradeReport:
    before: str
    after: str
    audit_seq: int | None  # the `database_upgraded` entry; None: nothing changed
    open_now: tuple[str, ...] = ()  # who has the database open once migrated, in words


def sqlite_holder(file: Path) -> int | None:
    """Another process that has the WAL database `file` open: its process id (0 when it is not
    visible from here, e.g. in another container), or None when none is seen.

    Asks the kernel who holds the lock SQLite's connections keep on the -shm file, as SQLite
    itself does (F_GETLK): nothing is locked or written. Linux only (the layout of `struct
    flock`): elsewhere, or where the kernel does not answer, DatabaseInUseError saying so.
    Call it while this process has no connection to `file` open: closing the descriptor it
    opens drops every lock this process holds on the -shm file.
    """
    # SQLite follows a link to the database: its -shm lies beside the file linked to.
    real = file.resolve()
    shm = real.with_name(real.name + "-shm")
    try:
        fd = os.open(shm, os.O_RDONLY)
        try:
            if sys.platform != "linux":
                raise OSError(f"this check runs on Linux only, not on {sys.platform}")
            import fcntl

            asked = struct.pack("hhqqi", fcntl.F_WRLCK, os.SEEK_SET, SQLITE_SHM_DMS_BYTE, 1, 0)
            answer = fcntl.fcntl(fd, fcntl.F_GETLK, asked)
        finally:
            os.close(fd)
    except FileNotFoundError:  # no -shm: no connection has it open (the last one removes it)
        return None
    except OSError as exc:  # not Linux, no permission, a file system without locks, ...
        raise DatabaseInUseError(
            f"cannot tell whether another process has {real} open ({exc.strerror or exc}): stop "
            f"the service and every other shanyraq command on it (`lsof {shm}` lists who has "
            "it open; without that file none has), then run `shanyraq db upgrade --force`"
        ) from None
    kind, _whence, _start, _len, pid = struct.unpack("hhqqi", answer)
    return None if kind == fcntl.F_UNLCK else max(pid, 0)


def _process(pid: int) -> str:
    """Process `pid` in words, with its command where this machine shows it: the words before
    its first option only (another command's options may hold a password)."""
    if pid <= 0:
        return "a process not visible from here"
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return f"process {pid}"
    words: list[str] = []
    for arg in (arg.decode(errors="replace") for arg in argv if arg):
        if arg.startswith("-") or len(words) == 4:
            break
        words.append(arg)
    return f"process {pid} ({' '.join(words)})" if words else f"process {pid}"


def _postgres_sessions(settings: ServingSettings) -> list[str]:
    """Other sessions on the PostgreSQL database that may be the service's, in words."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from serving.db.session import unavailable

    engine = _read_engine(settings)
    try:
        with engine.connect() as connection:
            return list(connection.execute(text(_OTHER_SESSIONS)).scalars())
    except DBAPIError as exc:
        raise unavailable(engine, exc, doing="read") from None
    finally:
        engine.dispose()


def database_users(settings: ServingSettings) -> list[str]:
    """Who else may be the service's on the database, in words; see the module docstring."""
    from serving.db.session import parse_url, sqlite_file

    parsed = parse_url(settings.resolved_database_url)
    file = sqlite_file(parsed)
    if file is not None:
        pid = sqlite_holder(file)
        return [] if pid is None else [_process(pid)]
    return _postgres_sessions(settings) if parsed.get_backend_name() == "postgresql" else []


def upgrade_database(settings: ServingSettings, *, force: bool = False) -> UpgradeReport:
    """Migrate the database to this version's head; see the module docstring. `force`: even
    when another process has the database open."""
    from serving import audit
    from serving.cli import anchored_sessions, open_with_key
    from serving.db.session import DatabaseMissingError, session_scope
    from serving.migrations import newer_schema_error, schema_state
    from shanyraq import __version__

    state = database_status(settings)
    if state.current is None:
        raise DatabaseMissingError(
            f"the database at {shown_url(settings)} {state.describe()}; check that --config "
            f"points at the service's database. {MAKES_NONE}"
        )
    if not state.known:
        raise newer_schema_error(shown_url(settings), state)
    if not (state.up_to_date or force) and (users := database_users(settings)):
        raise DatabaseInUseError(  # before this process opens it (see sqlite_holder)
            f"the database at {shown_url(settings)} is in use: {'; '.join(users)}. A running "
            "service keeps the schema it started with, and migrating under it breaks it: stop "
            "the service (and any other shanyraq command on this database), then run "
            "`shanyraq db upgrade` again; `--force` upgrades anyway"
        )
    settings.signing_key(create=False)  # refused now, before the database changes
    engine, key = open_with_key(settings, may_create=False, migrate=True)
    try:
        after = schema_state(engine).current or ""
        if after == state.current:
            return UpgradeReport(before=state.current, after=after, audit_seq=None)
        with session_scope(anchored_sessions(settings, engine)) as session:
            entry = audit.append(
                session, key, actor="cli", action="database_upgraded", target="database",
                details={"from_revision": state.current, "to_revision": after,
                         "code_version": __version__},
            )  # fmt: skip
    finally:
        engine.dispose()
    try:  # asked again, once this process has it closed: who opened it meanwhile
        open_now = () if force else tuple(database_users(settings))
    except ShanyraqError:  # cannot tell here, or the server went away: the upgrade stands
        open_now = ()
    return UpgradeReport(state.current, after, audit_seq=entry.seq, open_now=open_now)


def audit_backup(settings: ServingSettings, backup: Backup) -> str | None:
    """Record `backup` in the audit log (`database_backed_up`); why it was not, or None."""
    from sqlalchemy.exc import OperationalError

    from serving import audit
    from serving.cli import anchored_sessions, open_with_key
    from serving.core.config import SigningKeyMissingError
    from serving.db.session import session_scope, writable
    from serving.migrations import DatabaseNotMigratedError, known_revision

    if not writable(backup.source):
        return "the database is read-only here"
    details = {
        "path": str(backup.path.resolve()), "size_bytes": backup.size_bytes,
        "revision": backup.revision,
    }  # fmt: skip
    try:
        engine, key = open_with_key(settings, may_create=False, migrate=False)
        try:
            with session_scope(anchored_sessions(settings, engine)) as session:
                audit.append(session, key, actor="cli", action="database_backed_up",
                             target="database", details=details)  # fmt: skip
        finally:
            engine.dispose()
    except DatabaseNotMigratedError:
        if backup.revision is not None and not known_revision(backup.revision):
            return (
                f"the database is at migration {backup.revision}, newer than this version "
                "(the version that wrote it records its backups)"
            )
        return "the database is behind this version (`shanyraq db upgrade` records its upgrade)"
    except OperationalError as exc:  # SQLite: locked past its busy timeout, read-only, I/O
        return f"the database could not be written ({str(exc.orig).splitlines()[0]})"
    except SigningKeyMissingError as exc:  # e.g. run without the service's environment
        return f"no signing key here to sign the entry with ({exc.message})"
    return None


def restore_needs(settings: ServingSettings) -> list[str]:
    """What a restore needs besides the database copy, one line each."""
    from serving.data_dir import KEY_FILE

    key = (
        "set in serving.yaml or SHANYRAQ_SERVING__SECRET_KEY"
        if settings.secret_key is not None
        else str(settings.data_dir / KEY_FILE)
    )
    return [
        f"photo store: {settings.store_dir}/ (the photos the database points at)",
        f"signing key: {key} (the audit chain and every token are keyed with it: without it a "
        "restored audit log reads as tampered; keep it apart from the database copy)",
        f"audit anchor: {settings.resolved_audit_anchor_file} (the chain's heads outside the "
        "database; see README, Database upgrades and backups, before restoring)",
    ]


@app.command("status")
def status(config: Path | None = CONFIG_OPTION) -> None:
    """Print the database's migration and this version's; read-only.

    Exit 0: up to date; 3: behind (run `shanyraq db upgrade`); 4: this version cannot
    upgrade it (a newer revision, or no Shanyraq tables).
    """
    settings = load_settings(config)
    state = database_status(settings)
    typer.echo(f"database: {shown_url(settings)}")
    typer.echo(f"revision: {state.current or 'none'}")
    typer.echo(f"this version needs: {state.head}")
    if state.up_to_date:
        typer.echo("upgrade needed: no")
        return
    if state.upgradable:
        typer.echo("upgrade needed: yes; run `shanyraq db upgrade` (back it up first)")
        raise typer.Exit(EXIT_UPGRADE_NEEDED)
    typer.echo(f"upgrade needed: cannot; the database {state.describe()}")
    raise typer.Exit(EXIT_NOT_UPGRADABLE)


@app.command("upgrade")
def upgrade(
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Upgrade even when another process (the service?) has the database open.",
        ),
    ] = False,
    config: Path | None = CONFIG_OPTION,
) -> None:
    """Migrate the database to this version (whatever auto_migrate says); audited.

    Makes no database; stop the service first (it runs on the schema it started with): a
    database another process has open is refused (database_in_use) unless --force. Exit 5:
    one has it open once upgraded (named on stderr): restart it, it may run on the old schema.
    """
    settings = load_settings(config)
    report = upgrade_database(settings, force=force)
    if report.audit_seq is None:
        typer.echo(f"nothing to do: the database is at migration {report.after} already")
        return
    typer.echo(f"upgraded {shown_url(settings)} from migration {report.before} to {report.after}")
    typer.echo(f"audited: database_upgraded (entry {report.audit_seq})")
    if report.open_now:  # opened after the check before migrating (module docstring)
        typer.echo(f"warning: open now in {'; '.join(report.open_now)}: one that opened it before "
                   "the upgrade ended runs on the old schema; restart it", err=True)  # fmt: skip
        raise typer.Exit(EXIT_OPEN_AFTER_UPGRADE)


@app.command("backup")
def backup(
    out: Annotated[Path, typer.Argument(help="The copy to write (a new file).")],
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing OUT.")
    ] = False,
    config: Path | None = CONFIG_OPTION,
) -> None:
    """Copy the SQLite database to OUT while the service runs; verified, audited.

    PostgreSQL is refused (use pg_dump). Prints what else to back up.
    """
    from serving.data_dir import service_paths
    from serving.db_backup import backup_sqlite

    settings = load_settings(config)
    made = backup_sqlite(
        settings.resolved_database_url, out, overwrite=overwrite, kept=service_paths(settings)
    )
    typer.echo(
        f"backup written: {made.path} ({made.size_bytes} bytes, migration "
        f"{made.revision or 'none'}); integrity check ok"
    )
    typer.echo("not in it; back these up too:")
    for line in restore_needs(settings):
        typer.echo(f"  {line}")
    unrecorded = audit_backup(settings, made)
    typer.echo(f"not audited: {unrecorded}" if unrecorded else "audited: database_backed_up")
