"""The unbatched path's model calls: a bounded pool of threads of the pipeline's own.

With batching off (configs/serving.yaml `batching.enabled`), each upload's model call runs here
(serving.pipeline): at most `workers` at once, `max_waiting` more waiting. A hung model cannot
take a new thread for every upload, nor the worker threads the routes' database and store work
needs.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

_R = TypeVar("_R")


class ModelCalls:
    """The model calls of the unbatched path, each on one of `workers` threads of its own, with
    at most `max_waiting` more waiting for a thread (None: no bound).

    Not anyio's shared worker threads: the routes' database and store work needs their tokens,
    and a call its upload's timeout let go gave its token back while its thread ran on, so a
    hung model took a new thread for every upload. Here a call keeps its thread, and counts,
    until the model really returns; a waiting call whose upload leaves never runs.
    """

    def __init__(self, *, workers: int, max_waiting: int | None) -> None:
        self.workers = workers
        self.max_waiting = max_waiting
        self.closed = False
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="photo-model")
        self._changed = threading.Condition()
        self._waiting = 0
        # The running calls, by thread: their upload's deadline (time.monotonic(), so that
        # /health can ask from its own thread), None for none.
        self._deadlines: dict[int, float | None] = {}

    def counts(self, now: float) -> tuple[int, int]:
        """Calls waiting for a thread, and calls running past their upload's deadline at `now`
        (time.monotonic()). Safe to ask from any thread."""
        with self._changed:
            late = sum(d is not None and now >= d for d in self._deadlines.values())
            return self._waiting, late

    async def run(self, fn: Callable[[], _R], *, deadline: float | None) -> _R:
        with self._changed:
            self._waiting += 1
        future = self._pool.submit(self._run, fn, deadline)
        future.add_done_callback(self._dropped)
        return await asyncio.wrap_future(future)

    def _run(self, fn: Callable[[], _R], deadline: float | None) -> _R:
        thread = threading.get_ident()
        with self._changed:
            self._waiting -= 1
            self._deadlines[thread] = deadline
        try:
            return fn()
        finally:
            with self._changed:
                del self._deadlines[thread]
                self._changed.notify_all()

    def _dropped(self, future: Future[Any]) -> None:
        if future.cancelled():  # its upload left while it waited: it never ran
            with self._changed:
                self._waiting -= 1

    def wait_until_idle(self, timeout_s: float) -> bool:
        """Block until no call runs (a hung one has returned); False after `timeout_s`."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._deadlines, timeout_s)

    def close(self) -> int:
        """Take no more calls; those waiting still run. How many run now (none can be stopped)."""
        self.closed = True
        self._pool.shutdown(wait=False)
        with self._changed:
            return len(self._deadlines)
