"""A promotion's audit entries, stopped and finished, say what it adopted alike.

Both entries carry the runs the promotion adopted outcomes of (`run_ids`), how many photos
each gave (`updated_by_run`), the photos adopted (`updated`) and the runs checked
(`runs_checked`), built the same way for either (serving/rescore_adopted.py reads them alike).
A promotion that stops on a page's later run audits the photos the earlier runs gave.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import serving.promote as promotion
from tests.serving.rescore_fixtures import (
    PROMOTED,
    STOPPED,
    promote_by_cli,
    promotion_entries,
    stop_after_first_batch,
)

SHARED = {"run_ids", "runs_checked", "updated_by_run", "updated"}


def _adopted(details: dict[str, Any]) -> tuple[list[int], dict[str, int], int, list[int]]:
    return (details["run_ids"], details["updated_by_run"], details["updated"],
            details["runs_checked"])  # fmt: skip


def test_a_stopped_and_a_finished_entry_name_what_each_adopted_alike(
    two_runs: Any, models: tuple[Path, Path]
) -> None:
    """Stopped after its first page (photos 1-5: four of run 1, one of run 2), then finished
    by a re-run (photo 6, run 2's): each entry names the runs that gave it photos, with how
    many, in the same shape."""
    _, new = models
    with pytest.raises(KeyboardInterrupt):
        promote_by_cli(two_runs.services, new, batch_size=5, on_batch=stop_after_first_batch)
    finished = promote_by_cli(two_runs.services, new, batch_size=5)

    [(first, stopped), (second, done)] = promotion_entries(two_runs.services.sessions)
    assert (first, second) == (STOPPED, PROMOTED)
    assert _adopted(stopped) == ([1, 2], {"1": 4, "2": 1}, 5, [1, 2])
    assert _adopted(done) == ([2], {"2": 1}, 1, [1, 2])
    assert finished.updated_by_run == {2: 1} and finished.adopted_runs == [2]
    for details in (stopped, done):
        assert details.keys() >= SHARED
        assert details["run_ids"] == sorted(int(run) for run in details["updated_by_run"])
        assert details["updated"] == sum(details["updated_by_run"].values())
    # What each entry kept of its own: how it stopped; what the finished one left on M.
    assert (stopped["outcome"], stopped["error"]) == ("interrupted", "KeyboardInterrupt")
    assert "scores_sha256" not in stopped and done["photos_on_model"] == 6


def test_a_promotion_failing_on_a_later_run_of_a_page_audits_what_the_earlier_gave(
    two_runs: Any, models: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One page holds photos 1-6; run 1's four are adopted, then the update of run 2's two
    fails: the entry says STOPPED with run 1's four, and a re-run adopts run 2's."""
    _, new = models
    apply = promotion._apply

    def run_two_fails(sessions: Any, page: list[Any], model_version: str) -> int:
        if {row[-1] for row in page} == {2}:
            raise RuntimeError("database gone")
        return apply(sessions, page, model_version)

    monkeypatch.setattr(promotion, "_apply", run_two_fails)
    with pytest.raises(RuntimeError, match="database gone"):
        promote_by_cli(two_runs.services, new)
    [(action, stopped)] = promotion_entries(two_runs.services.sessions)
    assert action == STOPPED and (stopped["outcome"], stopped["error"]) == (
        "failed",
        "RuntimeError",
    )
    assert _adopted(stopped) == ([1], {"1": 4}, 4, [1, 2])

    monkeypatch.setattr(promotion, "_apply", apply)
    assert promote_by_cli(two_runs.services, new).updated_by_run == {2: 2}
    last = promotion_entries(two_runs.services.sessions)[-1][1]
    assert _adopted(last) == ([2], {"2": 2}, 2, [1, 2])
