"""`rescore promote` stopped half-way (review 28). Its run counted as promoted, so a run under
other settings was let in beside the outcomes it had still to adopt, and the next promotion
adopted both kinds together; now that run is refused until the promotion is finished. And each
promotion's audit entry named every run under the model version, also runs it adopted nothing
from; it now names the runs it adopted outcomes of (`run_ids`), and the runs it checked apart
(`runs_checked`)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from serving import audit
from serving.db.models import Photo, RescoreRun
from serving.promote import scores_sha256
from serving.rescore import rescore
from serving.rescore_coverage import RescoreScopePartialError
from serving.rescore_discard import RescoreDiscardError, discard_run
from serving.rescore_promote_lines import promote_lines
from serving.rescore_provenance import RunProvenance
from serving.rescore_runs import since_key_of
from shanyraq.errors import ShanyraqError
from tests.serving.helpers import jpeg
from tests.serving.rescore_fixtures import (
    PROMOTED,
    STOPPED,
    cpu_scorer,
    filed_and_rescored,
    promote_by_cli,
    promotion_entries,
    stop_after_first_batch,
)
from vision.artifact import read_artifact

MIXED = "rescore_provenance_conflict"  # serving.rescore_runs.RescoreMixError's code


@pytest.fixture
def filed(make_service: Any, models: tuple[Path, Path]) -> Any:
    """F1 and F2 (two photos each, ids 1-4) assessed under the old model, all re-scored under
    the new one by run 1, not promoted yet: the service (not restarted onto the new model)."""
    return filed_and_rescored(make_service, models)


def _run_ids(services: Any) -> list[int]:
    with services.sessions() as session:
        return list(session.execute(select(RescoreRun.id).order_by(RescoreRun.id)).scalars())


def _other_settings(new: Path) -> RunProvenance:
    """Run 1's provenance with other engine settings (configs/engine.yaml edited since)."""
    return dataclasses.replace(RunProvenance.of(cpu_scorer(new)), engine_config="f" * 16)


def test_a_run_under_other_settings_waits_until_a_stopped_promotion_is_finished(
    filed: Any, models: tuple[Path, Path]
) -> None:
    _, new = models
    services = filed.services
    version = read_artifact(new).model_version
    with pytest.raises(KeyboardInterrupt):  # photos 1-3 adopted, photo 4 left to adopt
        promote_by_cli(services, new, batch_size=3, on_batch=stop_after_first_batch)
    assert [(a, d["updated"]) for a, d in promotion_entries(services.sessions)] == [(STOPPED, 3)]

    # A run under other settings would be adopted with run 1's photo 4 by the next promotion.
    since = datetime.now(UTC)
    options: dict[str, Any] = {"since": since, "progress": False}
    with pytest.raises(ShanyraqError) as refused:
        rescore(services.db_engine, services.store, cpu_scorer(new),
                provenance=_other_settings(new), **options)  # fmt: skip
    assert refused.value.code == MIXED
    message = refused.value.message
    assert f"re-scoring run 1 under {version} (finished, promoted in part:" in message
    assert "finish the promotion first: run `shanyraq rescore promote --model DIR` again" in message
    assert "discard" not in message  # the run holds the service's scores: it is kept
    assert _run_ids(services) == [1]
    with services.sessions() as session, pytest.raises(RescoreDiscardError, match="adopted"):
        discard_run(session, version, since_key_of(None))

    # Following the message: the promotion finishes; the run under other settings goes on.
    assert promote_by_cli(services, new).updated == 1
    report = rescore(services.db_engine, services.store, cpu_scorer(new),
                     provenance=_other_settings(new), **options)  # fmt: skip
    assert report.complete and _run_ids(services) == [1, 2]


def test_each_promotion_entry_names_the_runs_it_adopted_outcomes_of(
    filed: Any, models: tuple[Path, Path]
) -> None:
    _, new = models
    services = filed.services
    version = read_artifact(new).model_version
    first = promote_by_cli(services, new)

    # Two photos uploaded after it (the service not restarted onto the model), run 2 for them.
    since = datetime.now(UTC)
    for seed in (91, 92):
        assert filed.upload("F1", jpeg(seed)).status_code == 201
    assert rescore(services.db_engine, services.store, cpu_scorer(new), since=since,
                   progress=False).scored == 2  # fmt: skip
    with pytest.raises(KeyboardInterrupt):
        promote_by_cli(services, new, batch_size=1, on_batch=stop_after_first_batch)
    again = promote_by_cli(services, new)

    entries = promotion_entries(services.sessions)
    assert [(a, d["updated"]) for a, d in entries] == [(PROMOTED, 4), (STOPPED, 1), (PROMOTED, 1)]
    assert [d["run_ids"] for _, d in entries] == [[1], [2], [2]]  # run 1 adopted nothing after
    assert [d["runs_checked"] for _, d in entries] == [[1], [1, 2], [1, 2]]
    with services.sessions() as session:
        assert entries[-1][1]["scores_sha256"] == scores_sha256(session, version)
        assert audit.verify(session, services.signing_key).ok
        # Run 1, checked by a finished promotion, is kept as before.
        with pytest.raises(RescoreDiscardError, match="adopted"):
            discard_run(session, version, since_key_of(None))
    assert (first.adopted_runs, again.adopted_runs) == ([1], [2])  # as the command prints them
    assert (
        "updated now: 1 photo(s) with the scores of re-scoring runs 2 (1 photo(s));"
        in promote_lines(again)[-1]
    )


def test_a_stopped_promotion_with_nothing_left_to_adopt_lets_a_run_under_new_settings_on(
    filed: Any, models: tuple[Path, Path]
) -> None:
    """A promotion stopped by photos uploaded while it ran adopted all of run 1: the refusal
    names a --since run to score them, which after a settings change is a run under other
    settings; with nothing of run 1 left to adopt, nothing would mix, and it is let in."""
    _, new = models
    services = filed.services
    version = read_artifact(new).model_version
    uploads: list[int] = []

    def upload_meanwhile(_done: int) -> None:
        if not uploads:
            response = filed.upload("F1", jpeg(99))
            assert response.status_code == 201, response.text
            uploads.append(response.status_code)

    since = datetime.now(UTC)
    with pytest.raises(RescoreScopePartialError):
        promote_by_cli(services, new, batch_size=3, on_batch=upload_meanwhile)
    assert [(a, d["updated"], d["run_ids"]) for a, d in promotion_entries(services.sessions)] == [
        (STOPPED, 4, [1])
    ]
    with services.sessions() as session:  # the late upload only is left on the old model
        assert (
            len(session.execute(select(Photo.id).where(Photo.model_version != version)).all()) == 1
        )

    report = rescore(services.db_engine, services.store, cpu_scorer(new), since=since,
                     provenance=_other_settings(new), progress=False)  # fmt: skip
    assert report.complete and report.scored == 1
    done = promote_by_cli(services, new)
    assert [(a, d["run_ids"]) for a, d in promotion_entries(services.sessions)] == [
        (STOPPED, [1]),
        (PROMOTED, [2]),
    ]
    assert done.updated == 1 and done.adopted_runs == [2]
