"""The `shanyraq` command: a thin layer that parses, calls library functions and prints.

Each folder contributes a command group or a command through `REGISTRY`; group modules stay
light at import (heavy libraries are imported inside commands) so `--help` is instant.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from typer.core import TyperGroup

from shanyraq import __version__
from shanyraq.errors import CommandUsageError, FileAccessError, Interrupted, ShanyraqError

try:  # typer 0.2x carries its own copy of click, whose exceptions the commands raise
    from typer._click import exceptions as click_errors
except ImportError:  # older typer runs on click itself
    from click import exceptions as click_errors  # type: ignore[no-redef]

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
    ("group", "users", "serving.users_cli:app"),
    ("group", "audit", "serving.audit_cli:app"),
    ("group", "store", "serving.store_sweep_cli:app"),
    ("group", "db", "serving.db_cli:app"),
    ("group", "rescore", "serving.rescore_cli:app"),
    ("group", "assessments", "serving.assessments_cli:app"),
    ("group", "annotate", "annotation.cli:app"),
]


def _load(target: str) -> object:
    module_name, attribute = target.split(":")
    return getattr(importlib.import_module(module_name), attribute)


_ARGS = "shanyraq.args"  # the root context's meta: the arguments as given


def _command(ctx: Any) -> str:
    """The command `ctx` (the root's) runs, as typed: `shanyraq synth photos`, its words
    followed through the groups of the arguments `parse_args` kept (click has consumed its
    own copy by the time a command runs)."""
    words, command = [ctx.command_path], ctx.command
    for arg in ctx.meta.get(_ARGS, []):
        sub = command.get_command(ctx, arg) if hasattr(command, "get_command") else None
        if sub is None:
            break
        words.append(arg)
        command = sub
    return " ".join(words)


def _usage_message(exc: Any, ctx: Any) -> str:
    """click's usage error as one line, with where to read the usage."""
    where = exc.ctx.command_path if exc.ctx is not None else _command(ctx)
    message = " ".join(exc.format_message().split()).rstrip(".")
    return f"{message}; see `{where} --help`"


@contextmanager
def _one_line(ctx: Any) -> Iterator[None]:
    """click's usage errors and Ctrl-C as the domain errors the root prints as one line."""
    try:
        yield
    except click_errors.NoArgsIsHelpError:
        raise  # `shanyraq data` alone prints the group's help, as asked
    except click_errors.UsageError as exc:
        raise CommandUsageError(_usage_message(exc, ctx)) from exc
    except KeyboardInterrupt:
        command = _command(ctx)
        raise Interrupted(
            f"`{command}` was interrupted (Ctrl-C) before it finished; "
            f"`{command} --help` says whether running it again resumes"
        ) from None


class _Root(TyperGroup):
    """The `shanyraq` group. A usage error (click's boxed panel) and Ctrl-C (typer's silent
    exit 130) end in one `error [code]: ...` line, as a domain error does in `main`, here
    where click would print them, so CliRunner sees the same line and exit code."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        ctx.meta[_ARGS] = list(args)
        with _one_line(ctx):
            return super().parse_args(ctx, args)

    def invoke(self, ctx: Any) -> Any:
        with _one_line(ctx):
            return super().invoke(ctx)

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            return super().main(
                args, prog_name, complete_var, standalone_mode, windows_expand_args, **extra
            )
        except (CommandUsageError, Interrupted) as exc:
            if not standalone_mode:
                raise
            _report(exc)


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="shanyraq",
        cls=_Root,
        # Plain click help: the rich panels show every flag as taking a value (`--json
        # <bool>`, typer 0.29) and keep the docstrings' line breaks, so paragraphs broke
        # mid-sentence. Passed down to every group and command.
        rich_markup_mode=None,
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
    """Entry point: domain errors become one clear line on stderr and exit code 2 (usage
    errors and Ctrl-C too, through `_Root`).

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
        _report(exc)


def _report(exc: ShanyraqError) -> NoReturn:
    """`error [code]: message` on stderr (after the traceback with SHANYRAQ_DEBUG=1), then
    exit 2, or the error's own exit code (130 for an interrupt)."""
    if os.environ.get(DEBUG_ENV, "") not in ("", "0"):
        traceback.print_exc()
    print(f"error [{exc.code}]: {exc.message}", file=sys.stderr)
    raise SystemExit(getattr(exc, "exit_code", 2)) from None


if __name__ == "__main__":
    main()
