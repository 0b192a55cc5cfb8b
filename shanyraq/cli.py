"""The `shanyraq` command: a thin layer that parses, calls library functions and prints.

Each folder contributes a command group or a command through `REGISTRY`; group modules stay
light at import (heavy libraries are imported inside commands) so `--help` is instant.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback

import typer

from shanyraq import __version__
from shanyraq.errors import FileAccessError, ShanyraqError

DEBUG_ENV = "SHANYRAQ_DEBUG"  # set to 1 to see the traceback behind an error line

# (kind, name, "module:attribute"): kind "group" adds a Typer app, "command" a function.
REGISTRY: list[tuple[str, str, str]] = [
    ("group", "data", "shanyraq.cli_data:app"),
    ("group", "synth", "training.synth.cli:app"),
    ("group", "welfare", "welfare.cli:app"),
    ("command", "train", "training.cli:train"),
    ("command", "evaluate", "training.cli:evaluate"),
    ("command", "export", "training.cli:export"),
    ("command", "score", "vision.cli:score"),
    ("command", "serve", "serving.cli:serve"),
    ("command", "demo", "serving.cli:demo"),
    ("group", "users", "serving.cli:users_app"),
    ("group", "audit", "serving.cli:audit_app"),
    ("group", "db", "serving.db_cli:app"),
    ("group", "rescore", "serving.rescore_cli:app"),
    ("group", "assessments", "serving.assessments_cli:app"),
    ("group", "annotate", "annotation.cli:app"),
]


def _load(target: str) -> object:
    module_name, attribute = target.split(":")
    return getattr(importlib.import_module(module_name), attribute)


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="shanyraq",
        help=(
            "Shanyraq scores photos of a family's home and fuses them with the family's record "
            "into an advisory welfare level and ASP recommendation. A commission decides. "
            f"Errors are one line; {DEBUG_ENV}=1 adds the traceback."
        ),
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )

    @app.callback(invoke_without_command=True)
    def _root(
        version: bool = typer.Option(False, "--version", help="Print the version and exit."),
    ) -> None:
        if version:
            typer.echo(__version__)
            raise typer.Exit()

    for kind, name, target in REGISTRY:
        obj = _load(target)
        if kind == "group":
            assert isinstance(obj, typer.Typer)
            app.add_typer(obj, name=name)
        else:
            assert callable(obj)
            app.command(name=name)(obj)
    return app


def _file_error(exc: OSError | UnicodeDecodeError) -> FileAccessError:
    """The one-line form of a file that could not be read or written, naming the path."""
    if isinstance(exc, UnicodeDecodeError):
        what = f"a file is not UTF-8 text ({exc.reason} at byte {exc.start})"
    else:
        where = " -> ".join(str(f) for f in (exc.filename, exc.filename2) if f is not None)
        reason = exc.strerror or str(exc) or type(exc).__name__
        what = f"{where}: {reason}" if where else reason
    return FileAccessError(
        f"{what}; check the path and its permissions ({DEBUG_ENV}=1 shows where it failed)"
    )


def main() -> None:
    """Entry point: domain errors become one clear line on stderr and exit code 2.

    A file that cannot be read or written (an OSError or UnicodeDecodeError no command turned
    into a domain error) is reported the same way, as `file_error`; any other exception is a
    bug and keeps its traceback. With SHANYRAQ_DEBUG=1 the traceback is printed too.
    """
    try:
        try:
            build_app()()
        except (OSError, UnicodeDecodeError) as exc:
            raise _file_error(exc) from exc
    except ShanyraqError as exc:
        if os.environ.get(DEBUG_ENV, "") not in ("", "0"):
            traceback.print_exc()
        print(f"error [{exc.code}]: {exc.message}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
