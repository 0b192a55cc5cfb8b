"""Review 21: the micro-batcher's queue is bounded (`batching.max_queued`: a photo arriving at
a full queue is refused at once with 503, nothing stored, while those waiting keep their
place), and a worker that dies of a BaseException that is not an Exception names it to its
callers and refuses later work, instead of stopping the event loop or reading as a shutdown."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from serving.core.config import Batching, load_serving_settings
from serving.errors import UnavailableError
from serving.pipeline import PhotoPipeline
from serving.pipeline_refusals import BUSY_RETRY_AFTER_S
from shanyraq.errors import ConfigError
from tests.aio import run
from tests.serving import scoring_fixtures
from tests.serving.helpers import HungEngine, hung_model, jpeg
from tests.vision.batcher_helpers import BOUND_S, caller_outcomes
from vision.batcher import MicroBatcher
from vision.batcher_errors import BatcherFullError, BatcherStoppedError

database_url = scoring_fixtures.database_url  # SQLite only: overrides the folder's


class _Odd(BaseException):
    """A non-Exception error of a native library's Python binding."""


FATAL = [KeyboardInterrupt(), SystemExit(3), _Odd("device lost")]
FATAL_NAMES = ["KeyboardInterrupt", "SystemExit: 3", "_Odd: device lost"]
# How long an upload may take to reach the model (decode, quality gate, hashes): generous, as
# it only runs out when the test fails.
UPLOAD_REACHES_MODEL_S = 60.0


def _run_contained(main):  # type: ignore[no-untyped-def]
    """`run(main)`, failing the test (not ending the session) when the batch function's
    KeyboardInterrupt or SystemExit escapes the batcher and stops the event loop."""
    try:
        return run(main)
    except (KeyboardInterrupt, SystemExit) as exc:
        pytest.fail(f"the batch function's {exc!r} escaped and stopped the event loop")


# --- the bound -------------------------------------------------------------------------------


def test_a_request_at_a_full_queue_is_refused_at_once_and_the_waiting_keep_their_place():
    # The queue had no bound: every arrival waited (its item in memory) behind a slow batch.
    calls: list[list[int]] = []

    async def main() -> tuple[list[object], object, int]:
        started, release = asyncio.Event(), asyncio.Event()

        async def engine(items: list[int]) -> list[int]:
            calls.append(list(items))
            started.set()
            await release.wait()
            return [10 * x for x in items]

        batcher: MicroBatcher[int, int] = MicroBatcher(
            engine, max_batch=1, max_wait_ms=0, max_queued=2
        )
        try:
            running = asyncio.create_task(batcher.submit(1))
            await asyncio.wait_for(started.wait(), BOUND_S)  # 1 runs; 2 and 3 will queue
            queued = [asyncio.create_task(batcher.submit(i)) for i in (2, 3)]
            extra = asyncio.create_task(batcher.submit(4))  # runs after 2 and 3 have queued
            done, _ = await asyncio.wait([extra], timeout=BOUND_S)
            refused = extra.exception() if done else "still waiting"
            release.set()
            outcomes = await caller_outcomes([running, *queued])
            later = await asyncio.wait_for(batcher.submit(5), BOUND_S)  # room again
        finally:
            await asyncio.wait_for(batcher.aclose(), BOUND_S)
        return outcomes, refused, later

    outcomes, refused, later = run(main())
    assert isinstance(refused, BatcherFullError), refused
    assert "2 requests are already waiting" in str(refused)
    assert outcomes == [10, 20, 30] and later == 50
    assert calls == [[1], [2], [3], [5]]  # the refused request never ran


def test_max_queued_is_validated_and_the_shipped_one_leaves_the_benchmark_room():
    from benchmarks.bench_service import CLIENTS

    with pytest.raises(ValueError, match="max_queued"):
        MicroBatcher(lambda items: items, max_batch=1, max_wait_ms=0, max_queued=0)
    with pytest.raises(ConfigError, match="max_queued"):
        load_serving_settings(batching={"max_queued": 0})
    assert load_serving_settings().batching.max_queued >= CLIENTS  # `make bench`: 32 at once


def _fake_engine(score_inputs) -> SimpleNamespace:  # type: ignore[no-untyped-def]
    """What the pipeline asks of an engine, with a model call of the test's choosing."""
    return SimpleNamespace(
        artifact=SimpleNamespace(preprocessing=SimpleNamespace(size=32)),
        model_version="fake-1",
        prepare=lambda pixels: np.zeros((3, 32, 32), dtype=np.float32),
        score_inputs=score_inputs,
    )


def _pipeline(engine: Any, **batching: object) -> PhotoPipeline:
    settings = Batching(max_batch=1, max_wait_ms=0, score_timeout_s=BOUND_S, **batching)
    return PhotoPipeline.from_config(engine, settings)  # type: ignore[arg-type]


def test_the_pipeline_refuses_a_photo_at_a_full_queue_as_busy():
    engine = HungEngine()
    pipeline = _pipeline(engine, max_queued=2)
    analyses = [pipeline.analyse(jpeg(i, size=(64, 48))) for i in range(4)]

    async def main() -> tuple[list[Any], object, dict[str, object]]:
        try:
            first = asyncio.create_task(pipeline.score(analyses[0]))
            assert await asyncio.to_thread(engine.called.wait, BOUND_S)
            queued = [asyncio.create_task(pipeline.score(a)) for a in analyses[1:3]]
            extra = asyncio.create_task(pipeline.score(analyses[3]))
            done, _ = await asyncio.wait([extra], timeout=BOUND_S)
            refused = extra.exception() if done else "still waiting"
            # The queue is full because the model call hangs: all three were submitted in one
            # step of the loop either way, so only this says the test holds what it claims.
            then = {
                "call returned": engine.returned.is_set(),
                "first answered": first.done(),
                "calls begun": list(engine.batches),
            }
            engine.release.set()
            return await caller_outcomes([first, *queued]), refused, then
        finally:
            engine.release.set()
            await asyncio.wait_for(pipeline.aclose(), BOUND_S)

    scored, refused, then = run(main())
    assert then == {"call returned": False, "first answered": False, "calls begun": [1]}
    assert isinstance(refused, UnavailableError), refused
    assert "busy: 2 photos are already waiting" in refused.message
    assert "nothing was stored" in refused.message
    # Each its own, none lost.
    assert [s.photo_sha256 for s in scored] == [a.decoded.sha256 for a in analyses[:3]]


