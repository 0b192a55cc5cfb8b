"""MicroBatcher, review 20: a batch function that raises CancelledError, and callers that left
while queued taking batch slots from those still waiting."""

from __future__ import annotations

import asyncio
import concurrent.futures

import pytest

from tests.aio import run
from tests.vision.batcher_helpers import BOUND_S, caller_outcomes
from vision.batcher import MicroBatcher


async def _raises_cancelled(items: list[int]) -> list[int]:
    if 2 in items:  # e.g. awaiting a future that something else cancelled
        raise asyncio.CancelledError
    return [10 * x for x in items]


def _thread_raises_cancelled(items: list[int]) -> list[int]:
    if 2 in items:  # e.g. waiting on an executor that was shut down with cancel_futures
        raise concurrent.futures.CancelledError
    return [10 * x for x in items]


@pytest.mark.parametrize(
    "engine", [_raises_cancelled, _thread_raises_cancelled], ids=["async", "thread"]
)
def test_a_batch_function_raising_cancelled_error_fails_only_its_caller(engine):
    # The CancelledError ended the batch as if cancelled: the worker stopped as though aclose
    # had cancelled it, and every caller of the batch waited forever.
    async def main() -> tuple[list[object], int]:
        batcher: MicroBatcher[int, int] = MicroBatcher(engine, max_batch=4, max_wait_ms=1)
        try:
            callers = [asyncio.create_task(batcher.submit(i)) for i in range(4)]
            outcomes = await caller_outcomes(callers)
            return outcomes, await asyncio.wait_for(batcher.submit(5), BOUND_S)
        finally:
            await asyncio.wait_for(batcher.aclose(), BOUND_S)

    outcomes, later = run(main())
    assert [outcomes[0], outcomes[1], outcomes[3]] == [0, 10, 30], outcomes
    assert isinstance(outcomes[2], RuntimeError) and "CancelledError" in str(outcomes[2])
    assert later == 50  # the worker still serves


def test_a_cancelled_error_result_is_an_error_not_a_cancellation_of_its_caller():
    def engine(items: list[int]) -> list[object]:
        return [asyncio.CancelledError() if x == 1 else x for x in items]

    async def main() -> list[object]:
        async with MicroBatcher(engine, max_batch=4, max_wait_ms=1) as batcher:
            callers = [asyncio.create_task(batcher.submit(i)) for i in range(3)]
            _, pending = await asyncio.wait(callers, timeout=BOUND_S)
            assert not pending
            return ["cancelled" if c.cancelled() else c.exception() or c.result() for c in callers]

    outcomes = run(main())
    assert [outcomes[0], outcomes[2]] == [0, 2], outcomes
    assert isinstance(outcomes[1], RuntimeError), outcomes


def test_a_caller_that_left_while_queued_takes_no_slot_in_the_next_batch():
    # The worker counted requests whose callers had gone towards max_batch, and the first of
    # them set the batch's deadline: here "b" ran alone and "c" waited out the whole max_wait
    # for a partner instead of sharing b's batch.
    calls: list[list[str]] = []

    async def main() -> list[object]:
        started, release = asyncio.Event(), asyncio.Event()

        async def engine(items: list[str]) -> list[str]:
            calls.append(list(items))
            started.set()
            await release.wait()
            return [x.upper() for x in items]

        batcher: MicroBatcher[str, str] = MicroBatcher(engine, max_batch=2, max_wait_ms=60_000)
        try:
            running = [asyncio.create_task(batcher.submit(x)) for x in ("x", "y")]
            await asyncio.wait_for(started.wait(), BOUND_S)  # [x, y] runs until released
            gone, *waiting = [asyncio.create_task(batcher.submit(x)) for x in ("a", "b", "c")]
            while batcher._queue is None or batcher._queue.qsize() < 3:
                await asyncio.sleep(0)  # let the three queue behind the running batch
            gone.cancel()
            await asyncio.wait([gone])
            release.set()
            return await caller_outcomes([*running, *waiting])
        finally:
            release.set()
            await asyncio.wait_for(batcher.aclose(), BOUND_S)

    assert run(main()) == ["X", "Y", "B", "C"]
    assert calls == [["x", "y"], ["b", "c"]]
