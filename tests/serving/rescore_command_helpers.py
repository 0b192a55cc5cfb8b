"""Helpers of the rescore command tests: the commands a message names, run as a user would,
the discards and retries they lead to, and the promotion entries a database holds."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from serving.db.session import make_engine, make_session_factory
from tests.serving.cli_helpers import run_cli
from tests.serving.rescore_fixtures import promotion_entries

NAMED = re.compile(r"`(shanyraq rescore[^`]*)`")


def follow_command(message: str, model: Path, config: Path) -> tuple[str, Any]:
    """The first command `message` names, run as a user would (DIR: the model folder; on the
    CPU, without a progress bar); (the command, its result)."""
    named = NAMED.search(message)
    assert named is not None, message
    command = named[1].replace("DIR", str(model))
    args = [*command.split()[1:], "--config", str(config)]
    if args[1] not in ("promote", "discard"):
        args += ["--device", "cpu", "--no-progress"]
    elif args[1] == "promote":
        args += ["--no-progress"]
    return command, run_cli(*args)


def promotion_entries_at(url: str) -> list[tuple[str, dict[str, Any]]]:
    engine = make_engine(url)
    try:
        return promotion_entries(make_session_factory(engine))
    finally:
        engine.dispose()


def run_discard_named(said: str, model: Path, config: Path) -> tuple[int, int]:
    """The discard `said` names, run: (scores, recorded failures) it deleted."""
    command, discarded = follow_command(
        said[said.index("`shanyraq rescore discard") :], model, config
    )
    assert "discard" in command and discarded.exit_code == 0, discarded.output
    deleted = discarded.output.split("deleted ", 1)[1].split(" recorded failure(s)")[0]
    scores, failures = deleted.split(" score(s) and ")
    return int(scores), int(failures)


def retry_run_named_scores_one(said: str, since: str, model: Path, config: Path) -> None:
    """`said` names the new run from `since` with --retry-failed, for the photos no run has
    scored and those recorded without a score; followed, it scores the one photo left."""
    new_run = f"`shanyraq rescore --model DIR --since {since} --retry-failed --config {config}`"
    assert f"only the photos no run has scored, and those recorded without a score: {new_run}" in (
        said
    )
    command, scored = follow_command(said[said.index(new_run) :], model, config)
    assert "--retry-failed" in command.split() and scored.exit_code == 0, scored.output
    assert "scored: 1" in scored.output, scored.output
