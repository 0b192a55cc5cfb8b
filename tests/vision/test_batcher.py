"""MicroBatcher: batching by size and wait, order, and errors reaching only their caller."""

from __future__ import annotations

import asyncio

import pytest

from tests.aio import run
from tests.vision.batcher_helpers import BOUND_S, caller_outcomes
from vision.batcher import MicroBatcher
from vision.batcher_errors import BatcherClosedError


def test_each_caller_gets_its_own_result_under_concurrency():
    calls: list[list[int]] = []

    def square(items: list[int]) -> list[int]:
        calls.append(list(items))
        return [x * x for x in items]

    async def main() -> list[int]:
        async with MicroBatcher(square, max_batch=8, max_wait_ms=50) as batcher:
            return await asyncio.gather(*(batcher.submit(i) for i in range(50)))

    assert run(main()) == [i * i for i in range(50)]
    assert max(len(c) for c in calls) == 8  # full batches formed
    assert [x for c in calls for x in c] == list(range(50))  # arrival order preserved


def test_partial_batch_runs_after_max_wait():
    async def double(items: list[int]) -> list[int]:
        return [2 * x for x in items]

    async def main() -> tuple[list[int], list[int]]:
        batcher = MicroBatcher(double, max_batch=64, max_wait_ms=5)
        results = await asyncio.gather(*(batcher.submit(i) for i in range(3)))
        await batcher.aclose()
        return list(results), batcher.batch_sizes

    results, sizes = run(main())
    assert results == [0, 2, 4]
    assert sizes == [3]  # never reached 64: the wait bound released it


def test_batch_error_reaches_only_the_failing_caller():
    def fragile(items: list[int]) -> list[int]:
        if 13 in items:
            raise ValueError("unlucky item")
        return [x + 1 for x in items]

    async def main() -> list[object]:
        async with MicroBatcher(fragile, max_batch=8, max_wait_ms=20) as batcher:
            return await asyncio.gather(
                *(batcher.submit(i) for i in range(20)), return_exceptions=True
            )

    results = run(main())
    assert isinstance(results[13], ValueError)
    assert [r for i, r in enumerate(results) if i != 13] == [i + 1 for i in range(20) if i != 13]


def test_exception_results_are_raised_to_their_caller():
    def per_item(items: list[int]) -> list[object]:
        return [KeyError(x) if x % 5 == 0 else x for x in items]

    async def main() -> list[object]:
        async with MicroBatcher(per_item, max_batch=4, max_wait_ms=1) as batcher:
            return await asyncio.gather(
                *(batcher.submit(i) for i in range(10)), return_exceptions=True
            )

    results = run(main())
    assert [type(r) for r in results[::5]] == [KeyError, KeyError]
    assert [r for i, r in enumerate(results) if i % 5] == [i for i in range(10) if i % 5]


def test_wrong_result_count_is_an_error_for_the_callers():
    async def main() -> None:
        async with MicroBatcher(lambda items: [], max_batch=2, max_wait_ms=1) as batcher:
            await batcher.submit(1)

    with pytest.raises(RuntimeError, match="0 results for 1"):
        run(main())


def test_closed_batcher_refuses_new_work():
    async def main() -> None:
        batcher = MicroBatcher(lambda items: items, max_batch=2, max_wait_ms=1)
        assert await batcher.submit("a") == "a"
        await batcher.aclose()
        await batcher.submit("b")

    with pytest.raises(BatcherClosedError):
        run(main())


def test_cancelled_caller_does_not_break_the_others():
    gate = asyncio.Event

    async def main() -> list[int]:
        release = gate()

        async def slow(items: list[int]) -> list[int]:
            await release.wait()
            return items

        async with MicroBatcher(slow, max_batch=1, max_wait_ms=0) as batcher:
            first = asyncio.create_task(batcher.submit(1))
            doomed = asyncio.create_task(batcher.submit(2))
            last = asyncio.create_task(batcher.submit(3))
            await asyncio.sleep(0)
            doomed.cancel()
            release.set()
            return [await first, await last]

    assert run(main()) == [1, 3]


