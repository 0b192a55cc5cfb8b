"""`rescore promote` (review 20): a promotion stopped half-way (Ctrl-C, an error) after adopting
some photos is audited as stopped, naming the runs and how many photos it adopted (before, the
changed scores had no audit entry until a re-run); a re-run names every family the promotion
made stale, also those whose photos the stopped attempt adopted (before, only the families of
the photos left); the photos keeping their old score are all counted in what it prints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from serving import audit
from serving import promote as promotion
from serving.db.models import Photo
from serving.promote_plan import PromotionPlan, plan
from serving.reassessment import reassess, resolve_actor
from serving.rescore_discard import RescoreDiscardError, discard_run
from serving.rescore_promote_lines import plan_lines
from serving.rescore_runs import since_key_of
from serving.score_shift import ShiftTally
from tests.serving.rescore_fixtures import (
    PROMOTED,
    STOPPED,
    filed_and_rescored,
    promote_by_cli,
    promotion_entries,
    stop_after_first_batch,
)
from vision.artifact import read_artifact


@pytest.fixture
def rescored(make_service: Any, models: tuple[Path, Path]) -> Any:
    """F1 and F2 (two photos each, ids 1-4) assessed under the old model, all re-scored under
    the new one, not promoted yet: the service's Services."""
    return filed_and_rescored(make_service, models).services


def _on(services: Any, version: str) -> int:
    with services.sessions() as session:
        versions = session.execute(select(Photo.model_version)).scalars()
        return sum(v == version for v in versions)


def test_a_promotion_stopped_half_way_is_audited_with_what_it_adopted(
    rescored: Any, models: tuple[Path, Path]
) -> None:
    _, new = models
    version = read_artifact(new).model_version
    with pytest.raises(KeyboardInterrupt):
        promote_by_cli(rescored, new, batch_size=3, on_batch=stop_after_first_batch)
    assert _on(rescored, version) == 3  # the first batch stays adopted
    [(action, details)] = promotion_entries(rescored.sessions)
    assert action == STOPPED
    assert details["updated"] == 3 and details["run_ids"] == [1]
    assert (details["outcome"], details["error"]) == ("interrupted", "KeyboardInterrupt")

    # Its photos carry the run's scores: the run is adopted, and `rescore discard` keeps it.
    with rescored.sessions() as session, pytest.raises(RescoreDiscardError, match="adopted"):
        discard_run(session, version, since_key_of(None))

    resumed = promote_by_cli(rescored, new, batch_size=3)  # a re-run adopts the rest and audits it
    assert resumed.updated == 1 and resumed.audited and _on(rescored, version) == 4
    assert [action for action, _ in promotion_entries(rescored.sessions)] == [STOPPED, PROMOTED]
    with rescored.sessions() as session:
        assert audit.verify(session, rescored.signing_key).ok


def test_a_promotion_stopped_after_its_last_batch_is_still_audited_when_run_again(
    rescored: Any, models: tuple[Path, Path]
) -> None:
    _, new = models
    with pytest.raises(KeyboardInterrupt):
        promote_by_cli(rescored, new, batch_size=4, on_batch=stop_after_first_batch)
    assert [(a, d["updated"]) for a, d in promotion_entries(rescored.sessions)] == [(STOPPED, 4)]
    again = promote_by_cli(rescored, new)  # nothing left to adopt: the promotion's entry is written
    assert again.updated == 0 and again.audited
    assert promotion_entries(rescored.sessions)[-1][0] == PROMOTED
    assert not promote_by_cli(rescored, new).audited  # and only once


def test_a_promotion_that_adopted_nothing_before_it_failed_writes_no_entry(
    rescored: Any, models: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, new = models

    def broken(*_args: Any) -> int:
        raise RuntimeError("database gone")

    monkeypatch.setattr(promotion, "_apply", broken)
    with pytest.raises(RuntimeError):
        promote_by_cli(rescored, new)
    assert promotion_entries(rescored.sessions) == []


def test_a_resumed_promotion_names_every_family_it_made_stale(
    rescored: Any, models: tuple[Path, Path]
) -> None:
    _, new = models
    version = read_artifact(new).model_version
    with pytest.raises(KeyboardInterrupt):  # photos 1-3 adopted: F1's two and one of F2's
        promote_by_cli(rescored, new, batch_size=3, on_batch=stop_after_first_batch)
    resumed = promote_by_cli(rescored, new, batch_size=3)
    assert resumed.updated == 1
    assert resumed.plan.stale_families == ["F1", "F2"]  # F1 too, though none of its photos
    assert promotion_entries(rescored.sessions)[-1][1]["stale_families"] == 2  # was left to update
    lines = "\n".join(plan_lines(resumed.plan, dry_run=False))
    assert "goes stale (or is, on scores of this model adopted before): 2" in lines

    # Until they are reassessed a further run says so; then there is nothing left to say.
    found = plan(rescored.sessions, model_dir=new, serving_model_dir=new)
    assert found.to_update == 0 and found.stale_families == ["F1", "F2"]
    with rescored.sessions() as session:
        actor = resolve_actor(session, "admin_national")
    assert reassess(rescored, model_version=version, actor=actor, progress=False) == [
        ("F1", 2),
        ("F2", 2),
    ]
    assert plan(rescored.sessions, model_dir=new, serving_model_dir=new).stale_families == []


def test_every_photo_keeping_its_old_score_is_counted_in_the_listing() -> None:
    kept = {photo_id: "the photo file is missing from the store" for photo_id in range(1, 14)}
    found = PromotionPlan(
        model_version="m", run_ids=[1], to_update=0, already_on_model=0, kept_old=kept,
        stale_families=[], stale_with_decision=0, shift=ShiftTally().result(),
    )  # fmt: skip
    lines = plan_lines(found, dry_run=True)
    assert "keeping their old score (no score under this model): 13" in "\n".join(lines)
    assert sum(line.startswith("    photo ") for line in lines) == 10
    assert "    ... and 3 more" in lines
