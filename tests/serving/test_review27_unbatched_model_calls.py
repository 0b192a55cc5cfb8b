"""Review 27: with the micro-batcher off, each upload's model call runs on a bounded pool of the
pipeline's own threads. A hung model holds at most `max_batch` of them: once every one runs a
call its upload's timeout gave up on, later uploads are refused at once ("not answering")
instead of each taking a new thread and waiting out its own timeout; at most `max_queued`
calls wait for a thread ("busy" beyond); the routes' shared worker threads and the analysis
limiter are not taken; and once the model returns, uploads are scored again."""

from __future__ import annotations

import asyncio
from typing import Any

import anyio.to_thread

from serving.errors import UnavailableError
from serving.pipeline import Analysis, PhotoPipeline
from serving.pipeline_refusals import BUSY_RETRY_AFTER_S, SHUTDOWN_RETRY_AFTER_S
from tests.serving import scoring_fixtures
from tests.serving.helpers import HungEngine, hung_model, jpeg
from tests.vision.batcher_helpers import BOUND_S, caller_outcomes

database_url = scoring_fixtures.database_url  # SQLite only: overrides the folder's


def _pipeline(engine: HungEngine, *, max_batch: int, max_queued: int, timeout_s: float):  # type: ignore[no-untyped-def]
    return PhotoPipeline(
        max_pixels=10_000_000, decode_short_side_px=64, cpu_workers=2, engine=engine,  # type: ignore[arg-type]
        batching=False, max_batch=max_batch, max_wait_ms=0.0, score_timeout_s=timeout_s,
        max_queued=max_queued,
    )  # fmt: skip


async def _refusal(pipeline: PhotoPipeline, analysis: Analysis) -> UnavailableError | str:
    """The UnavailableError `score` refuses `analysis` with, or what it did instead."""
    task = asyncio.create_task(pipeline.score(analysis))
    done, _ = await asyncio.wait([task], timeout=BOUND_S)
    if not done:
        task.cancel()
        return "still waiting"
    error = task.exception()
    return error if isinstance(error, UnavailableError) else f"answered {error or task.result()}"


def test_a_hung_model_holds_max_batch_threads_then_uploads_are_refused_at_once():
    # Each upload while the model hung started another thread (anyio's: a call its timeout let
    # go gave its token back and ran on), waited out score_timeout_s and was told only that
    # the model "did not answer"; the stuck threads grew with every upload.
    engine = HungEngine(signal_after=2)
    pipeline = _pipeline(engine, max_batch=2, max_queued=4, timeout_s=0.2)
    analysis = pipeline.analyse(jpeg(1))

    async def main() -> tuple[list[object], list[UnavailableError | str]]:
        try:
            timed_out = await caller_outcomes(
                [asyncio.create_task(pipeline.score(analysis)) for _ in range(2)]
            )
            later = [await _refusal(pipeline, analysis) for _ in range(5)]
        finally:
            engine.release.set()
        return timed_out, later

    timed_out, later = asyncio.run(main())
    for error in timed_out:
        assert isinstance(error, UnavailableError), error
        assert "did not answer within 0.2 s" in str(error)
    for error in later:
        assert isinstance(error, UnavailableError), error
        assert "the photo model is not answering: its 2 calls have run for more than 0.2 s" in (
            str(error)
        )
        assert "nothing was stored" in str(error) and error.retry_after_s == 1
    assert len(engine.batches) == 2  # no upload after the first two reached the model

    # The hung calls return: the threads are free, and the next upload is scored.
    assert pipeline._calls is not None and pipeline._calls.wait_until_idle(BOUND_S)
    scored = asyncio.run(pipeline.score(analysis))
    assert scored is not None and scored.photo_sha256 == analysis.decoded.sha256
    assert len(engine.batches) == 3


def test_calls_beyond_max_queued_are_refused_as_busy_and_shared_threads_stay_free():
    engine = HungEngine(signal_after=2)
    pipeline = _pipeline(engine, max_batch=2, max_queued=1, timeout_s=4 * BOUND_S)
    analyses = [pipeline.analyse(jpeg(i)) for i in range(5)]

    async def main() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        try:
            running = [asyncio.create_task(pipeline.score(a)) for a in analyses[:2]]
            assert await asyncio.to_thread(engine.called.wait, BOUND_S)  # both on the model
            waiting = asyncio.create_task(pipeline.score(analyses[2]))
            await asyncio.sleep(0)  # it takes its place in the queue
            seen["busy"] = await _refusal(pipeline, analyses[3])
            # The model's threads are its own: the routes' shared ones (database, store) have
            # all their tokens while it hangs, and analysis (as many workers as hung calls)
            # still runs.
            seen["shared_tokens_taken"] = (
                anyio.to_thread.current_default_thread_limiter().borrowed_tokens
            )
            seen["analysed"] = await asyncio.wait_for(pipeline.analyse_async(jpeg(9)), BOUND_S)
            seen["entered_while_hung"] = len(engine.batches)
        finally:
            engine.release.set()
        seen["scored"] = await caller_outcomes([*running, waiting])
        seen["after"] = await asyncio.wait_for(pipeline.score(analyses[4]), BOUND_S)
        await pipeline.aclose()
        seen["closed"] = await _refusal(pipeline, analyses[4])
        return seen

    seen = asyncio.run(main())
    busy = seen["busy"]
    assert isinstance(busy, UnavailableError), busy
    assert "the photo model is busy: 1 photos are already waiting to be scored" in str(busy)
    assert busy.retry_after_s == BUSY_RETRY_AFTER_S
    assert seen["shared_tokens_taken"] == 0
    assert seen["analysed"].model_input is not None
    assert seen["entered_while_hung"] == 2  # the waiting call had not run, the refused never
    assert [s.photo_sha256 for s in seen["scored"]] == [a.decoded.sha256 for a in analyses[:3]]
    assert seen["after"].photo_sha256 == analyses[4].decoded.sha256
    closed = seen["closed"]
    assert isinstance(closed, UnavailableError) and "shutting down" in str(closed), closed
    assert closed.retry_after_s == SHUTDOWN_RETRY_AFTER_S


def test_an_upload_while_every_model_thread_hangs_is_a_503_at_once_naming_the_cause(
    make_service,
    model_dir,
    monkeypatch,
):
    service = make_service(
        model_dir=model_dir,
        batching={"enabled": False, "max_batch": 1, "max_wait_ms": 1, "score_timeout_s": 0.5},
    )
    service.create_family("F1")
    pipeline = service.services.pipeline
    with hung_model(service, monkeypatch) as model:
        first = service.upload("F1", jpeg(1))
        second = service.upload("F1", jpeg(2))
    assert first.status_code == 503 and "did not answer within 0.5 s" in first.json()["message"]
    assert second.status_code == 503, second.text
    assert second.json()["code"] == "unavailable"
    assert "the photo model is not answering" in second.json()["message"]
    assert second.headers.get("Retry-After") == "1"
    assert model.calls == 1  # the second upload started no model call

    assert pipeline._calls.wait_until_idle(BOUND_S)  # the hung call has returned
    monkeypatch.setattr(pipeline.engine, "score_inputs", model.answer)
    again = service.upload("F1", jpeg(2))
    assert again.status_code == 201, again.text
    assert again.json()["score_status"] == "scored"
