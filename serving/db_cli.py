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
The check, the migration, the seal and the entry run in one transaction on one connection
holding a lock every version's start-up check honours (serving/db_upgrade.py): a service that
starts meanwhile waits for the commit, or is refused (`database_being_upgraded`), and never
reads a half-migrated schema.

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

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from serving.cli import CONFIG_OPTION, load_settings
from serving.core.config import MIGRATION_LOCK_WAIT_MAX_S
from serving.db_upgrade import LOCK_WAIT_S, database_status, shown_url, upgrade_database
from shanyraq.shell_words import config_option

if TYPE_CHECKING:
    from serving.core.config import ServingSettings
    from serving.db_backup import Backup

EXIT_UPGRADE_NEEDED = 3
EXIT_NOT_UPGRADABLE = 4

app = typer.Typer(help="The service database: status, upgrade, backup.", no_args_is_help=True)


@app.callback()
def _db() -> None:
    """The service database: status, upgrade, backup."""


def audit_backup(
    settings: ServingSettings, backup: Backup, config: Path | None = None
) -> str | None:
    """Record `backup` in the audit log (`database_backed_up`); why it was not, or None (the
    upgrade it names carries `config`, the --config the backup was given)."""
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
        engine, key = open_with_key(settings, may_create=False, migrate=False, config=config)
        try:
            with session_scope(anchored_sessions(settings, engine, config)) as session:
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
        upgrade = f"shanyraq db upgrade{config_option(config)}"
        return f"the database is behind this version (`{upgrade}` records its upgrade)"
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
    state = database_status(settings, config)
    typer.echo(f"database: {shown_url(settings)}")
    typer.echo(f"revision: {state.current or 'none'}")
    typer.echo(f"this version needs: {state.head}")
    if state.up_to_date:
        typer.echo("upgrade needed: no")
        return
    if state.upgradable:
        upgrade = f"shanyraq db upgrade{config_option(config)}"
        typer.echo(f"upgrade needed: yes; run `{upgrade}` (back it up first)")
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
    lock_wait: Annotated[
        float,
        typer.Option(
            "--lock-wait",
            min=1.0,
            max=MIGRATION_LOCK_WAIT_MAX_S,  # as the start-up's migration_lock_wait_s
            metavar="SECONDS",
            help="PostgreSQL: how long to wait for a session that holds the database's "
            "alembic_version table (a pg_dump, an open transaction) before refusing; at most "
            "a day.",
        ),
    ] = LOCK_WAIT_S,
    config: Path | None = CONFIG_OPTION,
) -> None:
    """Migrate the database to this version (whatever auto_migrate says); audited.

    Makes no database; stop the service first (it runs on the schema it started with): a
    database another process has open is refused (database_in_use) unless --force. While it
    migrates, a service that starts waits for it (or is refused: database_being_upgraded).
    One transaction: a migration that fails (migration_failed), or Ctrl-C before it prints
    `upgraded`, leaves the database as it was; run it again once the cause is put right.
    """
    settings = load_settings(config)
    report = upgrade_database(
        settings,
        force=force,
        lock_wait_s=lock_wait,
        on_wait=lambda words: typer.echo(words, err=True),
        config=config,
    )
    if report.audit_seq is None:
        typer.echo(f"nothing to do: the database is at migration {report.after} already")
        return
    typer.echo(f"upgraded {shown_url(settings)} from migration {report.before} to {report.after}")
    typer.echo(f"audited: database_upgraded (entry {report.audit_seq})")


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
    unrecorded = audit_backup(settings, made, config)
    typer.echo(f"not audited: {unrecorded}" if unrecorded else "audited: database_backed_up")
