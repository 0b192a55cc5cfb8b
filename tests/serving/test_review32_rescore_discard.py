"""Re-scoring, review 32: `rescore discard` refusing a promoted run with nothing left to score.

Its refusal advised first to run the run as it was started "to score the photos it has still
to score", then said that no photo in its scope is left to score: with none left, that first
advice is wrong. It now says the run is kept and none is left, then how a photo uploaded later
under the old model is scored; with photos still to score, the advice stays as it was.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from serving.db.models import RescoreRun
from serving.db.session import session_scope
from serving.rescore_discard import RescoreDiscardError, discard_run
from serving.rescore_runs import since_key_of
from tests.serving.helpers import jpeg
from tests.serving.rescore_fixtures import filed_and_rescored, promote_by_cli
from tests.serving.rescore_helpers import OLD_CODE, new_code
from vision.artifact import read_artifact

STILL_TO_SCORE = "to score the photos it has still to score"


@pytest.fixture
def promoted(make_service: Any, models: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> Any:
    """F1 and F2 (photos 1-4) re-scored by run 1 and promoted: the service."""
    _, new = models
    new_code(monkeypatch, OLD_CODE)
    service = filed_and_rescored(make_service, models)
    assert promote_by_cli(service.services, new).updated == 4
    return service


def _refusal(services: Any, version: str) -> str:
    with session_scope(services.sessions) as session, pytest.raises(RescoreDiscardError) as kept:
        discard_run(session, version, since_key_of(None))
    return kept.value.message


@pytest.mark.parametrize("status", ["done", "running"])
def test_with_nothing_left_to_score_the_refusal_gives_no_advice_to_score_it(
    promoted: Any, models: tuple[Path, Path], status: str
) -> None:
    """Run 1, finished (or reopened and stopped since, with nothing left to score): kept, and
    no photo of it is left to score; a new run is named for photos uploaded later."""
    _, new = models
    services = promoted.services
    with session_scope(services.sessions) as session:
        session.get_one(RescoreRun, 1).status = status
    message = _refusal(services, read_artifact(new).model_version)

    assert STILL_TO_SCORE not in message, message
    assert message.startswith(
        "re-scoring run 1 under test-0 was adopted by `rescore promote`: the service's scores "
        "come from it, so it is kept; no photo in its scope is left to score now. To score one "
        "uploaded later under the old model under the current ones, start a new run"
    ), message
    assert message.endswith("then `shanyraq rescore promote --model DIR`"), message
    if status == "running":  # its own command marks it finished, scoring nothing
        assert (
            "run `shanyraq rescore --model DIR` again (with nothing left in its scope to score, "
            "it marks run 1 finished, scoring nothing)"
        ) in message


def test_with_a_photo_left_to_score_the_refusal_advises_to_score_it(
    promoted: Any, models: tuple[Path, Path]
) -> None:
    """A photo uploaded since under the old model: the run as it was started scores it."""
    _, new = models
    assert promoted.upload("F1", jpeg(71)).status_code == 201
    message = _refusal(promoted.services, read_artifact(new).model_version)
    assert (
        "so it is kept; run `shanyraq rescore --model DIR` as the run was started "
        f"{STILL_TO_SCORE}; or, to score them under the current ones, start a new run"
    ) in message, message
