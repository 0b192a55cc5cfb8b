"""CLI of service accounts: `shanyraq users add`, `shanyraq users set-password`.

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
