"""Re-scoring, review 27: the report of a finished --since run called again. Reopened for a photo
uploaded since, it said "resumed from an earlier session" (nothing was resumed: the run had
finished) and gave no count of what this call scored besides the run's totals; with nothing
left to score it said so too. Its audit entry recorded only the run's totals, so each call of a
reopened run read as if it had scored the whole run again. The report and the entry now tell
this call's counts from the run's and say that the run was reopened or had nothing left."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from serving.db.session import make_engine
from serving.rescore import rescore
from serving.rescore_report import report_lines
from serving.storage import PhotoStore
from shanyraq.cli import build_app
from tests.serving.rescore_fixtures import cli_config, populate, rescored_entries, tiny_model
from tests.serving.rescore_helpers import late_upload, new_code
from vision.bulk import open_scorer

SINCE = datetime(2026, 1, 2, tzinfo=UTC)  # photos 1.. of `populate`


def test_a_reopened_since_run_reports_what_this_call_scored(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    new_code(monkeypatch, "0.1.0+aaaaaaaaaaaa")
    model = tiny_model(tmp_path / "models")
    photos = populate(database_url, tmp_path / "photos", 4)
    engine = make_engine(database_url)
    scorer = open_scorer(model, prefer="cpu", max_pixels=50_000_000, decode_short_side=1024)
    first = rescore(engine, photos.store, scorer, since=SINCE, progress=False)
    assert first.complete and first.scored == 3 and not first.was_finished
    late_upload(database_url, photos.store, day=10, seed=1)

    reopened = rescore(engine, photos.store, scorer, since=SINCE, progress=False)
    assert reopened.complete and reopened.was_finished and reopened.reopened
    assert (reopened.scored, reopened.this_session, reopened.scored_now) == (4, 1, 1)
    lines = "\n".join(report_lines(reopened))
    assert "scored: 4; without a score (reason recorded): 0 (by this run, all its sessions)" in (
        lines
    )
    assert "this session: 1 photo(s), 1 scored and 0 without a score" in lines
    assert "the run had finished in an earlier session and was reopened" in lines
    assert "resumed" not in lines

    idle = rescore(engine, photos.store, scorer, since=SINCE, progress=False)
    engine.dispose()
    assert idle.complete and idle.was_finished and not idle.reopened
    lines = "\n".join(report_lines(idle))
    assert "this session: 0 photo(s), 0 scored and 0 without a score" in lines
    assert "the run had finished in an earlier session: nothing was left to score" in lines
    assert "resumed" not in lines


def test_an_unfinished_run_taken_up_again_still_reads_as_resumed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    new_code(monkeypatch, "0.1.0+aaaaaaaaaaaa")
    model = tiny_model(tmp_path / "models")
    photos = populate(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "photos", 3)
    engine = make_engine(photos.url)
    scorer = open_scorer(model, prefer="cpu", max_pixels=50_000_000, decode_short_side=1024)

    def stop(_done: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        rescore(engine, photos.store, scorer, batch_size=1, progress=False, on_batch=stop)
    resumed = rescore(engine, photos.store, scorer, batch_size=1, progress=False)
    engine.dispose()
    assert resumed.complete and resumed.resumed and not resumed.was_finished
    assert (resumed.scored, resumed.scored_now) == (3, 2)
    lines = "\n".join(report_lines(resumed))
    assert "this session: 2 photo(s), 2 scored and 0 without a score" in lines
    assert ", resumed from an earlier session" in lines


def test_the_audit_entry_of_a_reopened_since_run_records_this_calls_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    new_code(monkeypatch, "0.1.0+aaaaaaaaaaaa")
    model = tiny_model(tmp_path / "models")
    config = cli_config(tmp_path, 4, model_dir=model)
    data = tmp_path / "data"
    url = f"sqlite:///{data / 'shanyraq.db'}"
    command = ["rescore", "--model", str(model), "--config", str(config), "--device", "cpu",
               "--no-progress", "--since", SINCE.date().isoformat()]  # fmt: skip
    assert CliRunner().invoke(build_app(), command).exit_code == 0
    late_upload(url, PhotoStore(data / "photos"), day=10, seed=1)
    again = CliRunner().invoke(build_app(), command)
    assert again.exit_code == 0, again.output
    assert "this session: 1 photo(s), 1 scored and 0 without a score" in again.output

    first, second = rescored_entries(url)
    assert (first["scored"], first["scored_now"], first["reopened"]) == (3, 3, False)
    assert (second["scored"], second["scored_now"], second["reopened"]) == (4, 1, True)
    assert second["failed_now"] == 0 and second["retried_failed"] == 0
