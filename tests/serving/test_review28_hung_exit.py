"""Review 28: a model call that never returns cannot keep the service from exiting. The calls
ran on threads the interpreter joins at exit (the unbatched pool's ThreadPoolExecutor, the
micro-batcher's `asyncio.to_thread`), and the batcher's `aclose` waited for its running call
without a bound, so a stop needed SIGKILL. Now the pipeline's `aclose` waits for calls running
normally, abandons (and logs) one past its uploads' timeout, and the process exits. A call cut
off by the end of its event loop still counts as running until the model returns, and /health
says plainly how many calls run past their uploads' timeout, and for how long."""

from __future__ import annotations

import asyncio
import re
import threading
import time

import pytest

from serving.api.routes.system import _not_answering
from serving.model_calls import ModelCalls
from serving.pipeline import PhotoPipeline
from tests.serving import scoring_fixtures
from tests.serving.helpers import HungEngine, hung_model, jpeg
from tests.serving.subprocess_runs import run_script
from tests.vision.batcher_helpers import BOUND_S, caller_outcomes
from vision.batcher import MicroBatcher

database_url = scoring_fixtures.database_url  # SQLite only: overrides the folder's

# Started as a process of its own: a pipeline whose model call blocks for ever, one upload
# refused at its timeout, the pipeline closed, then the end of the script.
_HUNG_SERVICE = """
import asyncio, logging, sys, threading
from types import SimpleNamespace
import numpy as np
from serving.pipeline import PhotoPipeline

logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
never = threading.Event()

class Engine:
    artifact = SimpleNamespace(preprocessing=SimpleNamespace(size=8))
    model_version = "hung"
    def prepare(self, pixels):
        return np.zeros((3, 8, 8), np.float32)
    def score_inputs(self, inputs, *, sha256s, quality=None):
        never.wait()

pipeline = PhotoPipeline(
    max_pixels=10_000, decode_short_side_px=8, engine=Engine(), batching=sys.argv[1] == "on",
    max_batch=2, max_wait_ms=0.0, score_timeout_s=0.2, max_queued=4,
)
photo = SimpleNamespace(model_input=np.zeros((3, 8, 8), np.float32), quality=None,
                        decoded=SimpleNamespace(sha256="0" * 64))

async def main():
    try:
        await pipeline.score(photo)
    except Exception as error:
        print("refused:", error, flush=True)
    await pipeline.aclose()
    print("closed", flush=True)

asyncio.run(main())
"""

EXIT_BOUND_S = 60.0  # it exits in about a second; before, it never did


@pytest.mark.parametrize("batching", ["on", "off"], ids=["micro-batcher", "one call each"])
def test_a_process_whose_model_call_hangs_exits_after_closing_and_logs_it(batching):
    ran = run_script(_HUNG_SERVICE, batching, bound_s=EXIT_BOUND_S)
    assert ran.returncode == 0, ran.stderr
    assert "refused: the photo model did not answer within 0.2 s" in ran.stdout
    assert "closed" in ran.stdout
    assert re.search(r"WARNING:.*abandoned", ran.stderr), ran.stderr


@pytest.mark.parametrize("batching", [True, False], ids=["micro-batcher", "one call each"])
def test_closing_waits_for_a_call_running_within_its_timeout_and_its_upload_is_scored(
    batching, caplog
):
    engine = HungEngine()
    pipeline = PhotoPipeline(
        max_pixels=10_000_000, decode_short_side_px=64, engine=engine,  # type: ignore[arg-type]
        batching=batching, max_batch=2, max_wait_ms=0.0, score_timeout_s=4 * BOUND_S,
        max_queued=4,
    )  # fmt: skip
    analysis = pipeline.analyse(jpeg(1))

    async def main() -> tuple[bool, list[object], bool]:
        try:
            upload = asyncio.create_task(pipeline.score(analysis))
            assert await asyncio.to_thread(engine.called.wait, BOUND_S)
            closing = asyncio.create_task(pipeline.aclose())
            done, _ = await asyncio.wait([closing], timeout=0.5)
        finally:
            engine.release.set()
        await asyncio.wait_for(closing, BOUND_S)
        returned = engine.returned.is_set()  # when closing ended
        return bool(done), await caller_outcomes([upload]), returned

    closed_early, (score,), returned_before_closed = asyncio.run(main())
    assert not closed_early  # it waited for the call, which had not reached its timeout
    assert returned_before_closed
    assert getattr(score, "photo_sha256", None) == analysis.decoded.sha256, score
    assert "abandoned" not in caplog.text


