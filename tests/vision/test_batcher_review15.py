"""MicroBatcher, review 15: StopIteration, coroutine-returning callables, a closer that gives up,
closing in a later event loop, and the batch-size record of a long-running service."""

from __future__ import annotations

import asyncio

from tests.aio import run
from tests.vision.batcher_helpers import BOUND_S, caller_outcomes
from vision.batcher import BATCH_SIZES_KEPT, MicroBatcher
from vision.batcher_errors import BatcherClosedError


def test_a_batch_function_raising_stopiteration_fails_only_its_caller():
    # A Future refuses StopIteration: the thread's outcome never reached the worker, so every
    # caller and aclose waited forever.
    def engine(items: list[int]) -> list[int]:
        if 2 in items:
            return [next(iter(()))]  # a bug inside the batch function, for this photo only
        return [10 * x for x in items]

    async def main() -> list[object]:
        batcher = MicroBatcher(engine, max_batch=4, max_wait_ms=1)
        callers = [asyncio.create_task(batcher.submit(i)) for i in range(4)]
        try:
            return await caller_outcomes(callers)
        finally:
            await asyncio.wait_for(batcher.aclose(), BOUND_S)

    outcomes = run(main())
    assert outcomes[:2] == [0, 10] and outcomes[3] == 30, outcomes
    assert isinstance(outcomes[2], RuntimeError) and "StopIteration" in str(outcomes[2])


def test_a_stopiteration_result_is_an_error_for_its_caller_only():
    # Set on a Future it raised TypeError in the worker, which died and failed the callers
    # whose results came after it with BatcherClosedError.
    def engine(items: list[int]) -> list[object]:
        return [StopIteration() if x == 1 else x for x in items]

    async def main() -> tuple[list[object], object]:
        batcher: MicroBatcher[int, object] = MicroBatcher(engine, max_batch=4, max_wait_ms=1)
        outcomes = await caller_outcomes([asyncio.create_task(batcher.submit(i)) for i in range(4)])
        later = await asyncio.wait_for(batcher.submit(7), BOUND_S)  # the worker still serves
        await asyncio.wait_for(batcher.aclose(), BOUND_S)
        return outcomes, later

    outcomes, later = run(main())
    assert [outcomes[0], *outcomes[2:]] == [0, 2, 3], outcomes
    assert isinstance(outcomes[1], RuntimeError) and not isinstance(outcomes[1], BatcherClosedError)
    assert later == 7


def test_a_plain_callable_returning_a_coroutine_is_awaited():
    # BatchFn allows a callable that returns an awaitable; it was run in a thread and its
    # coroutine was listed ("'coroutine' object is not iterable") for every caller.
    async def engine(items: list[int]) -> list[int]:
        return [2 * x for x in items]

    async def main() -> list[object]:
        batcher: MicroBatcher[int, int] = MicroBatcher(
            lambda items: engine(items), max_batch=4, max_wait_ms=1
        )
        async with batcher as b:
            return await caller_outcomes([asyncio.create_task(b.submit(i)) for i in range(3)])

    assert run(main()) == [0, 2, 4]


def test_a_closer_that_gives_up_still_answers_the_queued_callers():
    # aclose under a timeout shorter than the running batch: the queued callers were only
    # failed after that batch, by a closer that was no longer there, so they waited forever.
    async def main() -> list[object]:
        started, release = asyncio.Event(), asyncio.Event()

        async def slow_engine(items: list[int]) -> list[int]:
            started.set()
            await release.wait()
            return [10 * x for x in items]

        batcher: MicroBatcher[int, int] = MicroBatcher(slow_engine, max_batch=1, max_wait_ms=0)
        callers = [asyncio.create_task(batcher.submit(i)) for i in range(3)]
        await asyncio.wait_for(started.wait(), BOUND_S)  # item 0 runs; 1 and 2 queue
        closing = asyncio.create_task(batcher.aclose())
        await asyncio.wait([closing], timeout=0.05)
        closing.cancel()  # the closer gives up while the batch still runs
        release.set()
        await asyncio.wait([closing], timeout=BOUND_S)
        return await caller_outcomes(callers)

    outcomes = run(main())
    assert outcomes[0] == 0  # the running batch still answers its caller
    assert all(isinstance(o, BatcherClosedError) for o in outcomes[1:]), outcomes


def test_close_in_a_later_event_loop_than_the_one_served():
    # A command that scored in one asyncio.run and closes in another (serving/app.py
    # close_services): aclose waited on the finished worker of the closed loop and raised
    # "Event loop is closed".
    batcher: MicroBatcher[str, str] = MicroBatcher(lambda items: items, max_batch=2, max_wait_ms=1)
    assert run(asyncio.wait_for(batcher.submit("a"), BOUND_S)) == "a"
    run(asyncio.wait_for(batcher.aclose(), BOUND_S))

    async def refused() -> object:
        try:
            return await batcher.submit("b")
        except BatcherClosedError as exc:
            return exc

    assert isinstance(run(refused()), BatcherClosedError)


def test_a_cancelled_caller_in_a_running_batch_leaves_the_others_and_the_worker_intact():
    async def main() -> tuple[list[object], int]:
        started, release = asyncio.Event(), asyncio.Event()

        async def slow_engine(items: list[int]) -> list[int]:
            started.set()
            await release.wait()
            return [x + 100 for x in items]

        async with MicroBatcher(slow_engine, max_batch=3, max_wait_ms=0) as batcher:
            callers = [asyncio.create_task(batcher.submit(i)) for i in range(3)]
            await asyncio.wait_for(started.wait(), BOUND_S)
            callers[1].cancel()  # the client left while its photo was being scored
            release.set()
            _, pending = await asyncio.wait(callers, timeout=BOUND_S)
            assert not pending
            outcomes: list[object] = ["cancelled" if c.cancelled() else c.result() for c in callers]
            return outcomes, await asyncio.wait_for(batcher.submit(5), BOUND_S)

    outcomes, later = run(main())
    assert outcomes == [100, "cancelled", 102]
    assert later == 105


def test_the_batch_size_record_stays_bounded():
    # One entry per batch, forever: a service's memory grew with every upload it scored.
    async def engine(items: list[int]) -> list[int]:
        return items

    async def main() -> list[int]:
        async with MicroBatcher(engine, max_batch=1, max_wait_ms=0) as batcher:
            for i in range(2 * BATCH_SIZES_KEPT + 10):
                await asyncio.wait_for(batcher.submit(i), BOUND_S)
            return batcher.batch_sizes

    sizes = run(main())
    assert BATCH_SIZES_KEPT <= len(sizes) <= 2 * BATCH_SIZES_KEPT
    assert set(sizes) == {1}
