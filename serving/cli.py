"""CLI of the service: `shanyraq serve`, `shanyraq users add|set-password`, `shanyraq audit verify`.

Thin: parse, call a library function, print. Heavy imports happen inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from serving.core.config import ServingSettings

users_app = typer.Typer(help="Service accounts.", no_args_is_help=True)
audit_app = typer.Typer(help="The append-only audit trail.", no_args_is_help=True)


def _settings(config: Path | None) -> ServingSettings:
    from serving.core.config import get_settings, load_serving_settings

    return load_serving_settings(config) if config else get_settings()


def _sessions(settings: ServingSettings) -> sessionmaker[Session]:
    from serving import audit
    from serving.db.session import make_engine, make_session_factory
    from serving.migrations import upgrade

    upgrade(settings.resolved_database_url)
    sessions = make_session_factory(make_engine(settings.resolved_database_url))
    audit.anchor_sessions(sessions, settings.resolved_audit_anchor_file)
    return sessions


@users_app.callback()
def _users() -> None:
    """Service accounts."""


@audit_app.callback()
def _audit() -> None:
    """The append-only audit trail."""


_CONFIG = typer.Option(None, "--config", help="serving.yaml to use (default: configs/).")
# A new password: asked twice, not echoed, unless given with --password.
_PASSWORD = typer.Option(
    ...,
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="At least 10 characters (serving.users.PASSWORD_MIN_CHARS).",
)


def serve(
    host: str = typer.Option(None, help="Address to listen on (default from serving.yaml)."),
    port: int = typer.Option(None, help="Port (default from serving.yaml)."),
    config: Path | None = _CONFIG,
) -> None:
    """Run the API (one process; models are loaded once at start-up)."""
    import uvicorn

    from serving.app import create_app

    settings = _settings(config)
    uvicorn.run(
        create_app(settings),
        host=host or settings.host,
        port=port if port is not None else settings.port,
        log_level="info",
    )


def demo(
    port: int = typer.Option(8000, help="Port on 127.0.0.1."),
    families: int = typer.Option(48, help="Synthetic families to generate (two regions kept)."),
    no_serve: bool = typer.Option(False, "--no-serve", help="Build and seed, then stop."),
) -> None:
    """The embedded demo: build missing models, seed demo families and accounts, serve."""
    import logging

    import uvicorn

    from serving.app import create_app
    from serving.core.config import load_serving_settings
    from serving.demo import DEMO_PASSWORD, DemoPaths, demo_accounts, ensure_models, seed_demo

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    # One line per demo upload (httpx, or httpx2 under newer Starlette test clients) and one per
    # alembic plugin loaded are noise here.
    for name in ("httpx", "httpx2", "alembic.runtime.plugins"):
        logging.getLogger(name).setLevel(logging.WARNING)
    paths = DemoPaths()
    ensure_models(paths)
    settings = load_serving_settings(
        data_dir=paths.data_dir, database_url="", model_dir=paths.model_dir,
        fusion_dir=paths.fusion_dir,
    )  # fmt: skip
    uploaded = seed_demo(settings, n_families=families)
    typer.echo(f"demo data in {settings.data_dir} ({uploaded} photos uploaded now)")
    typer.echo(f"accounts (password {DEMO_PASSWORD!r}, demo only):")
    for account in demo_accounts():
        typer.echo(f"  {account.username:24s} {account.role:11s} {account.region or 'all regions'}")
    if no_serve:
        return
    typer.echo(f"open http://127.0.0.1:{port}/ui")
    uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="info")


@users_app.command("add")
def add_user(
    username: str = typer.Argument(..., help="Login name (lower case, digits, . _ -)."),
    role: str = typer.Option(..., help="inspector, annotator, commission or admin."),
    region: str | None = typer.Option(None, help="Region (required for all but admin)."),
    password: str = _PASSWORD,
    config: Path | None = _CONFIG,
) -> None:
    """Create an account."""
    from serving import audit
    from serving.db.session import session_scope
    from serving.users import create_user

    settings = _settings(config)
    with session_scope(_sessions(settings)) as session:
        user = create_user(session, username=username, password=password, role=role, region=region)
        audit.append(
            session, settings.signing_key(), actor="cli", action="user_created",
            target=f"user:{username}", details={"role": role, "region": region},
        )  # fmt: skip
        typer.echo(f"created {user.role} {user.username} (region: {user.region or 'all'})")


@users_app.command("set-password")
def set_password(
    username: str = typer.Argument(..., help="The account's login name."),
    password: str = _PASSWORD,
    config: Path | None = _CONFIG,
) -> None:
    """Reset an account's password; every session it has is signed out."""
    from serving import audit
    from serving.db.session import session_scope
    from serving.users import reset_password

    settings = _settings(config)
    with session_scope(_sessions(settings)) as session:
        user = reset_password(session, username=username, password=password)
        audit.append(
            session, settings.signing_key(), actor="cli", action="password_reset",
            target=f"user:{username}",
        )  # fmt: skip
        typer.echo(f"new password set for {user.username}; all its sessions are signed out")


@audit_app.command("verify")
def verify_audit(config: Path | None = _CONFIG) -> None:
    """Check the whole chain; exit 1 and list problems if any entry was edited or deleted."""
    from serving import audit
    from serving.db.session import session_scope

    settings = _settings(config)
    with session_scope(_sessions(settings)) as session:
        result = audit.verify(session, settings.signing_key())
    if result.ok:
        typer.echo(f"audit log intact: {result.entries} entries")
        return
    typer.echo(f"audit log BROKEN ({len(result.problems)} problem(s)):", err=True)
    for problem in result.problems:
        typer.echo(f"  {problem}", err=True)
    raise typer.Exit(1)
