"""Review 21: an upload refused with 503 (the photo model busy, shutting down or stopped) stored
nothing and tells the phone to send it again: it gives its slot of the per-user upload limit
back, so following Retry-After cannot push the phone into 429s for photos never accepted. A
refusal for the photo itself (4xx: a bad file) still counts: it cost a decode. Review 22: so
does a 500 (the store failed): the fault was not the client's either."""

from __future__ import annotations

from typing import Any

import pytest

from tests.serving import scoring_fixtures
from tests.serving.helpers import jpeg
from tests.serving.upload_helpers import BAD_FILES
from vision.batcher_errors import BatcherClosedError, BatcherFullError, BatcherStoppedError

database_url = scoring_fixtures.database_url  # SQLite only: overrides the folder's

CAUSES = {
    "busy": lambda: BatcherFullError("the queue is full"),
    "shutting down": lambda: BatcherClosedError("closed"),
    "stopped": lambda: BatcherStoppedError("the batch function raised KeyboardInterrupt"),
}


def _limited_service(
    make_service: Any, artifact: Any, monkeypatch: Any, *, cause: str, refusals: int
) -> Any:
    """A service allowing 2 uploads a minute whose model refuses the first `refusals` photos
    for `cause` (a 503, through the real pipeline's batcher), then scores the rest."""
    service = make_service(model_dir=artifact, rate_limits={"upload_per_minute": 2})
    service.create_family("F1")
    batcher = service.services.pipeline._batcher
    assert batcher is not None
    submit, left = batcher.submit, [refusals]

    async def refusing(item: object) -> object:
        if left[0] > 0:
            left[0] -= 1
            raise CAUSES[cause]()
        return await submit(item)

    monkeypatch.setattr(batcher, "submit", refusing)
    return service


@pytest.mark.parametrize("cause", sorted(CAUSES))
def test_uploads_refused_with_503_do_not_use_up_the_upload_limit(
    make_service,
    model_dir,
    monkeypatch,
    cause,
):
    service = _limited_service(make_service, model_dir, monkeypatch, cause=cause, refusals=2)
    answers = [service.upload("F1", jpeg(i)) for i in range(5)]
    codes = [a.status_code for a in answers]
    assert codes == [503, 503, 201, 201, 429], [a.text for a in answers]
    assert "Retry-After" in answers[0].headers  # the phone was told to send it again
    assert [a.json()["score_status"] for a in answers[2:4]] == ["scored", "scored"]


def test_uploads_refused_for_a_bad_file_still_count_beside_503s(
    make_service,
    model_dir,
    monkeypatch,
):
    service = _limited_service(make_service, model_dir, monkeypatch, cause="busy", refusals=1)
    bad, status, _ = BAD_FILES["truncated_jpeg"]
    answers = [
        service.upload("F1", jpeg(1)),  # 503: given back
        service.upload("F1", bad),  # 422: counts (decoded)
        service.upload("F1", jpeg(1)),  # the retry of the first: accepted
        service.upload("F1", jpeg(2)),  # 2 counted already: refused
    ]
    assert [a.status_code for a in answers] == [503, status, 201, 429], [a.text for a in answers]
    assert answers[3].json()["code"] == "rate_limited"


def test_an_upload_the_store_failed_gives_its_place_back(
    make_service,
    model_dir,
    monkeypatch,
):
    from serving.errors import StorageError

    service = _limited_service(make_service, model_dir, monkeypatch, cause="busy", refusals=0)
    put, failures = service.services.store.put, [1]

    def failing(data: bytes) -> object:
        if failures[0] > 0:
            failures[0] -= 1
            raise StorageError("the disk is full")
        return put(data)

    monkeypatch.setattr(service.services.store, "put", failing)
    answers = [service.upload("F1", jpeg(i)) for i in range(4)]
    # Before: the failed upload counted, and its retry (the third) was refused 429.
    assert [a.status_code for a in answers] == [500, 201, 201, 429], [a.text for a in answers]
