"""Review 32: `MicroBatcher.late_calls` may count 2 when one batcher serves two event loops in
turn (tests do; the service's batcher serves the one loop of its lifespan, closed as it ends).
That is no miscount: a call cut off by its loop's end still runs on its thread (a hung model
cannot be stopped, so it counts until it returns), and the next loop's worker starts a call of
its own beside it. Each counts while its model call really runs, and not after."""

from __future__ import annotations

import asyncio
import threading

from tests.vision.batcher_helpers import BOUND_S
from vision.batcher import MicroBatcher


def test_a_call_cut_off_by_its_loop_and_the_next_loops_call_both_count_while_they_run():
    entered = threading.Semaphore(0)
    release = threading.Event()
    running: list[float] = []  # the items of the model calls begun and not returned

    def hung(items: list[float]) -> list[float]:
        running.extend(items)
        entered.release()
        release.wait(4 * BOUND_S)
        for item in items:
            running.remove(item)
        return items

    batcher = MicroBatcher(hung, max_batch=1, max_wait_ms=0, deadline_of=lambda item: item)
    callers: list[asyncio.Task[float]] = []

    async def one_upload(deadline: float) -> None:
        """A call begun in this loop; the loop's end (asyncio.run) cuts it off."""
        callers.append(asyncio.create_task(batcher.submit(deadline)))
        assert await asyncio.to_thread(entered.acquire, timeout=BOUND_S)

    try:
        asyncio.run(one_upload(10.0))
        after_one = batcher.late_calls(15.0)
        asyncio.run(one_upload(20.0))
        seen = {
            "calls running": sorted(running),
            "late at 15": batcher.late_calls(15.0),
            "late at 25": batcher.late_calls(25.0),
            "late for at 25": batcher.late_for_s(25.0),
        }
    finally:
        release.set()
    assert [caller.cancelled() for caller in callers] == [True, True]  # each loop's end
    assert after_one == 1
    assert seen == {
        "calls running": [10.0, 20.0],  # two model calls really run at once
        "late at 15": 1,
        "late at 25": 2,
        "late for at 25": 15.0,
    }
    assert batcher.wait_until_idle(BOUND_S)  # both returned: neither counts any more
    assert batcher.late_calls(25.0) == 0 and not running