def test_an_upload_at_a_full_queue_is_a_503_and_stores_nothing(
    make_service,
    model_dir,
    monkeypatch,
):
    service = make_service(
        model_dir=model_dir,
        batching={"max_batch": 1, "max_wait_ms": 0, "max_queued": 1, "score_timeout_s": 30},
    )
    service.create_family("F1")
    pipeline = service.services.pipeline
    to_item, queued = pipeline._score_item, threading.Event()

    def item_then_queued(analysis):  # type: ignore[no-untyped-def]
        try:
            return to_item(analysis)
        finally:
            queued.set()  # submitted in the same step of the event loop: queued before 3

    answers: dict[int, object] = {}

    def upload(seed: int) -> None:
        answers[seed] = service.upload("F1", jpeg(seed))

    threads = [threading.Thread(target=upload, args=(seed,)) for seed in (1, 2)]
    try:
        with hung_model(service, monkeypatch) as model:
            threads[0].start()
            # Upload 1 is in the model: after its decode, quality gate and hashes, which on a
            # loaded machine took longer than the batcher's bound.
            assert model.started.wait(UPLOAD_REACHES_MODEL_S)
            monkeypatch.setattr(pipeline, "_score_item", item_then_queued)
            threads[1].start()
            assert queued.wait(UPLOAD_REACHES_MODEL_S)
            refused = service.upload("F1", jpeg(3))
    finally:
        for thread in threads:
            thread.join(BOUND_S)
    assert refused.status_code == 503, refused.text
    # When to send it again (serving.pipeline.BUSY_RETRY_AFTER_S), shorter than a timeout's.
    assert refused.headers.get("Retry-After") == str(BUSY_RETRY_AFTER_S) and BUSY_RETRY_AFTER_S < 30
    error = refused.json()
    assert error["code"] == "unavailable" and "1 photos are already waiting" in error["message"]
    assert [answers[seed].status_code for seed in (1, 2)] == [201, 201]  # type: ignore[attr-defined]
    listed = service.client.get("/families/F1/photos", headers=service.headers("inspector"))
    assert {p["sha256"] for p in listed.json()} == {
        answers[seed].json()["sha256"]  # type: ignore[attr-defined]
        for seed in (1, 2)
    }
    refused_sha256 = hashlib.sha256(jpeg(3)).hexdigest()
    store = service.services.settings.store_dir
    assert not [p for p in store.rglob("*") if refused_sha256 in p.name]  # its file neither


# --- a worker that dies ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["async", "thread"])
@pytest.mark.parametrize(
    ("error", "name"), list(zip(FATAL, FATAL_NAMES, strict=True)), ids=["interrupt", "exit", "odd"]
)
def test_a_batch_function_dying_of_a_non_exception_names_it_and_refuses_later_work(
    error, name, kind
):
    # KeyboardInterrupt and SystemExit left the batcher and stopped the whole event loop; any
    # other such error reached the callers as "closed" and a later submission quietly started
    # a new worker.
    def fail(items: list[int]) -> list[int]:
        if 2 in items:
            raise error
        return [10 * x for x in items]

    async def fail_async(items: list[int]) -> list[int]:
        return fail(items)

    async def main() -> tuple[list[object], object]:
        batcher: MicroBatcher[int, int] = MicroBatcher(
            fail_async if kind == "async" else fail, max_batch=2, max_wait_ms=0
        )
        try:
            callers = [asyncio.create_task(batcher.submit(i)) for i in (1, 2, 3)]  # [1, 2], [3]
            outcomes = await caller_outcomes(callers)
            later = asyncio.create_task(batcher.submit(4))
            done, _ = await asyncio.wait([later], timeout=BOUND_S)
            return outcomes, later.exception() if done else "still waiting"
        finally:
            await asyncio.wait_for(batcher.aclose(), BOUND_S)

    outcomes, later = _run_contained(main())
    for outcome in [*outcomes, later]:
        assert isinstance(outcome, BatcherStoppedError), outcomes
        assert f"the batch function raised {name}" in str(outcome), outcome


def test_the_pipeline_names_a_dead_model_worker_instead_of_a_shutdown():
    def interrupted(inputs, *, sha256s, quality):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    pipeline = _pipeline(_fake_engine(interrupted))
    analyses = [pipeline.analyse(jpeg(i, size=(64, 48))) for i in range(2)]

    async def main() -> list[object]:
        outcomes: list[object] = []
        try:  # the first dies with the worker; the second comes later, and is refused
            for analysis in analyses:
                outcomes += await caller_outcomes([asyncio.create_task(pipeline.score(analysis))])
            return outcomes
        finally:
            await asyncio.wait_for(pipeline.aclose(), BOUND_S)

    for refused in _run_contained(main()):
        assert isinstance(refused, UnavailableError), refused
        assert "photo scoring has stopped" in refused.message
        assert "KeyboardInterrupt" in refused.message and "restart" in refused.message
        assert "shutting down" not in refused.message