def test_a_batch_cut_off_by_the_end_of_its_event_loop_counts_until_the_model_returns():
    # The loop's end cancelled the batch's task, and the call was counted as ended: /health
    # and /metrics read no late call while the model thread still hung.
    started, release = threading.Event(), threading.Event()

    def hung(items: list[float]) -> list[float]:
        started.set()
        release.wait(4 * BOUND_S)
        return items

    batcher = MicroBatcher(hung, max_batch=2, max_wait_ms=0, deadline_of=lambda item: item)
    loop = asyncio.new_event_loop()
    try:
        caller = loop.create_task(batcher.submit(10.0))
        assert loop.run_until_complete(asyncio.to_thread(started.wait, BOUND_S))
        tasks = asyncio.all_tasks(loop)
        for task in tasks:  # what asyncio.run does as it ends
            task.cancel()
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        assert caller.cancelled()
        loop.close()
        cut_off = batcher.late_calls(15.0), batcher.late_for_s(15.0), batcher.late_calls(5.0)
        idle_while_hung = batcher.wait_until_idle(0.0)
    finally:
        release.set()
    assert cut_off == (1, 5.0, 0)
    assert not idle_while_hung
    assert batcher.wait_until_idle(BOUND_S)  # the model returned: the call has ended
    assert batcher.late_calls(15.0) == 0


def test_unbatched_calls_count_until_the_model_returns_and_the_oldest_is_measured():
    release = threading.Event()
    calls = ModelCalls(workers=3, max_waiting=None)
    both = threading.Barrier(3)

    def hung() -> str:
        both.wait(BOUND_S)
        release.wait(4 * BOUND_S)
        return "scored"

    base = time.monotonic()  # both deadlines passed: as the pipeline's, in time.monotonic()
    loop = asyncio.new_event_loop()
    try:
        callers = [loop.create_task(calls.run(hung, deadline=base - d)) for d in (100.0, 70.0)]
        loop.run_until_complete(asyncio.to_thread(both.wait, BOUND_S))
        for caller in callers:  # the loop ends: its tasks are cancelled
            caller.cancel()
        loop.run_until_complete(asyncio.gather(*callers, return_exceptions=True))
        loop.close()
        seen = [calls.counts(base - 80.0), calls.late_for_s(base - 80.0), calls.counts(base)]
        seen += [calls.late_for_s(base), calls.late_for_s(base - 101.0)]
        calls.close()
        # Not waited for: both are past their deadlines (without a bound, it would wait for
        # the model until `release`, and find none running).
        abandoned = calls.wait_until_settled(None)
    finally:
        release.set()
    assert seen == [(0, 1), pytest.approx(20.0), (0, 2), pytest.approx(100.0), 0.0]
    assert abandoned == 2
    assert calls.wait_until_idle(BOUND_S)  # the model returned
    assert calls.wait_until_settled(0.0) == 0


def test_calls_with_a_free_thread_do_not_count_as_waiting_while_it_starts():
    # Counted as waiting until their thread had started, two calls at once on two free
    # threads could refuse the second as "busy" (max_queued 1).
    release = threading.Event()
    calls = ModelCalls(workers=2, max_waiting=1)

    async def main() -> list[tuple[int, int]]:
        try:
            callers = [asyncio.create_task(calls.run(release.wait, deadline=None))]
            callers.append(asyncio.create_task(calls.run(release.wait, deadline=None)))
            await asyncio.sleep(0)  # both queued; their threads may not have started yet
            seen = [calls.counts(time.monotonic())]
            callers.append(asyncio.create_task(calls.run(release.wait, deadline=None)))
            await asyncio.sleep(0)
            seen.append(calls.counts(time.monotonic()))  # no thread free for the third
        finally:
            release.set()
        await caller_outcomes(callers)
        return seen

    assert asyncio.run(main()) == [(0, 0), (1, 0)]


def test_the_health_text_counts_the_calls_past_their_timeout_and_the_oldest_one():
    assert _not_answering(1, 2, 30.0, 41.4).startswith(
        "the photo model is not answering: 1 model call has run past its upload's timeout "
        "(30 s, score_timeout_s) and not returned (past it for 41 s); the model runs 2 calls "
        "at once: uploads are refused once all are late"
    )
    assert _not_answering(2, 4, 30.0, 41.4).startswith(
        "the photo model is not answering: 2 model calls have run past their uploads' "
        "timeout (30 s, score_timeout_s) and not returned (the oldest past it for 41 s); "
    )
    assert _not_answering(3, 3, 30.0, 7.0).startswith(
        "the photo model is not answering: all 3 of its calls have run past their uploads' "
        "timeout (30 s, score_timeout_s) and not returned (the oldest past it for 7 s); "
        "uploads are refused until one returns"
    )


def test_health_names_one_late_call_of_two_plainly(
    make_service,
    model_dir,
    monkeypatch,
):
    # It read "1 of the 2 calls it runs at once have run past their uploads' timeout".
    service = make_service(
        model_dir=model_dir,
        batching={"enabled": False, "max_batch": 2, "max_wait_ms": 1, "score_timeout_s": 0.5},
    )
    service.create_family("F1")
    with hung_model(service, monkeypatch):
        refused = service.upload("F1", jpeg(1))
        body = service.client.get("/health").json()
    assert refused.status_code == 503, refused.text
    (problem,) = [p for p in body["problems"] if "not answering" in p]
    assert re.search(
        r"not answering: 1 model call has run past its upload's timeout \(0\.5 s, "
        r"score_timeout_s\) and not returned \(past it for \d+ s\); the model runs 2 calls at "
        r"once: uploads are refused once all are late",
        problem,
    ), problem
    assert body["status"] == "degraded"
