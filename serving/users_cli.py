"""CLI of service accounts: `shanyraq users add`, `set-password`, `disable`, `enable`, `list`.

Thin: parse, call serving.users, audit, print. Like every service command, each opens the
database and key by the rules serving/cli.py states: `users add` may create them on a fresh
install, `users set-password` refuses a database or key that does not exist.
"""

from __future__ import annotations

from pathlib import Path

import typer

from serving.cli import CONFIG_OPTION, anchored_sessions, load_settings, open_with_key

app = typer.Typer(help="Service accounts.", no_args_is_help=True)


@app.callback()
def _users() -> None:
    """Service accounts."""


# A new password: asked twice, not echoed, unless given with --password.
_PASSWORD = typer.Option(
    ...,
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="At least 10 characters (serving.users.PASSWORD_MIN_CHARS).",
)


@app.command("add")
def add_user(
    username: str = typer.Argument(..., help="Login name (lower case, digits, . _ -)."),
    role: str = typer.Option(..., help="inspector, annotator, commission or admin."),
    region: str | None = typer.Option(None, help="Region (required for all but admin)."),
    password: str = _PASSWORD,
    config: Path | None = CONFIG_OPTION,
) -> None:
    """Create an account. On a fresh install this makes the database and the signing key."""
    from serving import audit
    from serving.db.session import session_scope
    from serving.users import check_new_user, create_user

    settings = load_settings(config)
    check_new_user(username=username, password=password, role=role, region=region)
    engine, key = open_with_key(settings, may_create=True)
    try:
        with session_scope(anchored_sessions(settings, engine)) as session:
            user = create_user(
                session, username=username, password=password, role=role, region=region
            )
            audit.append(
                session, key, actor="cli", action="user_created",
                target=f"user:{username}", details={"role": role, "region": region},
            )  # fmt: skip
    finally:
        engine.dispose()
    typer.echo(f"created {user.role} {user.username} (region: {user.region or 'all'})")


@app.command("set-password")
def set_password(
    username: str = typer.Argument(..., help="The account's login name."),
    password: str = _PASSWORD,
    config: Path | None = CONFIG_OPTION,
) -> None:
    """Reset an account's password; every session it has is signed out.

    The account's current password is accepted too: an operator's reset then only signs
    every session out (a user's own change on the pages refuses an unchanged password).
    """
    from serving import audit
    from serving.db.session import session_scope
    from serving.users import check_password, reset_password

    settings = load_settings(config)
    check_password(password)
    engine, key = open_with_key(settings, may_create=False)
    try:
        with session_scope(anchored_sessions(settings, engine)) as session:
            user = reset_password(session, username=username, password=password)
            audit.append(
                session, key, actor="cli", action="password_reset", target=f"user:{username}"
            )
    finally:
        engine.dispose()
    typer.echo(f"new password set for {user.username}; all its sessions are signed out")


def _set_active(username: str, *, active: bool, config: Path | None) -> None:
    from serving import audit
    from serving.db.session import session_scope
    from serving.users import find_user, set_active

    settings = load_settings(config)
    engine, key = open_with_key(settings, may_create=False)
    try:
        with session_scope(anchored_sessions(settings, engine)) as session:
            user = find_user(session, username)
            changed = set_active(user, active=active)
            audit.append(
                session, key, actor="cli", action="user_enabled" if active else "user_disabled",
                target=f"user:{username}", details={"changed": changed},
            )  # fmt: skip
    finally:
        engine.dispose()
    state = "enabled" if active else "disabled; every session it had is signed out"
    typer.echo(f"{username} {state}" + ("" if changed else " (it was already)"))


@app.command("disable")
def disable_user(
    username: str = typer.Argument(..., help="The account's login name."),
    config: Path | None = CONFIG_OPTION,
) -> None:
    """Disable an account: it can no longer sign in and every session it has is signed out.
    Its uploads, decisions and audit entries stay. `users enable` undoes it."""
    _set_active(username, active=False, config=config)


@app.command("enable")
def enable_user(
    username: str = typer.Argument(..., help="The account's login name."),
    config: Path | None = CONFIG_OPTION,
) -> None:
    """Enable a disabled account again (its earlier sessions stay signed out)."""
    _set_active(username, active=True, config=config)


@app.command("list")
def list_users(config: Path | None = CONFIG_OPTION) -> None:
    """Every account: name, role, region, and whether it is active. Reads only (not audited,
    as `db status` and `audit verify` are not; the API's list is)."""
    from sqlalchemy import select

    from serving.cli import open_database
    from serving.db.models import User
    from serving.db.session import make_read_session_factory

    settings = load_settings(config)
    engine = open_database(settings, may_create=False, migrate=False)  # read-only
    try:
        with make_read_session_factory(engine)() as session:
            users = list(session.scalars(select(User).order_by(User.username)))
    finally:
        engine.dispose()
    for user in users:
        state = "active" if user.active else "DISABLED"
        typer.echo(f"{user.username}\t{user.role}\t{user.region or 'all regions'}\t{state}")
    typer.echo(f"{len(users)} account(s)", err=True)
