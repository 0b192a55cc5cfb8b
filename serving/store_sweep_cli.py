"""CLI of the photo store: `shanyraq store sweep` (serving/store_sweep.py says what it removes
and why that is safe while the service runs), and the lines it prints.

Thin: parse, call `store_sweep.sweep`, print. Heavy imports happen inside the command, so
`--help` is instant.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from serving.store_sweep import AUDIT_ACTION, SweepReport, check_grace, sweep
from shanyraq.errors import FileAccessError


def report_lines(report: SweepReport, *, now_ns: int | None = None) -> list[str]:
    """One line per orphan, then the summary: how many and how many bytes."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    lines = []
    if report.restored:
        done = "put back" if report.applied else "--apply will first put back"  # listed below
        lines.append(f"{done} {report.restored} photo file(s) an interrupted sweep left aside")
    for orphan in report.orphans:
        parts = " + ".join(
            name for name, there in (("original", orphan.original), ("browser copy", orphan.served))
            if there
        )  # fmt: skip
        lines.append(
            f"  {orphan.sha256}  {orphan.size_bytes} bytes  "
            f"{orphan.age_hours(now_ns):.0f} h old  ({parts})"
        )
    lines.append(
        f"photo files no photo row names, older than {report.grace_hours:g} h: "
        f"{len(report.orphans)} ({sum(o.size_bytes for o in report.orphans)} bytes)"
    )
    lines += [f"  cannot be read or removed: {line}" for line in report.unreadable]
    if not report.applied:
        lines.append("dry run: nothing was removed; run with --apply to remove them")
        return lines
    lines.append(
        f"removed {len(report.removed)} ({sum(o.size_bytes for o in report.removed)} bytes), "
        f"each audited as {AUDIT_ACTION}"
    )
    if report.kept:
        lines.append(
            f"kept {len(report.kept)}: stored again by an upload, or moved by another process, "
            "during the sweep"
        )
    return lines


def sweep_command(
    apply: Annotated[
        bool, typer.Option("--apply", help="Remove them (each audited); default: list only.")
    ] = False,
    older_than: Annotated[
        float | None,
        typer.Option(
            "--older-than",
            metavar="HOURS",
            help="Grace: leave files younger than this (default: store_sweep_grace_hours).",
        ),
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="serving.yaml to use (default: configs/).")
    ] = None,
) -> None:
    """List photo files that no photo row names (uploads whose row never committed), older
    than the grace; with --apply remove them and their browser copies, each audited.

    Safe while the service runs: a file an upload stores again during the sweep is kept
    (serving/store_sweep.py says why). Like the other commands it needs the service's
    settings, refuses a missing database or signing key and a database behind this version
    (`shanyraq db upgrade`), and makes nothing; the dry run only reads. --apply refuses a
    database that names no photo at all: it is not this store's.
    """
    from serving.cli import (
        anchored_sessions,
        command_key,
        load_settings,
        open_database,
        open_with_key,
    )
    from serving.db.session import make_read_session_factory
    from serving.storage import PhotoStore

    if older_than is not None:
        check_grace(older_than)  # refused before anything is read
    settings = load_settings(config)
    grace_hours = settings.store_sweep_grace_hours if older_than is None else older_than
    store = PhotoStore(settings.store_dir)
    if apply:
        engine, key = open_with_key(settings, may_create=False, migrate=False, config=config)
        try:
            report = sweep(
                store, anchored_sessions(settings, engine, config), grace_hours=grace_hours, key=key
            )
        finally:
            engine.dispose()
    else:
        engine = open_database(settings, may_create=False, migrate=False, config=config)
        try:
            command_key(settings, engine, may_create=False)  # --apply would refuse a missing key
            report = sweep(store, make_read_session_factory(engine), grace_hours=grace_hours)
        finally:
            engine.dispose()
    for line in report_lines(report):
        typer.echo(line)
    if report.unreadable:
        raise FileAccessError(
            f"{len(report.unreadable)} photo store file(s) or folder(s) could not be read or "
            "removed (listed above): make them readable (permissions, disk), then sweep again"
        )


app = typer.Typer(help="The photo store.", no_args_is_help=True)


@app.callback()
def _store() -> None:
    """The photo store."""


app.command("sweep")(sweep_command)