@pytest.mark.parametrize(
    "kwargs", [{"max_batch": 0, "max_wait_ms": 1}, {"max_batch": 1, "max_wait_ms": -1}]
)
def test_bad_settings_refused(kwargs):
    with pytest.raises(ValueError):
        MicroBatcher(lambda items: items, **kwargs)


# --- closing with callers still waiting: every one is answered --------------------------------


def test_close_lets_the_running_batch_finish_and_fails_the_queued():
    async def main() -> list[object]:
        started, release = asyncio.Event(), asyncio.Event()

        async def slow_engine(items: list[int]) -> list[int]:
            started.set()
            await release.wait()
            return [10 * x for x in items]

        batcher = MicroBatcher(slow_engine, max_batch=2, max_wait_ms=0)
        callers = [asyncio.create_task(batcher.submit(i)) for i in range(5)]
        await asyncio.wait_for(started.wait(), BOUND_S)  # batch [0, 1] runs; 2, 3, 4 queue
        closing = asyncio.create_task(batcher.aclose())
        await asyncio.sleep(0)  # let aclose cancel the worker while the batch still runs
        release.set()
        await asyncio.wait_for(closing, BOUND_S)
        return await caller_outcomes(callers)

    outcomes = run(main())
    assert outcomes[:2] == [0, 10]
    assert all(isinstance(o, BatcherClosedError) for o in outcomes[2:]), outcomes


def test_close_answers_a_caller_the_worker_is_collecting_a_batch_for():
    async def main() -> list[object]:
        batcher: MicroBatcher[int, int] = MicroBatcher(
            lambda items: items, max_batch=8, max_wait_ms=60_000
        )
        caller = asyncio.create_task(batcher.submit(1))

        async def taken() -> None:  # the worker took it and waits up to a minute for more
            while batcher._queue is None or not batcher._queue.empty():
                await asyncio.sleep(0)

        await asyncio.wait_for(taken(), BOUND_S)
        await asyncio.wait_for(batcher.aclose(), BOUND_S)
        return await caller_outcomes([caller])

    (outcome,) = run(main())
    assert isinstance(outcome, BatcherClosedError)


def test_a_worker_that_dies_answers_its_callers():
    class Stop(BaseException):
        """Not an Exception: the per-item retry does not catch it."""

    async def main() -> list[object]:
        async def dying_engine(items: list[int]) -> list[int]:
            raise Stop

        batcher: MicroBatcher[int, int] = MicroBatcher(dying_engine, max_batch=2, max_wait_ms=0)
        callers = [asyncio.create_task(batcher.submit(i)) for i in range(4)]
        outcomes = await caller_outcomes(callers)
        await asyncio.wait_for(batcher.aclose(), BOUND_S)
        return outcomes

    outcomes = run(main())
    assert all(isinstance(o, BatcherClosedError) for o in outcomes), outcomes
    assert "Stop" in str(outcomes[0])


def test_close_as_an_item_arrives_while_a_batch_is_collected_does_not_hang():
    # The worker holds item 1 and waits up to max_wait for more; item 2 arrives in the same
    # loop step as aclose. Waiting with asyncio.wait_for (Python 3.11) took the item and
    # swallowed aclose's cancel, so the worker lived on and aclose never returned.
    async def main() -> tuple[bool, list[object]]:
        batcher: MicroBatcher[int, int] = MicroBatcher(
            lambda items: items, max_batch=8, max_wait_ms=60_000
        )
        first = asyncio.create_task(batcher.submit(1))
        while batcher._queue is None or not batcher._queue.empty() or not batcher._taken:
            await asyncio.sleep(0)
        second = asyncio.create_task(batcher.submit(2))
        closing = asyncio.create_task(batcher.aclose())
        done, _ = await asyncio.wait([closing], timeout=BOUND_S)
        if not done:
            closing.cancel()
            if batcher._worker is not None:
                batcher._worker.cancel()  # let the test end
        outcomes = await caller_outcomes([first, second]) if done else []
        return bool(done), outcomes

    closed, outcomes = run(main())
    assert closed, "aclose hung"
    assert all(isinstance(o, BatcherClosedError) for o in outcomes), outcomes
