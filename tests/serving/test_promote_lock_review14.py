"""`rescore promote` takes the re-scoring lock of its model version, as `rescore` and `rescore
discard` do (review 14): while another of them holds it, promote is refused (`rescore_busy`,
naming the holder) before it writes anything, and runs once it is released; while promote
holds it, the others are refused naming `shanyraq rescore promote`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from serving import promote as promotion
from serving.db.models import AuditEntry, Photo, RescoredScore
from serving.db.session import make_engine, make_session_factory
from serving.rescore_lock import rescore_lock
from serving.rescore_runs import RescoreBusyError
from shanyraq.errors import ShanyraqError
from tests.serving.promote_helpers import run_rescore
from tests.serving.rescore_fixtures import OLD_VERSION, tiny_model

VERSION = "test-0"  # tiny_model(seed=0)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model(tmp_path_factory.mktemp("models"), seed=0)


def _promote(model: Path, config: Path) -> Any:
    return run_rescore("promote", "--model", model, "--config", config, "--no-progress")


def _code(result: Any) -> str | None:
    return result.exception.code if isinstance(result.exception, ShanyraqError) else None


def _state(tmp_path: Path) -> tuple[list[str | None], list[str], int]:
    """(each photo's model version, the audit actions, the outcomes under VERSION)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'shanyraq.db'}")
    try:
        with make_session_factory(engine)() as session:
            by_id = select(Photo.model_version).order_by(Photo.id)
            versions = list(session.execute(by_id).scalars())
            actions = list(session.execute(select(AuditEntry.action)).scalars())
            outcomes = session.execute(
                select(RescoredScore.id).where(RescoredScore.model_version == VERSION)
            ).all()
    finally:
        engine.dispose()
    return versions, actions, len(outcomes)


def test_promote_is_refused_while_a_rescoring_holds_the_lock_then_runs(
    tmp_path, model, rescored_config
):
    before = _state(tmp_path)
    assert before[0] == [OLD_VERSION] * 3 and before[2] == 3
    with rescore_lock(tmp_path / "data", VERSION):  # a `rescore` or `rescore discard` running
        busy = _promote(model, rescored_config)
    assert _code(busy) == "rescore_busy", busy.output
    message = str(busy.exception)
    assert f"another re-scoring under {VERSION} is running (process " in message
    assert "then run this command again" in message and "Traceback" not in busy.output
    assert _state(tmp_path) == before  # no photo adopted, nothing audited

    done = _promote(model, rescored_config)  # once it is released
    assert done.exit_code == 0, done.output
    assert "updated now: 3 photo(s)" in done.output
    versions, actions, _ = _state(tmp_path)
    assert versions == [VERSION] * 3 and actions.count(promotion.ACTION) == 1
    assert not list((tmp_path / "data").glob(".rescore-*.lock"))


def test_promote_holds_the_lock_while_it_adopts_the_scores(
    tmp_path, model, rescored_config, monkeypatch
):
    refusals: list[str] = []
    apply = promotion._apply

    def apply_while_another_tries(sessions: Any, page: list[Any], version: str) -> int:
        # A `rescore discard` (or a `rescore` reopening the run) started mid-promotion.
        with pytest.raises(RescoreBusyError) as caught, rescore_lock(tmp_path / "data", version):
            pass
        refusals.append(caught.value.message)
        return apply(sessions, page, version)

    monkeypatch.setattr(promotion, "_apply", apply_while_another_tries)
    done = _promote(model, rescored_config)
    assert done.exit_code == 0, done.output
    assert refusals and all("`shanyraq rescore promote`: process " in m for m in refusals)

    monkeypatch.undo()
    with rescore_lock(tmp_path / "data", VERSION, command="rescore promote"):
        busy = run_rescore("discard", "--model", model, "--config", rescored_config)
    assert _code(busy) == "rescore_busy", busy.output
    assert "`shanyraq rescore promote`" in str(busy.exception)
    assert _state(tmp_path)[2] == 3  # the run and its outcomes are kept


def test_a_dry_run_takes_no_lock(tmp_path, model, rescored_config):
    with rescore_lock(tmp_path / "data", VERSION):  # it writes nothing: it may look meanwhile
        dry = run_rescore(
            "promote", "--model", model, "--dry-run", "--config", rescored_config, "--no-progress"
        )
    assert dry.exit_code == 0, dry.output
    assert "nothing was written" in dry.output
