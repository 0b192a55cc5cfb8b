"""The re-scoring report, review 21: it tells this run's counts from its scope's.

`failed` (and `scored`) count the run's own outcomes, while `store_damaged` counts the damage in
the run's scope whichever run of the version recorded it: a `--since` run printed "without a
score (reason recorded): 0" beside "complete but for 2 photo(s) the store could not give", and
its unfinished message called every photo it had not scored itself "still to score", those
another run had covered included. The report now says how much of the damage this run found,
how much another run recorded (and this one checked again), how many photos in scope another
run covered, and how many are really still to score.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import serving.rescore
from serving.db.session import make_engine
from serving.rescore import rescore
from serving.rescore_cli import RescoreUnfinishedError
from serving.rescore_report import report_lines
from tests.serving.cli_helpers import error_code
from tests.serving.rescore_fixtures import DAY0, StoredPhotos, populate, rescored_entries
from tests.serving.rescore_store_helpers import (
    lose_original,
    rescore_stored,
    stored_service,
    upload_on_old_model,
)

# The code version the runs record, fixed (others may edit the checkout meanwhile); the CPU
# scorer of that model is the registered `scorer` of tests/serving/rescore_store_helpers.py.
pytestmark = pytest.mark.usefixtures("one_code_version")

SINCE = DAY0 + timedelta(days=2)  # a --since whose scope holds photos 2.. of `populate`


def _late_and_lost(stored: StoredPhotos) -> int:
    """A photo uploaded on day 8 (after a run of every photo), its original lost: a --since run
    finds that damage itself. Its id."""
    engine = make_engine(stored.url)
    late = upload_on_old_model(engine, stored, day=8, seed=7)
    engine.dispose()
    lose_original(stored, late)
    return late


def test_a_since_run_reports_the_damage_it_found_apart_from_another_runs(
    tmp_path: Path, scorer: Any
) -> None:
    stored = populate(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "photos", 6)
    earlier = stored.ids[4]
    lose_original(stored, earlier)
    engine = make_engine(stored.url)
    every = rescore(engine, stored.store, scorer, batch_size=2, progress=False)
    assert every.store_damaged == every.store_damaged_by_run == every.failed == 1
    late = _late_and_lost(stored)

    since = rescore(engine, stored.store, scorer, since=SINCE, progress=False)
    engine.dispose()
    assert since.complete and since.this_session == 1 and since.in_scope == 5
    assert (since.scored, since.failed) == (0, 1)  # its own: the late photo
    assert since.store_damaged == 2 and since.store_damaged_ids == [earlier, late]
    assert since.store_damaged_by_run == 1  # before: no such count, only the scope's 2
    assert since.by_other_runs == 4 and since.still_to_score == 0

    lines = "\n".join(report_lines(since))
    assert "without a score (reason recorded): 1 (by this run, all its sessions)" in lines
    assert "with an outcome from another run under test-0: 4" in lines
    assert (
        "store damage in scope: 2 photo(s) the store could not give; 1 found by this run, "
        "1 recorded by another run under test-0 and checked again by this one"
    ) in lines


def test_the_since_command_prints_and_audits_both_counts(tmp_path: Path, model: Path) -> None:
    config, stored = stored_service(tmp_path, 6)
    earlier = stored.ids[4]
    lose_original(stored, earlier)
    assert error_code(rescore_stored(model, config)) == "photo_store_damaged"
    late = _late_and_lost(stored)

    since = rescore_stored(model, config, "--since", SINCE.date().isoformat())
    assert error_code(since) == "photo_store_damaged", since.output
    assert "complete but for 2 photo(s) the store could not give" in since.output
    assert "1 found by this run, 1 recorded by another run under test-0" in since.output
    message = str(since.exception)
    assert f"(photos {earlier}, {late}); 1 of them recorded by another run under test-0" in message
    assert "checked again by this one, 1 found by this run" in message

    details = rescored_entries(stored.url)[-1]
    assert (details["failed"], details["store_damaged"]) == (1, 2)  # as before
    assert (details["store_damaged_by_run"], details["by_other_runs"]) == (1, 4)


def _walks_nothing(*_args: Any, **_kwargs: Any) -> Iterator[Any]:
    """A walk that finds no page (as when photos were committed behind the cursor)."""
    return iter(())


def test_an_unfinished_since_run_counts_what_is_really_left_to_score(
    tmp_path: Path, scorer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored = populate(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "photos", 6)
    engine = make_engine(stored.url)
    assert rescore(engine, stored.store, scorer, batch_size=2, progress=False).complete
    upload_on_old_model(engine, stored, day=8, seed=7)

    with monkeypatch.context() as patched:
        patched.setattr(serving.rescore, "pages", _walks_nothing)
        stopped = rescore(engine, stored.store, scorer, since=SINCE, progress=False)
    assert not stopped.complete and (stopped.scored, stopped.failed) == (0, 0)
    assert stopped.in_scope == 5 and stopped.by_other_runs == 4 and stopped.still_to_score == 1

    message = str(RescoreUnfinishedError.of(stopped, "shanyraq rescore --since X"))
    # Before: "the others are still to score", the 4 another run scored among them.
    assert "the others are still to score" not in message
    assert "0 a recorded reason from this run, 4 an outcome from another run" in message
    assert "; 1 photo(s) are still to score" in message
    state = report_lines(stopped)[0]
    assert state.endswith("INCOMPLETE (run the command again to resume): 1 photo(s) in scope "
                          "still to score")  # fmt: skip

    resumed = rescore(engine, stored.store, scorer, since=SINCE, progress=False)
    engine.dispose()
    assert resumed.complete and resumed.scored == 1 and resumed.still_to_score == 0
