"""The Ray pipeline's report, review 21: its counts mean what `rescore`'s mean.

`rescore`'s report counts `scored` and `failed` as the run's own outcomes and its scope's apart
(`store_damaged` whichever run recorded it, `store_damaged_by_run`, `by_other_runs`,
`still_to_score`). The Ray pipeline's counted `scored` and `failed` over its whole scope, other
runs' outcomes included, recorded those counts as the run's own, and had no count of the
damage it found itself: a --since Ray run that wrote nothing reported the damage another run
recorded as its own failures.

The pipeline runs here on `FakeRay` (its stages in this process, as review 20's tests do).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from serving.db.models import RescoreRun
from serving.db.session import make_engine, make_session_factory
from serving.rescore import MISSING_FILE, rescore
from tests.serving.rescore_fixtures import DAY0, populate
from tests.serving.rescore_helpers import MAX_PIXELS
from tests.serving.rescore_ray_helpers import FakeRay, ray_outcomes, ray_pipeline
from tests.serving.rescore_store_helpers import lose_original, upload_on_old_model
from vision.bulk import open_scorer

# The code version the runs record, fixed (others may edit the checkout meanwhile).
pytestmark = pytest.mark.usefixtures("one_code_version")

SINCE = DAY0 + timedelta(days=2)  # a --since whose scope holds photos 2.. of `populate`


@pytest.fixture(scope="module")
def scorer(model: Path) -> Any:
    """The CPU scorer the pipeline's actors open (its engine settings: the runs do not mix)."""
    return open_scorer(model, prefer="cpu", max_pixels=MAX_PIXELS)


def _recorded(url: str, run_id: int) -> tuple[int, int]:
    """The (scored, failed) the run's record holds."""
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        run = session.get_one(RescoreRun, run_id)
        counts = run.scored, run.failed
    engine.dispose()
    return counts


def test_a_ray_since_run_reports_its_own_outcomes_apart_from_its_scopes(
    tmp_path: Path, model: Path, scorer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "photos"
    stored = populate(f"sqlite:///{tmp_path / 'db.sqlite'}", root, 6)
    earlier = stored.ids[4]
    lose_original(stored, earlier)
    engine = make_engine(stored.url)
    every = rescore(engine, stored.store, scorer, batch_size=2, progress=False)
    assert (every.scored, every.failed) == (5, 1)  # another run: 4 of its outcomes in scope
    late = upload_on_old_model(engine, stored, day=8, seed=7)
    late_lost = upload_on_old_model(engine, stored, day=9, seed=8)
    engine.dispose()
    lose_original(stored, late_lost)

    report = ray_pipeline(monkeypatch, FakeRay(), stored.url, root, model, since=SINCE)
    assert report.complete and report.in_scope == 6 and report.written_now == 2
    # Before: (4, 2), the scope's outcomes, another run's 3 scores and 1 failure among them.
    assert (report.scored, report.failed) == (1, 1)
    assert report.store_damaged == 2 and report.store_damaged_ids == [earlier, late_lost]
    assert report.store_damaged_by_run == 1 and report.by_other_runs == 4
    assert report.still_to_score == 0
    assert _recorded(stored.url, report.run_id) == (1, 1)  # the run's record: its own too
    outcomes = ray_outcomes(stored.url)
    assert outcomes[late] is None and outcomes[late_lost] == MISSING_FILE

    again = ray_pipeline(monkeypatch, FakeRay(), stored.url, root, model, since=SINCE)
    assert (again.run_id, again.written_now) == (report.run_id, 0)
    assert (again.scored, again.failed, again.store_damaged_by_run) == (1, 1, 1)  # all sessions
    assert (again.store_damaged, again.by_other_runs) == (2, 4)


def test_a_ray_run_that_wrote_nothing_counts_no_failure_of_its_own(
    tmp_path: Path, model: Path, scorer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "photos"
    stored = populate(f"sqlite:///{tmp_path / 'db.sqlite'}", root, 4)
    lose_original(stored, stored.ids[3])
    engine = make_engine(stored.url)
    assert rescore(engine, stored.store, scorer, progress=False).store_damaged == 1
    engine.dispose()

    report = ray_pipeline(monkeypatch, FakeRay(), stored.url, root, model, since=SINCE)
    assert report.complete and report.written_now == 0
    # Before: failed 1, the other run's damage, and scored 1, its score.
    assert (report.scored, report.failed, report.store_damaged_by_run) == (0, 0, 0)
    assert (report.store_damaged, report.store_damaged_ids) == (1, [stored.ids[3]])
    assert report.by_other_runs == 2 and report.still_to_score == 0
    assert _recorded(stored.url, report.run_id) == (0, 0)
