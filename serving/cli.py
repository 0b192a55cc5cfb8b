"""CLI of the service: `shanyraq serve`, `shanyraq demo`, and how every service command opens
the database and the signing key (`users`: serving/users_cli.py, `audit`: serving/audit_cli.py,
`db`, `rescore`, `assessments`, `store` in their own modules).

Thin: parse, call a library function, print. Heavy imports happen inside the commands.

What a command may create (one rule, `open_database` and `command_key` below): on a fresh
install `serve` and `users add` create the database (a SQLite file and its folder, or the
tables of an empty PostgreSQL database) and then the signing key, while the audit log is
still empty; `demo` makes its own under var/demo. A data folder that shows use (a signing key
file, audit anchor entries, photos) with no database or an empty file is not a fresh install:
refused (`refuse_used_data_dir`). Every other command (`audit verify`,
`users set-password`, `rescore`, `rescore promote`, `assessments refresh`, `db ...`) refuses
a database that does not exist (`database_missing`) and a missing key
(`signing_key_missing`), and so does every command once the audit log has entries: a new key
would make all of them read as tampered.

What may migrate an existing database (`open_with_key`): `shanyraq db upgrade` always (it is
the explicit upgrade, serving/db_cli.py); `serve`, `users`, `rescore`, `rescore promote` and
`assessments refresh` only while `auto_migrate` is true in serving.yaml. With `auto_migrate:
false` they refuse a database behind this version (`database_not_migrated`, naming `shanyraq
db upgrade`) and change nothing in it, so nothing migrates it but that explicit command.
Creating a fresh database at this version's schema is not upgrading one, so `serve` and `users
add` still do that. `audit verify`, `db status` and the dry runs (`rescore promote
--dry-run`, `assessments refresh --dry-run`) write nothing: no migration, a read-only engine,
a database not at the last migration refused (`database_not_migrated`). A command that
opens the database to write seals an audit head that carries no MAC (`open_with_key`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from shanyraq.errors import ShanyraqError

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from serving.core.config import ServingSettings


class PortInUseError(ShanyraqError):
    """The address `serve` or `demo` would listen on is taken by another program."""

    code = "port_in_use"


class ListenRefusedError(ShanyraqError):
    """The address to listen on cannot be used here (not this machine's, or a privileged port)."""

    code = "listen_refused"


def check_listen(host: str, port: int, *, option: str) -> None:
    """Refuse, before anything is loaded or seeded, an address the server could not listen on:
    PortInUseError when another program listens there, ListenRefusedError for another reason.

    Binds as uvicorn's (asyncio's) server will (every address `host` resolves to, SO_REUSEADDR,
    so a port left in TIME_WAIT passes) and lets go at once. `option`: where to choose another."""
    import errno
    import socket

    try:
        addresses = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise ListenRefusedError(
            f"cannot listen on {host}:{port}: the host is not known here ({exc.strerror}); "
            "give an address of this machine, e.g. 127.0.0.1"
        ) from None
    for family, kind, protocol, _, address in addresses:
        with socket.socket(family, kind, protocol) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:  # as asyncio's server: IPv6 apart from IPv4
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise PortInUseError(
                        f"{host}:{port} is in use by another program (another `shanyraq serve` "
                        f"or demo?): stop it, or choose another port with {option}"
                    ) from None
                raise ListenRefusedError(
                    f"cannot listen on {host}:{port} ({exc.strerror}): choose an address of "
                    f"this machine, or a port above 1023 with {option}"
                ) from None


def run_server(
    settings: ServingSettings, *, host: str, port: int, config: Path | None = None
) -> None:
    """Serve the app of `settings` (serving.app.create_app; `config`: the --config they were
    read from, None: none given) with uvicorn on `host`:`port` until a stop (SIGTERM,
    Ctrl-C), for `serve` and `demo`.

    uvicorn takes no logging configuration of its own (`log_config=None`): its lines, requests
    included, go through the handler serving.logs.configure_logging set up, at the settings'
    `log_level`.

    A stop waits at most the settings' `shutdown_requests_s` for the requests in flight. An
    upload still waiting on the photo model a little before that (serving.shutdown_stop) is
    answered 503 "shutting down" with a Retry-After, and one reaching it after that at once;
    then uvicorn cancels the requests still running (it logs "timeout graceful shutdown
    exceeded"; a client still sending its photo gets a 500 or a closed connection), so neither
    a hung model nor a client that never ends its body holds the stop past its grace period.
    A cancelled upload leaves no partial file and no row without its file: the file is written
    to a temporary name and renamed once durable, and the row commits after that
    (serving.storage, serving.uploads). Then the app shuts down (the pipeline waits
    `batching.shutdown_wait_s` at most)."""
    import uvicorn

    from serving.app import create_app
    from serving.shutdown_stop import StopSignals

    app = create_app(settings, config=config)

    def stop_begins(deadline: float) -> None:
        services = getattr(app.state, "services", None)  # None: the app has not started
        if services is not None:
            services.pipeline.stop.begin(deadline)

    uvicorn.run(
        StopSignals.from_settings(app, settings, on_stop=stop_begins),
        host=host,
        port=port,
        log_config=None,
        log_level=settings.log_level,
        timeout_graceful_shutdown=settings.shutdown_requests_s,
    )


def load_settings(config: Path | None) -> ServingSettings:
    """serving.yaml given with --config (which must exist), else the configured one."""
    from serving.core.config import get_settings, load_serving_settings

    return load_serving_settings(config) if config else get_settings()


def open_database(
    settings: ServingSettings,
    *,
    may_create: bool,
    migrate: bool,
    read_only: bool | None = None,
    config: Path | None = None,
) -> Engine:
    """The service's database for a command; see the module docstring for who may create it
    and migrate it. `read_only` defaults to not `migrate` (serving.migrations.open_database).
    A migration on PostgreSQL waits for alembic_version up to `migration_lock_wait_s`.
    `config`: the command's --config (None: none given), which the upgrade a refusal of a
    database behind this version tells carries.

    A database to be made (`may_create`, no SQLite file or an empty one) is refused in a data
    folder that was used (`refuse_used_data_dir`); one another command made meanwhile is
    ConflictError (run it again), not a fault of the settings."""
    from serving.db.refusals import DatabaseUnavailableError
    from serving.migrations import open_database as open_migrated

    url = settings.resolved_database_url
    new = may_create and _sqlite_to_make(url) is not None
    if new:
        refuse_used_data_dir(settings)
    try:
        return open_migrated(
            url,
            create=may_create,
            migrate=migrate,
            read_only=read_only,
            lock_wait_s=settings.migration_lock_wait_s,  # PostgreSQL, as it migrates
            config=config,
        )
    except DatabaseUnavailableError:
        if new and _has_tables(url):
            from serving.errors import ConflictError

            raise ConflictError(
                f"another command created the database at {_sqlite_to_make(url) or url} at "
                "the same time as this one, which changed nothing: run this command again"
            ) from None
        raise


def _sqlite_to_make(url: str) -> Path | None:
    """The SQLite file of `url` when it does not exist yet or is empty (0 bytes), else None
    (PostgreSQL included: its tables are made in an existing database)."""
    from serving.db.session import parse_url, sqlite_file

    file = sqlite_file(parse_url(url))
    if file is None or (file.is_file() and file.stat().st_size > 0):
        return None
    return file


def _has_tables(url: str) -> bool:
    """Whether the database at `url` has tables now (read-only; False if it cannot be read)."""
    from sqlalchemy import inspect
    from sqlalchemy.exc import DBAPIError

    from serving.db.session import open_engine
    from shanyraq.errors import ShanyraqError

    try:
        engine = open_engine(url, create=False, read_only=True)
    except ShanyraqError:  # missing, empty or unreadable: no tables to speak of
        return False
    try:
        return bool(inspect(engine).get_table_names())
    except DBAPIError:
        return False
    finally:
        engine.dispose()


def refuse_used_data_dir(settings: ServingSettings) -> None:
    """DatabaseMissingError when the database is to be made but the data folder shows use: a
    signing key file, an audit anchor with heads in it, photos in the store. A new database
    there would start a new audit chain beside them (which `audit verify` reports as cut)."""
    from serving.data_dir import KEY_FILE
    from serving.db.refusals import DatabaseMissingError

    signs = []
    if (settings.data_dir / KEY_FILE).exists():
        signs.append(f"a signing key ({settings.data_dir / KEY_FILE})")
    anchor = settings.resolved_audit_anchor_file
    if anchor.is_file() and anchor.stat().st_size > 0:
        signs.append(f"an audit anchor with entries ({anchor})")
    originals = settings.store_dir / "originals"
    if originals.is_dir() and any(path.is_file() for path in originals.rglob("*")):
        signs.append(f"photos ({originals})")
    if not signs:
        return
    file = _sqlite_to_make(settings.resolved_database_url)
    state = "is empty (0 bytes)" if file is not None and file.exists() else "does not exist"
    raise DatabaseMissingError(
        f"the database {file} {state}, but the service was used here before (found: "
        f"{'; '.join(signs)}). A new database would start a new audit chain beside them, so "
        "none is made. Restore the database from its backup (README, Database upgrades and "
        "backups); for a new install, point data_dir at an empty folder"
    )


def command_key(settings: ServingSettings, engine: Engine, *, may_create: bool) -> bytes:
    """The token and audit key; made only where `may_create` and the audit log is empty."""
    from sqlalchemy import inspect, select

    from serving.db.models import AuditEntry

    if may_create and inspect(engine).has_table(AuditEntry.__tablename__):
        with engine.connect() as connection:
            may_create = connection.execute(select(AuditEntry.seq).limit(1)).first() is None
    return settings.signing_key(create=may_create)


def open_with_key(
    settings: ServingSettings,
    *,
    may_create: bool,
    migrate: bool | None = None,
    config: Path | None = None,
) -> tuple[Engine, bytes]:
    """`open_database` and `command_key`, for a command that may write: a writing engine on
    a database at this version's schema. `migrate` (default: the settings' `auto_migrate`)
    upgrades a database behind; without it one behind is refused. An audit head that carries
    no MAC (one written before migration 0003) is sealed now, so a tail cut after an upgrade
    is detected (serving.migrations.seal_audit_head). `config`: as `open_database`'s."""
    from serving.migrations import seal_audit_head

    migrate = settings.auto_migrate if migrate is None else migrate
    engine = open_database(
        settings, may_create=may_create, migrate=migrate, read_only=False, config=config
    )
    try:
        key = command_key(settings, engine, may_create=may_create)
        seal_audit_head(engine, key, config)
    except BaseException:
        engine.dispose()
        raise
    return engine, key


def check_database(
    settings: ServingSettings, *, may_create: bool, migrate: bool, config: Path | None = None
) -> None:
    """Refuse, before a command builds the whole service, a database or key it may not make
    (`config`: as `open_database`'s)."""
    engine, _ = open_with_key(settings, may_create=may_create, migrate=migrate, config=config)
    engine.dispose()


def anchored_sessions(
    settings: ServingSettings, engine: Engine, config: Path | None
) -> sessionmaker[Session]:
    """Write sessions whose audit appends are anchored in the settings' anchor file, carrying
    `config`, the --config the command was given (None: none), so that an `audit verify` an
    append tells carries it (serving.audit_anchor)."""
    from serving.audit_anchor import anchor_sessions
    from serving.db.session import make_session_factory

    sessions = make_session_factory(engine)
    anchor_sessions(sessions, settings.resolved_audit_anchor_file, config)
    return sessions


CONFIG_OPTION = typer.Option(None, "--config", help="serving.yaml to use (default: configs/).")


def serve(
    host: str = typer.Option(None, help="Address to listen on (default from serving.yaml)."),
    port: int = typer.Option(None, min=0, max=65535, help="Port (default from serving.yaml)."),
    config: Path | None = CONFIG_OPTION,
) -> None:
    """Run the API (one process; models are loaded once at start-up).

    On a fresh install it creates the database and the signing key (module docstring).
    """
    from serving.logs import configure_logging

    settings = load_settings(config)
    configure_logging(settings.log_level)  # before the database is opened: its lines too
    host = host or settings.host
    port = port if port is not None else settings.port
    # Checked before the server starts: a clear error instead of a failed start-up, and no
    # new key beside an audit log signed with another one.
    check_database(settings, may_create=True, migrate=settings.auto_migrate, config=config)
    check_listen(host, port, option="--port (or `port` in serving.yaml)")
    run_server(settings, host=host, port=port, config=config)


def demo(
    port: int = typer.Option(8000, min=1, max=65535, help="Port on 127.0.0.1."),
    families: int = typer.Option(
        48, help="Synthetic families generated; the two demo regions' are filed."
    ),
    no_serve: bool = typer.Option(False, "--no-serve", help="Build and seed, then stop."),
) -> None:
    """The embedded demo: build missing or stale models, seed demo families and accounts, serve.

    Run it again after an interruption, with the same --families: it finishes the seeding.
    """
    from serving.demo import (
        DEMO_HOST,
        DEMO_PASSWORD,
        SEED_MARKER,
        demo_accounts,
        demo_families,
        demo_settings,
        seed_demo,
        settings_line,
    )
    from serving.demo_build import DemoPaths, ensure_models
    from serving.logs import configure_logging

    paths = DemoPaths()
    # Refused before the models are built (minutes): a port taken, settings from the site's.
    if not no_serve:
        check_listen(DEMO_HOST, port, option="--port")
    settings, config = demo_settings(paths, port=port)
    configure_logging(settings.log_level)  # before the models are built: their progress too
    if not (settings.data_dir / SEED_MARKER).exists():
        demo_families(families)  # a --families that fills no demo region: refused before building
    ensure_models(paths)
    uploaded = seed_demo(settings, n_families=families, config=config.resolve())
    typer.echo(f"demo data in {settings.data_dir} ({uploaded} photos uploaded now)")
    typer.echo(settings_line(config))
    typer.echo(f"accounts (password {DEMO_PASSWORD!r}, demo only):")
    for account in demo_accounts():
        typer.echo(f"  {account.username:24s} {account.role:11s} {account.region or 'all regions'}")
    if no_serve:
        return
    typer.echo(f"open http://{DEMO_HOST}:{port}/ui")
    run_server(settings, host=DEMO_HOST, port=port, config=config.resolve())
