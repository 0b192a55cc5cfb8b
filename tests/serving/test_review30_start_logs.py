"""Review 30: each start of `shanyraq serve` logged Alembic's two context lines ("Context impl
SQLiteImpl.", "Will assume non-transactional DDL.") twice at INFO, once for the database check
and once for the app's start-up, whether or not anything was migrated; and migration 0011 logged
under the name Alembic loads it by (`0011_reuse_links_same_bytes_py`), outside the service's
loggers. Now the context lines are debug records, a migration run's lines ("Running upgrade
...") stay INFO and appear once each, and 0011 logs as `serving.migrations`.

The commands a person runs at a terminal (`welfare ...`, `train ...`) wrote their log lines bare,
a warning (a size skipped, a data leak suspected) no different from a progress line; now each
line starts with its level ("WARNING: ", as the commands' own warnings, "INFO: ")."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory

from serving.migrations import alembic_config, upgrade
from tests.serving.helpers import ROOT
from tests.serving.subprocess_runs import EXIT_BOUND_S, ended, log_lines, run_script, start_serve

ALEMBIC = "alembic.runtime.migration"
CONTEXT_LINES = ("Context impl ", "Will assume ")


def _start_and_stop(tmp_path: Path, **settings: Any) -> str:
    """The log (stderr) of `shanyraq serve` started until it answers, then stopped."""
    process, _ = start_serve(tmp_path, shutdown_requests_s=1, **settings)
    process.send_signal(signal.SIGTERM)
    return ended(process, bound_s=EXIT_BOUND_S, what="serve, sent SIGTERM,")[1]


def _migrations() -> list[str]:
    """This code's revisions, first to last."""
    scripts = ScriptDirectory.from_config(alembic_config(""))
    return [script.revision for script in reversed(list(scripts.walk_revisions()))]


@pytest.mark.slow  # `serve` starts in a process of its own
def test_a_first_start_logs_each_migration_once_under_the_services_loggers(tmp_path):
    log = _start_and_stop(tmp_path)
    for message in CONTEXT_LINES:  # before: each twice, at INFO
        assert message not in log, log
    ran = log_lines(log, name=ALEMBIC, message="Running upgrade ")
    revisions = _migrations()
    # Alembic's words: "Running upgrade  -> 0001, <its docstring>", "... 0001 -> 0002, ...".
    expected = [
        f"Running upgrade {before} -> {after}"
        for before, after in zip(["", *revisions], revisions, strict=False)
    ]
    assert [line["message"].split(",")[0] for line in ran] == expected, log
    assert {line["level"] for line in ran} == {"INFO"}, log
    # Migration 0011's own line, under the service's migration logger.
    added = "reuse links added for photos of bytes another family filed before: "
    found = log_lines(log, name="serving.migrations", message=added)
    assert [line["level"] for line in found] == ["INFO"], log
    assert "0011_reuse_links_same_bytes_py" not in log, log  # before: its logger's name


@pytest.mark.slow
def test_a_restart_after_an_upgrade_logs_the_one_migration_run_once(tmp_path):
    # A database at the migration before the last one, as an older version left it.
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o700)
    before, last = _migrations()[-2:]
    upgrade(f"sqlite:///{data_dir / 'shanyraq.db'}", before)
    log = _start_and_stop(tmp_path)
    ran = log_lines(log, name=ALEMBIC, message="Running upgrade ")
    assert [line["message"].split(",")[0] for line in ran] == [
        f"Running upgrade {before} -> {last}"
    ], log
    assert not any(message in log for message in CONTEXT_LINES), log


@pytest.mark.slow
def test_at_log_level_debug_the_alembic_context_lines_are_debug_lines(tmp_path):
    log = _start_and_stop(tmp_path, log_level="debug")
    for message in CONTEXT_LINES:
        found = log_lines(log, name=ALEMBIC, message=message)
        assert found and {line["level"] for line in found} == {"DEBUG"}, log  # before: INFO
    ran = log_lines(log, name=ALEMBIC, message="Running upgrade ")
    assert ran and {line["level"] for line in ran} == {"INFO"}, log


@pytest.mark.slow  # trains small models, in a process of its own
def test_a_welfare_command_marks_its_warnings_and_its_progress_lines(tmp_path):
    # 100000 training families do not fit in 600: skipped, with a warning, for each reading.
    done = subprocess.run(
        [sys.executable, "-m", "shanyraq.cli", "welfare", "ceiling", "--n", "600",
         "--size", "300", "--size", "100000", "--out", str(tmp_path)],
        cwd=ROOT, env={**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}, text=True,
        capture_output=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    skipped = [line for line in lines if "skipping 100000 training families" in line]
    assert len(skipped) == 2 and all(line.startswith("WARNING: ") for line in skipped), lines
    assert any(line.startswith("INFO: training ") for line in lines), lines  # a model fitted


def test_the_training_commands_mark_their_warnings_and_their_progress_lines():
    script = (
        "import logging; from training.cli import _setup_logging; _setup_logging(verbose=True); "
        "log = logging.getLogger('training.train'); log.info('epoch 1'); log.warning('leak')"
    )
    done = run_script(script, bound_s=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == ["INFO: epoch 1", "WARNING: leak"]


def test_each_migration_runs_under_a_one_line_title():
    """Alembic writes "Running upgrade A -> B, <the revision's doc>", the doc being the first
    paragraph of its docstring: 0006's and 0009's ran over two or three lines, so one log
    record took several lines of the service's log."""
    from alembic.script import ScriptDirectory

    from serving.migrations import alembic_config

    scripts = ScriptDirectory.from_config(alembic_config(""))
    docs = {rev.revision: rev.doc for rev in scripts.walk_revisions()}
    assert len(docs) >= 14
    assert {name: doc for name, doc in docs.items() if "\n" in doc or not doc.strip()} == {}
