"""The unbatched path's model calls: a bounded pool of daemon threads of the pipeline's own.

With batching off (configs/serving.yaml `batching.enabled`), each upload's model call runs here
(serving.pipeline): at most `workers` at once, `max_waiting` more waiting. A hung model cannot
take a new thread for every upload, nor the worker threads the routes' database and store work
needs, nor hold the process's exit: the threads are daemon threads, and shutting down waits
for the calls only until they are late (`wait_until_settled`: vision.late_calls, the rule the
micro-batcher's calls follow too).
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from vision.late_calls import RunningCalls

_R = TypeVar("_R")


class ModelCalls:
    """The model calls of the unbatched path, each on one of `workers` threads of its own, with
    at most `max_waiting` more waiting for a thread (None: no bound).

    Not anyio's shared worker threads: the routes' database and store work needs their tokens,
    and a call its upload's timeout let go gave its token back while its thread ran on, so a
    hung model took a new thread for every upload. Here a call keeps its thread, and counts,
    until the model really returns; a waiting call whose upload leaves never runs.

    Not a ThreadPoolExecutor either: its threads are joined when the interpreter exits, so one
    hung call kept the process from ever ending (a stop needed SIGKILL). These threads are
    daemon threads; `wait_until_settled` says how many calls it leaves running.
    """

    def __init__(self, *, workers: int, max_waiting: int | None) -> None:
        self.workers = workers
        self.max_waiting = max_waiting
        self.closed = False
        self._changed = threading.Condition()
        self._queue: deque[tuple[Future[Any], Callable[[], Any]]] = deque()
        self._threads = 0  # started and not ended
        self._idle = 0  # of them, waiting for a call
        self._waiting = 0  # calls queued whose upload has not left
        # The running calls, by thread, with their upload's deadline (time.monotonic(), so
        # that /health can ask from its own thread; None for none), under `_changed`.
        self._running = RunningCalls(self._changed)

    def counts(self, now: float) -> tuple[int, int]:
        """Calls waiting for a thread (not those about to start on a free one), and calls running
        past their upload's deadline at `now` (time.monotonic()). Safe to ask from any thread."""
        with self._changed:
            free = self.workers - len(self._running)
            return max(0, self._waiting - free), self._running.late(now)

    def late_for_s(self, now: float) -> float:
        """How long, at `now`, the call furthest past its upload's deadline has been past it;
        0.0 when none is. Safe to ask from any thread."""
        return self._running.late_for_s(now)

    async def run(self, fn: Callable[[], _R], *, deadline: float | None) -> _R:
        future: Future[_R] = Future()
        with self._changed:
            if self.closed:
                raise RuntimeError("the model calls are closed: they take no more")
            self._queue.append((future, lambda: self._call(fn, deadline)))
            self._waiting += 1
            start = len(self._queue) > self._idle and self._threads < self.workers
            self._threads += start
            self._changed.notify_all()
        if start:
            threading.Thread(target=self._serve, name="photo-model", daemon=True).start()
        future.add_done_callback(self._dropped)
        return await asyncio.wrap_future(future)

    def _serve(self) -> None:
        """One thread's loop: the queued calls, one at a time, until closed and none is left."""
        while True:
            with self._changed:
                self._idle += 1
                while not self._queue and not self.closed:
                    self._changed.wait()
                self._idle -= 1
                if not self._queue:
                    self._threads -= 1
                    return
                future, call = self._queue.popleft()
            _run_one(future, call)
            del future, call  # waiting for the next call, this one's result is not kept

    def _call(self, fn: Callable[[], _R], deadline: float | None) -> _R:
        thread = threading.get_ident()
        with self._changed:
            self._waiting -= 1
            self._running.start(thread, (deadline,))
        try:
            return fn()
        finally:  # before its caller hears: the counts are right when it resumes
            self._running.end(thread)

    def _dropped(self, future: Future[Any]) -> None:
        if future.cancelled():  # its upload left while it waited: it never ran
            with self._changed:
                self._waiting -= 1
                self._changed.notify_all()

    def wait_until_idle(self, timeout_s: float) -> bool:
        """Block until no call runs (a hung one has returned); False after `timeout_s`."""
        return self._running.wait_until_idle(timeout_s)

    def close(self) -> int:
        """Take no more calls; those waiting still run. How many run now."""
        with self._changed:
            self.closed = True
            self._changed.notify_all()  # idle threads end
            return len(self._running)

    def wait_until_settled(self, timeout_s: float | None) -> int:
        """Block until every call has ended or is late (past its upload's deadline: a hung
        model cannot be stopped, and waiting longer gains nothing) and none waiting can still
        start (every thread runs a late call), at most `timeout_s` (None: no bound). How many
        still run then; their daemon threads do not hold the process's exit."""

        def startable() -> bool:  # asked holding `_changed`
            return self._waiting > 0 and len(self._running) < self.workers

        return self._running.wait_until_settled(timeout_s, pending=startable)


def _run_one(future: Future[Any], call: Callable[[], Any]) -> None:
    """`call`, its outcome told to `future` (unless its caller left while it waited)."""
    if not future.set_running_or_notify_cancel():
        return  # its upload left while it waited: `_dropped` counted it
    try:
        result = call()
    except BaseException as exc:  # as ThreadPoolExecutor: the caller gets it
        future.set_exception(exc)
    else:
        future.set_result(result)
