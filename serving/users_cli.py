"""CLI of service accounts: `shanyraq users add`, `set-password`, `disable`, `enable`, `list`.

Thin: parse, call serving.users, audit, print. Like every service command, each opens the
database and key by the rules serving/cli.py states: `users add` may create them on a fresh
install, `users set-password` refuses a database or key that does not exist.

A new password is asked for (twice, not echoed), or read as one line from standard input with
`--password-stdin` (scripts). `--password X` still works but puts the password where other
users of the machine can read it (the process list, shell history): it warns on stderr.
It is asked for only after everything else was checked (name, role, region, whether the
account exists), so a refusal never comes after typing it twice.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from serving.cli import CONFIG_OPTION, anchored_sessions, load_settings, open_with_key
from shanyraq.errors import CommandUsageError, ShanyraqError
from shanyraq.shell_words import config_option, word

if TYPE_CHECKING:
    from serving.core.config import ServingSettings

app = typer.Typer(help="Service accounts.", no_args_is_help=True)


@app.callback()
def _users() -> None:
    """Service accounts."""


# A new password: asked twice, not echoed, unless given with --password-stdin or --password.
_PASSWORD = typer.Option(
    None,
    "--password",
    help="The new password (10 to 256 characters). Avoid it: other users of this machine "
    "can read it in the process list, and it stays in shell history. Without it or "
    "--password-stdin the password is asked for twice, not echoed.",
)
_PASSWORD_STDIN = typer.Option(
    False,
    "--password-stdin",
    help="Read the new password from standard input: its first line, without the line end "
    "(for scripts: `printf '%s\\n' \"$PW\" | shanyraq users ... --password-stdin`).",
)
ARGV_WARNING = (
    "warning: --password puts the password in the command line, where other users of this "
    "machine can read it (process list) and shell history keeps it; use the prompt or "
    "--password-stdin"
)


def _stdin_not_text() -> CommandUsageError:
    """Standard input that its encoding (the locale's, UTF-8 as a rule) cannot decode: Python
    raises, or keeps each such byte as a lone surrogate, which no password hash takes."""
    encoding = (getattr(sys.stdin, "encoding", None) or "UTF-8").upper()
    return CommandUsageError(
        f"--password-stdin: standard input is not {encoding} text; write the password on it "
        f"as one line of {encoding} (nothing was changed)"
    )


def new_password(given: str | None, *, from_stdin: bool) -> str:
    """The new password: from standard input, from --password (with a warning), or asked."""
    if from_stdin and given is not None:
        raise CommandUsageError("give --password or --password-stdin, not both")
    if from_stdin:
        from serving.users import not_text

        try:
            line = sys.stdin.readline()
        except UnicodeDecodeError:  # stdin decoded strictly
            raise _stdin_not_text() from None
        if not line:
            raise CommandUsageError(
                "--password-stdin: standard input is empty; write the password on it as one line"
            )
        if not_text(line):  # bytes it could not decode
            raise _stdin_not_text()
        return line.removesuffix("\n").removesuffix("\r")
    if given is not None:
        typer.echo(ARGV_WARNING, err=True)
        return given
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


def _account_exists(settings: ServingSettings, username: str) -> bool:
    """Whether the database holds an account `username` already, read without making or
    migrating anything. False where there is no database yet (a fresh install) or it cannot
    be read as it is: the command's own opening of it then says why, and create_user checks
    the name again."""
    from sqlalchemy import select
    from sqlalchemy.exc import DBAPIError

    from serving.cli import open_database
    from serving.db.models import User
    from serving.db.session import make_read_session_factory

    try:
        engine = open_database(settings, may_create=False, migrate=False)  # read-only
    except ShanyraqError:
        return False
    try:
        with make_read_session_factory(engine)() as session:
            taken = session.execute(select(User.id).where(User.username == username)).first()
    except DBAPIError:
        return False
    finally:
        engine.dispose()
    return taken is not None


@app.command("add")
def add_user(
    username: str = typer.Argument(..., help="Login name (lower case, digits, . _ -)."),
    role: str = typer.Option(..., help="inspector, annotator, commission or admin."),
    region: str | None = typer.Option(None, help="Region (required for all but admin)."),
    password: str | None = _PASSWORD,
    password_stdin: bool = _PASSWORD_STDIN,
    config: Path | None = CONFIG_OPTION,
) -> None:
    """Create an account. On a fresh install this makes the database and the signing key.

    The password is asked for (twice, not echoed) unless --password-stdin gives it."""
    from serving import audit
    from serving.db.session import session_scope
    from serving.errors import ConflictError
    from serving.users import PasswordWeakError, check_new_user, check_password, create_user

    settings = load_settings(config)
    # Everything but the password first, so the operator learns of a wrong name, role or
    # region, or a taken name, before typing the password twice. check_new_user checks the
    # password last: an empty one stands in for it here.
    with contextlib.suppress(PasswordWeakError):
        check_new_user(username=username, password="", role=role, region=region)
    if _account_exists(settings, username):
        raise ConflictError(f"the user {username!r} exists already")
    password = new_password(password, from_stdin=password_stdin)
    check_password(password)  # before open_with_key may make a database and key
    engine, key = open_with_key(settings, may_create=True, config=config)
    try:
        with session_scope(anchored_sessions(settings, engine, config)) as session:
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
    password: str | None = _PASSWORD,
    password_stdin: bool = _PASSWORD_STDIN,
    config: Path | None = CONFIG_OPTION,
) -> None:
    """Reset an account's password; every session it has is signed out.

    The password is asked for (twice, not echoed) unless --password-stdin gives it. The
    account's current password is accepted too: an operator's reset then only signs every
    session out (a user's own change on the pages refuses an unchanged password). A disabled
    account gets the password too, and stays disabled (the output says so): after a leak,
    reset it first and then `users enable` it, so it is never active with the old password.
    """
    from serving import audit
    from serving.db.session import make_read_session_factory, session_scope
    from serving.users import check_password, find_user, reset_password

    settings = load_settings(config)
    # The database, the key and the account first, so the operator learns of a wrong name
    # (or a missing database) before typing the password twice.
    engine, key = open_with_key(settings, may_create=False, config=config)
    try:
        with make_read_session_factory(engine)() as session:
            find_user(session, username)
        password = new_password(password, from_stdin=password_stdin)
        check_password(password)
        with session_scope(anchored_sessions(settings, engine, config)) as session:
            user = reset_password(session, username=username, password=password)
            audit.append(
                session, key, actor="cli", action="password_reset", target=f"user:{username}"
            )
    finally:
        engine.dispose()
    typer.echo(f"new password set for {user.username}; all its sessions are signed out")
    if not user.active:  # set all the same: reset first, then enable, is the safe order
        enable = f"shanyraq users enable {word(user.username)}{config_option(config)}"
        typer.echo(
            f"{user.username} is DISABLED: it cannot sign in, with this password or any "
            f"other, until `{enable}`"
        )


def _set_active(username: str, *, active: bool, config: Path | None) -> None:
    from serving import audit
    from serving.db.session import session_scope
    from serving.users import find_user, set_active

    settings = load_settings(config)
    engine, key = open_with_key(settings, may_create=False, config=config)
    try:
        with session_scope(anchored_sessions(settings, engine, config)) as session:
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
    engine = open_database(settings, may_create=False, migrate=False, config=config)  # read-only
    try:
        with make_read_session_factory(engine)() as session:
            users = list(session.scalars(select(User).order_by(User.username)))
    finally:
        engine.dispose()
    for user in users:
        state = "active" if user.active else "DISABLED"
        typer.echo(f"{user.username}\t{user.role}\t{user.region or 'all regions'}\t{state}")
    typer.echo(f"{len(users)} account(s)", err=True)
