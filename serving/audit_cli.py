"""CLI of the audit trail: `shanyraq audit verify` (serving.audit says what it detects).

Thin and read-only: it opens the database and key by the rules serving/cli.py states, makes
nothing, walks the chain and prints its problems.
"""

from __future__ import annotations

from pathlib import Path

import typer

from serving.cli import CONFIG_OPTION, command_key, load_settings, open_database

app = typer.Typer(help="The append-only audit trail.", no_args_is_help=True)


@app.callback()
def _audit() -> None:
    """The append-only audit trail."""


@app.command("verify")
def verify_audit(config: Path | None = CONFIG_OPTION) -> None:
    """Check the whole chain; exit 1 and list problems if any entry was edited or deleted.

    A missing or empty anchor file (as after a restore) is no problem, but is said in a
    note: the checks only the anchor makes did not run.

    Read-only: a missing database, a database not at the last migration or a missing
    signing key is refused; nothing is created.
    """
    from serving.db.session import make_read_session_factory
    from serving.decision_check import verify_with_decisions

    settings = load_settings(config)
    anchor = settings.resolved_audit_anchor_file
    engine = open_database(settings, may_create=False, migrate=False, config=config)
    try:
        key = command_key(settings, engine, may_create=False)
        with make_read_session_factory(engine)() as session:
            result = verify_with_decisions(session, key, anchor=anchor)
    finally:
        engine.dispose()
    notes = [f"note: {note} (anchor file: {anchor})" for note in result.notes]
    if result.ok:
        typer.echo(f"audit log intact: {result.entries} entries")
        for note in notes:
            typer.echo(note)
        return
    typer.echo(f"audit log BROKEN ({len(result.problems)} problem(s)):", err=True)
    for problem in result.problems:
        typer.echo(f"  {problem}", err=True)
    for note in notes:
        typer.echo(note, err=True)
    raise typer.Exit(1)
