"""Review 21: the 503s of an upload whose photo the model cannot score now (busy, hung,
shutting down, stopped) say when to send it again in a Retry-After header, as the 429s do,
so that a phone does not retry at once into a busy model; the OpenAPI declares the header."""

from __future__ import annotations

from typing import Any

import pytest

from serving.pipeline_refusals import SHUTDOWN_RETRY_AFTER_S, STOPPED_RETRY_AFTER_S
from tests.serving import scoring_fixtures
from tests.serving.helpers import hung_model, jpeg
from vision.batcher_errors import BatcherFullError, BatcherStoppedError

database_url = scoring_fixtures.database_url  # SQLite only: overrides the folder's


def _refused(answer: Any, retry_after_s: int, says: str) -> None:
    assert answer.status_code == 503, answer.text
    assert answer.json()["code"] == "unavailable" and says in answer.json()["message"]
    assert answer.headers.get("Retry-After") == str(retry_after_s), dict(answer.headers)


def test_a_busy_model_never_says_to_wait_longer_than_the_score_timeout(
    make_service,
    model_dir,
    monkeypatch,
):
    # By score_timeout_s every photo waiting now has left the queue (scored or refused).
    service = make_service(model_dir=model_dir, batching={"score_timeout_s": 1.5})
    service.create_family("F1")
    batcher = service.services.pipeline._batcher
    assert batcher is not None

    async def full(item: object) -> object:
        raise BatcherFullError("the queue is full")

    monkeypatch.setattr(batcher, "submit", full)
    _refused(service.upload("F1", jpeg(1)), 2, "the photo model is busy")


@pytest.mark.parametrize("batched", [True, False], ids=["micro-batcher", "one call each"])
def test_an_upload_the_model_does_not_score_in_time_says_to_retry_after_the_timeout(
    make_service,
    model_dir,
    monkeypatch,
    batched,
):
    service = make_service(
        model_dir=model_dir,
        batching={"enabled": batched, "max_batch": 4, "max_wait_ms": 1, "score_timeout_s": 0.5},
    )
    service.create_family("F1")
    with hung_model(service, monkeypatch):
        refused = service.upload("F1", jpeg(1))
    _refused(refused, 1, "did not answer within 0.5 s")  # whole seconds, rounded up


def test_an_upload_while_the_service_shuts_down_says_to_retry_shortly(
    make_service,
    model_dir,
):
    service = make_service(model_dir=model_dir)
    service.create_family("F1")
    batcher = service.services.pipeline._batcher
    assert batcher is not None
    batcher._closed = True  # as aclose leaves it, on the service's own event loop
    _refused(service.upload("F1", jpeg(1)), SHUTDOWN_RETRY_AFTER_S, "shutting down")


def test_an_upload_after_scoring_stopped_says_to_wait_for_a_restart(
    make_service,
    model_dir,
):
    service = make_service(model_dir=model_dir)
    service.create_family("F1")
    batcher = service.services.pipeline._batcher
    assert batcher is not None
    # As the worker's death leaves it (tests/serving/test_batcher_queue_review21.py).
    batcher._stopped = BatcherStoppedError("the batch function raised KeyboardInterrupt")
    _refused(service.upload("F1", jpeg(1)), STOPPED_RETRY_AFTER_S, "photo scoring has stopped")
    assert STOPPED_RETRY_AFTER_S > SHUTDOWN_RETRY_AFTER_S  # an administrator must act


def test_the_openapi_declares_retry_after_on_429_and_503(openapi):
    from serving.api.errors import error_responses

    refused = openapi["paths"]["/auth/token"]["post"]["responses"]["429"]
    assert refused["headers"]["Retry-After"]["schema"] == {"type": "integer", "minimum": 0}
    assert refused["headers"]["Retry-After"]["required"] is True
    # The upload, which a busy or hung model refuses, declares its 503 with the header.
    upload = openapi["paths"]["/families/{family_id}/photos"]["post"]["responses"]["503"]
    assert "Retry-After" in upload["headers"]
    busy = error_responses(503)[503]["headers"]["Retry-After"]
    assert busy["schema"] == {"type": "integer", "minimum": 0} and not busy.get("required")
    assert "headers" not in error_responses(404)[404]
