"""The reason `shanyraq rescore` records for a stored photo over the stored-photo limit tells
the retry and the discard of the run that recorded it: its --model folder, its --since and
the command's --config, each one word of the command as a shell reads it. Run as told, the
discard deletes that run on the site's database, and no other.

Before, it told `shanyraq rescore discard --config CFG`, which the CLI refuses (no --model),
and which, with a --model added, named the run of every photo, not a run given --since. The
site's folder and the model's have a space and a quote in their names; the default configs
point at a data folder of their own, which no told command may make.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from serving.db.models import RescoredScore, RescoreRun
from serving.db.session import make_engine, make_session_factory
from tests.serving.cli_helpers import run_cli
from tests.serving.rescore_fixtures import cli_config
from tests.serving.told_command_helpers import default_data_apart, parsed, told

BELOW = 5_000  # a limit the 96 x 72 photos the re-scoring fixtures file are over
DAY = "2026-01-02"  # the second photo's day: the run given it holds the second and third


@pytest.fixture
def default_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The default configs' data folder (not made): where a command told without --config
    would work."""
    yield from default_data_apart(tmp_path, monkeypatch)


def _rescore(model: Path, config: Path, *since: str) -> None:
    done = run_cli("rescore", "--model", model, *since, "--device", "cpu", "--no-progress",
                   "--config", config)  # fmt: skip
    assert done.exit_code == 0, done.output


def _runs_and_reasons(url: str) -> tuple[dict[int, str], dict[int, tuple[int, str | None]]]:
    """Each run's key by its id, and each outcome's (run, recorded reason) by its photo."""
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            runs = session.execute(select(RescoreRun.id, RescoreRun.since_key)).all()
            outcomes = session.execute(
                select(RescoredScore.photo_id, RescoredScore.run_id, RescoredScore.error)
            ).all()
    finally:
        engine.dispose()
    return dict(runs), {photo: (run, why) for photo, run, why in outcomes}


@pytest.mark.usefixtures("one_code_version")
def test_the_told_discard_of_a_photo_over_the_limit_deletes_the_run_that_recorded_it(
    tmp_path: Path, default_data: Path, model: Path, limits: Callable[[int], None]
) -> None:
    copy = shutil.copytree(model, tmp_path / "models o'neil" / "model")
    site = tmp_path / "site o'neil"
    site.mkdir()
    config = cli_config(site, 3, model_dir=copy)  # photos of 2026-01-01, -02 and -03
    url = f"sqlite:///{site / 'data' / 'shanyraq.db'}"
    limits(BELOW)
    _rescore(copy, config, "--since", DAY)  # records the second and third photos
    _rescore(copy, config)  # the run of every photo: records the first, the rest were
    runs, outcomes = _runs_and_reasons(url)
    (since_run,) = [run for run, key in runs.items() if key.startswith(DAY)]
    (every_run,) = [run for run, key in runs.items() if key == ""]
    recorded_by = {photo: run for photo, (run, _) in outcomes.items()}
    assert recorded_by == {1: every_run, 2: since_run, 3: since_run}

    why = str(outcomes[2][1])
    retry, discard = told(why, "rescore")
    run = ["--model", str(copy), "--since", DAY]
    assert discard == ["discard", *run, "--config", str(config)], why
    assert retry == [*run, "--retry-failed", "--config", str(config)], why
    given = parsed(retry, "rescore")  # as the CLI parses it: the same run, retried
    named = [given[name] for name in ("model", "since", "retry_failed", "config")]
    assert named == [copy, DAY, True, config], why
    every = str(outcomes[1][1])
    assert told(every, "rescore")[1] == ["discard", "--model", str(copy), "--config", str(config)]

    discarded = run_cli("rescore", *discard)
    assert discarded.exit_code == 0, discarded.output
    runs, outcomes = _runs_and_reasons(url)
    assert list(runs) == [every_run], discarded.output  # the every-photo run kept
    assert {photo: run for photo, (run, _) in outcomes.items()} == {1: every_run}
    assert not default_data.exists()
