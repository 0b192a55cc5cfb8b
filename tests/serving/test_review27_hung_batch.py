"""Review 27: with the micro-batcher on, a batch whose model call has run past the timeout of every
upload in it is known to hang: later uploads are refused at once ("not answering", Retry-After)
instead of each queueing behind it for another full timeout, and scoring goes on once the call
returns. /health names a model call (batched or not) running past its uploads' timeouts as a
problem ("degraded": reads and decisions still work, and the call may yet return), and /metrics
counts such calls in a gauge."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from serving.errors import UnavailableError
from serving.pipeline import Analysis, PhotoPipeline
from tests.serving import scoring_fixtures
from tests.serving.helpers import HungEngine, hung_model, jpeg
from tests.vision.batcher_helpers import BOUND_S, caller_outcomes
from vision.batcher import MicroBatcher

database_url = scoring_fixtures.database_url  # SQLite only: overrides the folder's

GAUGE = "shanyraq_photo_model_calls_past_deadline"


def _batched(engine: HungEngine, *, max_batch: int, timeout_s: float) -> PhotoPipeline:
    return PhotoPipeline(
        max_pixels=10_000_000, decode_short_side_px=64, cpu_workers=2, engine=engine,  # type: ignore[arg-type]
        batching=True, max_batch=max_batch, max_wait_ms=50.0, score_timeout_s=timeout_s,
        max_queued=8,
    )  # fmt: skip


async def _answer(pipeline: PhotoPipeline, analysis: Analysis) -> object:
    """What `score` answered `analysis` with (its error, or its score); a failure if it waited."""
    task = asyncio.create_task(pipeline.score(analysis))
    done, _ = await asyncio.wait([task], timeout=BOUND_S)
    if not done:
        task.cancel()
        pytest.fail("the upload was still waiting")
    return task.exception() or task.result()


def test_a_batch_is_late_only_once_every_request_in_it_is_past_its_deadline():
    # An item is (value, its caller's deadline): in any clock, the batcher only compares them.
    release = threading.Event()
    started = threading.Event()

    def hung(items: list[tuple[int, float | None]]) -> list[int]:
        started.set()
        release.wait(4 * BOUND_S)
        return [value for value, _ in items]

    async def main() -> dict[str, object]:
        seen: dict[str, object] = {}
        batcher = MicroBatcher(hung, max_batch=3, max_wait_ms=50, deadline_of=lambda i: i[1])
        callers = [
            asyncio.create_task(batcher.submit((1, 10.0))),
            asyncio.create_task(batcher.submit((2, 20.0))),
            asyncio.create_task(batcher.submit((3, None))),  # no deadline: never late
        ]
        try:
            assert await asyncio.to_thread(started.wait, BOUND_S)
            seen["before any"] = batcher.late_calls(5.0)
            seen["past the first only"] = batcher.late_calls(15.0)
            seen["past both, one without"] = batcher.late_calls(25.0)
        finally:
            release.set()
        seen["results"] = await caller_outcomes(callers)
        seen["idle"] = await asyncio.to_thread(batcher.wait_until_idle, BOUND_S)

        started.clear()
        release.clear()
        late = [asyncio.create_task(batcher.submit((i, 10.0))) for i in (4, 5)]
        try:
            assert await asyncio.to_thread(started.wait, BOUND_S)
            seen["past both"] = batcher.late_calls(10.0)
        finally:
            release.set()
        await caller_outcomes(late)
        assert await asyncio.to_thread(batcher.wait_until_idle, BOUND_S)
        seen["returned"] = batcher.late_calls(1000.0)
        await batcher.aclose()
        return seen

    seen = asyncio.run(main())
    assert seen["results"] == [1, 2, 3] and seen["idle"] is True
    assert seen["before any"] == seen["past the first only"] == seen["past both, one without"] == 0
    assert seen["past both"] == 1  # one model call, however many photos are in it
    assert seen["returned"] == 0


def test_uploads_after_a_batch_hangs_past_its_uploads_timeouts_are_refused_at_once():
    # They were queued behind the hung batch, each waited out score_timeout_s and was told only
    # that the model "did not answer"; nothing said the model was known not to be answering.
    engine = HungEngine()
    pipeline = _batched(engine, max_batch=2, timeout_s=0.2)
    analyses = [pipeline.analyse(jpeg(i)) for i in range(4)]

    async def main() -> dict[str, Any]:
        seen: dict[str, Any] = {"idle before": pipeline.model_calls_late()}
        try:
            seen["timed out"] = await caller_outcomes(
                [asyncio.create_task(pipeline.score(a)) for a in analyses[:2]]
            )
            seen["late"] = pipeline.model_calls_late()
            seen["later"] = [await _answer(pipeline, analyses[2]) for _ in range(3)]
            seen["calls while hung"] = list(engine.batches)
        finally:
            engine.release.set()
        batcher = pipeline._batcher
        assert batcher is not None
        assert await asyncio.to_thread(batcher.wait_until_idle, BOUND_S)  # the call returned
        seen["after"] = pipeline.model_calls_late()
        seen["scored"] = await _answer(pipeline, analyses[3])
        await pipeline.aclose()
        return seen

    seen = asyncio.run(main())
    assert seen["idle before"] == (0, 1)
    for error in seen["timed out"]:
        assert isinstance(error, UnavailableError), error
        assert "did not answer within 0.2 s" in str(error)
    assert seen["late"] == (1, 1)
    for error in seen["later"]:
        assert isinstance(error, UnavailableError), error
        assert "the photo model is not answering: its call has run for more than 0.2 s" in (
            str(error)
        )
        assert "nothing was stored" in str(error) and error.retry_after_s == 1
    assert seen["calls while hung"] == [2]  # one batch of the first two; no later upload queued
    assert seen["after"] == (0, 1)
    assert seen["scored"].photo_sha256 == analyses[3].decoded.sha256
    assert engine.batches == [2, 1]


def test_unbatched_calls_past_their_deadline_are_counted_before_all_threads_hang():
    engine = HungEngine()
    pipeline = PhotoPipeline(
        max_pixels=10_000_000, decode_short_side_px=64, cpu_workers=2, engine=engine,  # type: ignore[arg-type]
        batching=False, max_batch=2, max_wait_ms=0.0, score_timeout_s=0.2, max_queued=4,
    )  # fmt: skip
    analysis = pipeline.analyse(jpeg(1))

    async def main() -> tuple[tuple[int, int], tuple[int, int]]:
        try:
            (error,) = await caller_outcomes([asyncio.create_task(pipeline.score(analysis))])
            assert isinstance(error, UnavailableError) and "did not answer" in str(error)
            late = pipeline.model_calls_late()
        finally:
            engine.release.set()
        assert pipeline._calls is not None and pipeline._calls.wait_until_idle(BOUND_S)
        return late, pipeline.model_calls_late()

    late, after = asyncio.run(main())
    assert late == (1, 2)  # one of its two threads: uploads still go to the other
    assert after == (0, 2)


def _gauge(service: Any) -> str:
    text = service.client.get("/metrics").text
    return next(line for line in text.splitlines() if line.startswith(f"{GAUGE} "))


def _not_answering(service: Any) -> tuple[int, str, list[str]]:
    answer = service.client.get("/health")
    body = answer.json()
    return answer.status_code, body["status"], [p for p in body["problems"] if "not answering" in p]


@pytest.mark.parametrize("batched", [True, False], ids=["micro-batcher", "one call each"])
def test_health_and_metrics_name_a_model_not_answering_and_uploads_are_refused_at_once(
    make_service,
    model_dir,
    monkeypatch,
    batched,
):
    service = make_service(
        model_dir=model_dir,
        batching={"enabled": batched, "max_batch": 1, "max_wait_ms": 1, "score_timeout_s": 0.5},
    )
    service.create_family("F1")
    pipeline = service.services.pipeline
    assert _gauge(service) == f"{GAUGE} 0.0"
    with hung_model(service, monkeypatch) as model:
        first = service.upload("F1", jpeg(1))
        health = _not_answering(service)
        gauge = _gauge(service)
        second = service.upload("F1", jpeg(2))
    assert first.status_code == 503 and "did not answer within 0.5 s" in first.json()["message"]
    status, overall, problems = health
    assert status == 200 and overall == "degraded"  # reads and decisions still work
    assert len(problems) == 1, problems
    assert "its call has run past its uploads' timeout (0.5 s" in problems[0]
    assert "uploads are refused until it returns" in problems[0]
    assert gauge == f"{GAUGE} 1.0"
    assert second.status_code == 503, second.text
    assert second.json()["code"] == "unavailable"
    assert "the photo model is not answering: its call has run" in second.json()["message"]
    assert second.headers.get("Retry-After") == "1"
    assert model.calls == 1  # the second upload started no model call and was not queued

    calls_of = pipeline._batcher if batched else pipeline._calls
    assert calls_of.wait_until_idle(BOUND_S)  # the hung call has returned
    assert _not_answering(service)[2] == []
    assert _gauge(service) == f"{GAUGE} 0.0"
    monkeypatch.setattr(pipeline.engine, "score_inputs", model.answer)
    again = service.upload("F1", jpeg(2))
    assert again.status_code == 201, again.text
    assert again.json()["score_status"] == "scored"
