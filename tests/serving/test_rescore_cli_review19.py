"""`shanyraq rescore` (review 19): its own options given before a subcommand are refused, not
dropped (a discard of another run than the one named, or in another database); a holder of
the re-scoring lock never removes the lock file of the command after it; a --since with no such
day says so."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from serving.db.models import RescoreRun
from serving.db.session import make_engine, make_session_factory, session_scope
from serving.rescore_lock import lock_path, rescore_lock
from serving.rescore_runs import RescoreBusyError
from tests.serving.cli_helpers import run_cli
from tests.serving.rescore_fixtures import cli_config

SINCE_KEY = "2026-01-02T00:00:00+00:00"


def _two_runs(tmp_path: Path) -> tuple[Path, str]:
    """A service with two finished runs under the tiny model's version: of every photo, and of
    --since 2026-01-02."""
    config = cli_config(tmp_path, 3)
    url = f"sqlite:///{tmp_path / 'data' / 'shanyraq.db'}"
    engine = make_engine(url)
    with session_scope(make_session_factory(engine)) as session:
        for key in ("", SINCE_KEY):
            session.add(RescoreRun(model_version="test-0", since_key=key, status="done"))
    engine.dispose()
    return config, url


def _keys(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            return set(session.execute(select(RescoreRun.since_key)).scalars())
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "before",
    [["--since", "2026-01-02"], ["--no-progress"], ["--restart"]],
    ids=["since", "progress", "restart"],
)
def test_an_option_of_rescore_before_discard_is_refused_and_nothing_is_discarded(
    tmp_path: Path, model: Path, before: list[str]
) -> None:
    config, url = _two_runs(tmp_path)
    result = run_cli("rescore", *before, "discard", "--model", model, "--config", config)
    assert result.exit_code == 2 and "error [usage_error]" in result.output, result.output
    assert before[0] in result.output and "`shanyraq rescore discard`" in result.output
    assert _keys(url) == {"", SINCE_KEY}  # the run of every photo was discarded before

    # Given after the subcommand's name, --since names its run, and only that one goes.
    done = run_cli("rescore", "discard", "--model", model, "--since", "2026-01-02",
                   "--config", config)  # fmt: skip
    assert done.exit_code == 0, done.output
    assert _keys(url) == {""}


def test_config_before_discard_is_refused_not_the_default_database(
    tmp_path: Path, model: Path
) -> None:
    config, url = _two_runs(tmp_path)
    result = run_cli("rescore", "--config", config, "discard", "--model", model)
    assert result.exit_code == 2 and "error [usage_error]: --config" in result.output
    assert _keys(url) == {"", SINCE_KEY}


def test_a_holder_leaves_the_lock_file_of_the_command_after_it(tmp_path: Path) -> None:
    """The file was deleted while its holder ran (taken for a stale lock) and a second command
    made and locked a new one: the first, ending, must not remove the second's, or a third
    runs beside the second."""
    path = lock_path(tmp_path, "v1")
    first = rescore_lock(tmp_path, "v1", command="rescore")
    first.__enter__()
    path.unlink()
    second = rescore_lock(tmp_path, "v1", command="rescore promote")
    second.__enter__()
    first.__exit__(None, None, None)
    assert path.exists()
    with pytest.raises(RescoreBusyError, match="rescore promote"), rescore_lock(tmp_path, "v1"):
        pass
    second.__exit__(None, None, None)
    assert not path.exists()
    with rescore_lock(tmp_path, "v1"):  # free again
        pass


def test_a_since_that_is_no_day_says_so(tmp_path: Path, model: Path) -> None:
    config, _ = _two_runs(tmp_path)
    result = run_cli("rescore", "discard", "--model", model, "--since", "2026-02-30",
                     "--config", config)  # fmt: skip
    assert result.exit_code == 2 and "error [usage_error]" in result.output, result.output
    assert "no day '2026-02-30'" in result.output and "write it as" not in result.output


def test_one_moment_is_one_run_key_however_it_is_written():
    # Before: +06:00 and UTC spellings of one moment were two runs, and a Ray run given a time
    # without a zone had a key that `rescore discard --ray --since` (UTC) never named.
    from datetime import UTC, datetime, timedelta, timezone

    from serving.rescore_runs import since_key_of

    utc = datetime(2026, 1, 2, tzinfo=UTC)
    almaty = datetime(2026, 1, 2, 6, tzinfo=timezone(timedelta(hours=6)))
    assert since_key_of(almaty) == since_key_of(utc) == SINCE_KEY
    assert since_key_of(datetime(2026, 1, 2), ray=True) == since_key_of(utc, ray=True)
    assert since_key_of(None) == "" and since_key_of(utc) != since_key_of(utc, ray=True)
