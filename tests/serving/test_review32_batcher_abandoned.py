"""With batching on, shutting down abandons a hung model call once it is late, i.e.
once the timeout of every upload in it has come. An upload let go that way at the instant of
its own timeout (the pipeline's clock had reached its deadline, the loop's timer for it had not
run yet) was told "shutting down" (a passing 503, a warning) rather than that the model did not
answer within its timeout (an error an operator must see). An upload let go by the close
before its own timeout is still told "shutting down".

The instant between is held still with a clock of the test's own for the pipeline (the
deadlines' clock), advanced by hand; the event loop's timers keep the real one."""

from __future__ import annotations

import asyncio
import logging
import time
from types import SimpleNamespace

import pytest

from serving import pipeline as pipeline_module
from serving.errors import UnavailableError
from serving.pipeline import PhotoPipeline
from tests.serving.helpers import HungEngine, jpeg
from tests.vision.batcher_helpers import BOUND_S, caller_outcomes

TIMEOUT_S = 4 * BOUND_S  # the loop's timer for an upload never fires within a test


class _Clock:
    """time.monotonic for the pipeline's deadlines, moved only by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _answer_of_an_upload_abandoned(
    monkeypatch: pytest.MonkeyPatch, *, shutdown_wait_s: float, advance_s: float
) -> object:
    """What `score` answers an upload whose hung batch the pipeline's close abandons, after
    the pipeline's clock has moved `advance_s` from the upload's start."""
    clock = _Clock()
    monkeypatch.setattr(
        pipeline_module, "time", SimpleNamespace(monotonic=clock, perf_counter=time.perf_counter)
    )
    engine = HungEngine()
    pipeline = PhotoPipeline(
        max_pixels=10_000_000, decode_short_side_px=64, engine=engine,  # type: ignore[arg-type]
        batching=True, max_batch=1, max_wait_ms=0.0, score_timeout_s=TIMEOUT_S,
        shutdown_wait_s=shutdown_wait_s,
    )  # fmt: skip
    analysis = pipeline.analyse(jpeg(1))

    async def main() -> object:
        upload = asyncio.create_task(pipeline.score(analysis))
        closing: asyncio.Task[None] | None = None
        try:
            assert await asyncio.to_thread(engine.called.wait, BOUND_S)
            clock.now += advance_s
            closing = asyncio.create_task(pipeline.aclose())
            (answer,) = await caller_outcomes([upload])
            return answer
        finally:
            engine.release.set()
            if closing is not None:
                await asyncio.wait_for(closing, BOUND_S)

    return asyncio.run(main())


def test_an_upload_abandoned_at_its_own_timeout_is_told_the_model_did_not_answer(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        answer = _answer_of_an_upload_abandoned(
            monkeypatch, shutdown_wait_s=TIMEOUT_S, advance_s=TIMEOUT_S
        )
    assert isinstance(answer, UnavailableError), answer
    assert f"did not answer within {TIMEOUT_S:g} s" in answer.message, answer.message
    assert "shutting down" not in answer.message
    assert answer.retry_after_s == TIMEOUT_S  # what the photo waited, not a restart's
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert [m for m in errors if "did not answer" in m], errors  # logged as an error, once
    assert len(errors) == 1, errors


def test_an_upload_abandoned_before_its_own_timeout_is_told_shutting_down(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answer = _answer_of_an_upload_abandoned(monkeypatch, shutdown_wait_s=0.0, advance_s=1.0)
    assert isinstance(answer, UnavailableError), answer
    assert "shutting down" in answer.message, answer.message
