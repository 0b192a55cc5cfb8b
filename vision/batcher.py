"""Micro-batching for concurrent callers: each awaits its own result; work runs in batches.

Requests are grouped until `max_batch` are waiting or the oldest has waited `max_wait_ms`;
batches run one at a time (inference already uses every core), in arrival order. `fn` takes
a list of items and returns one result per item, in order. When it raises, the batch is
retried item by item so only the caller whose item fails sees the error; a result that is
an exception instance is raised to its own caller. A caller that has left (its task was
cancelled) before its request is taken takes no place in a batch. With `max_queued`, at most
that many requests wait to be taken: one more is refused at once with `BatcherFullError`
(those waiting keep their place), rather than waiting, memory held, behind a slow model.

`aclose` lets the batch already running finish (its callers get their results) and fails
every other waiting caller - queued, or taken by the worker while it collected a batch - with
`BatcherClosedError`, even when the closer itself is cancelled or times out; with `wait_s` it
waits that long at most (and, given the deadlines' clock, not once the call is late), then
abandons a call still running, a hung model, whose callers get BatcherClosedError, and says
how many calls it left running. A sync `fn` runs on a daemon thread, not the loop's executor
(joined at exit): a call that never returns cannot keep the process from exiting. A worker
that dies (the batch function raised a BaseException that is not an Exception -
KeyboardInterrupt, SystemExit, ... - which would otherwise stop the whole event loop; or a fault
of the worker's own) fails its callers, and refuses every later submission, with
`BatcherStoppedError` naming what it died of: the batcher runs nothing more.

With `deadline_of` (an item's deadline, when its caller gives up, in a clock of the caller's:
the batcher only compares them), `late_calls(now)` says whether the call running now is past
every deadline in its batch (vision.late_calls; a hung model: a caller may refuse new work
at once rather than queue it behind), `late_for_s(now)` for how long; safe to ask from any
thread, as is `wait_until_idle`. A call runs until the model returns, even past its loop.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Generic, TypeVar

from vision.batcher_errors import (
    BatcherClosedError,
    BatcherFullError,
    BatcherStoppedError,
    _BatchFunctionDied,
    _describe,
)
from vision.late_calls import Clock, RunningCalls

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

BATCH_SIZES_KEPT = 1000  # `batch_sizes` holds at least this many of the latest batches

BatchFn = Callable[[list[T]], "list[R] | Awaitable[list[R]]"]


@dataclass
class _Request(Generic[T, R]):
    item: T
    future: asyncio.Future[R]
    enqueued_at: float


class MicroBatcher(Generic[T, R]):
    """Collects `submit`ted items into batches for `fn` (sync, run in a thread; or async)."""

    def __init__(
        self,
        fn: BatchFn[T, R],
        *,
        max_batch: int,
        max_wait_ms: float,
        max_queued: int | None = None,
        deadline_of: Callable[[T], float | None] | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        if max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be >= 0, got {max_wait_ms}")
        if max_queued is not None and max_queued < 1:
            raise ValueError(f"max_queued must be at least 1 (or None: no bound), got {max_queued}")
        self._fn = fn
        self.max_batch = max_batch
        self.max_wait_s = max_wait_ms / 1000.0
        self.max_queued = max_queued
        self._deadline_of = deadline_of
        self._queue: asyncio.Queue[_Request[T, R]] | None = None
        self._worker: asyncio.Task[None] | None = None
        # What the worker has taken out of the queue and not yet settled (collected or running),
        # and the batch running now: aclose must answer the first and may wait for the second.
        self._taken: list[_Request[T, R]] = []
        self._running: asyncio.Future[None] | None = None
        self._closed = False
        self._stopped: BatcherStoppedError | None = None  # what the worker died of
        # The batch function's call running now, with its items' deadlines (read by other
        # threads: health, metrics); it counts until the function returns.
        self._calls = RunningCalls()
        # Sizes of the latest batches run (bounded), for metrics and tests.
        self.batch_sizes: list[int] = []

    @property
    def stopped(self) -> bool:
        """Whether the worker died: every submit is refused (BatcherStoppedError) from then on."""
        return self._stopped is not None

    @property
    def closed(self) -> bool:
        """Whether `aclose` was called: every submit is refused (BatcherClosedError)."""
        return self._closed

    def late_calls(self, now: float) -> int:
        """Calls running past every deadline in their batch at `now` (the callers' clock; an
        item without one is never): 0 or 1 in one loop, and any cut off by an earlier loop."""
        return self._calls.late(now)

    def late_for_s(self, now: float) -> float:
        """Seconds the call running has been past every deadline in its batch at `now`, or 0."""
        return self._calls.late_for_s(now)

    def wait_until_idle(self, timeout_s: float) -> bool:
        """Block until no call runs (a hung one has returned); False after `timeout_s`."""
        return self._calls.wait_until_idle(timeout_s)

    async def submit(self, item: T) -> R:
        """Queue one item and wait for its result (or its error); BatcherFullError at once when
        `max_queued` requests are waiting already."""
        if self._closed:
            raise BatcherClosedError("the batcher is closed; create a new one")
        if self._stopped is not None:
            raise BatcherStoppedError(self._stopped.reason)
        loop = asyncio.get_running_loop()
        # A worker that is done without having died was cancelled with the event loop it served
        # (an earlier asyncio.run): this loop gets its own.
        if self._queue is None or self._worker is None or self._worker.done():
            self._queue = asyncio.Queue(maxsize=self.max_queued or 0)
            self._worker = loop.create_task(self._run(), name="micro-batcher")
        future: asyncio.Future[R] = loop.create_future()
        try:
            self._queue.put_nowait(_Request(item, future, loop.time()))
        except asyncio.QueueFull:
            raise BatcherFullError(
                f"{self.max_queued} requests are already waiting for a batch; this one was "
                "refused, not queued"
            ) from None
        return await future

    async def aclose(self, *, wait_s: float | None = None, clock: Clock | None = None) -> int:
        """Stop the worker after the running batch, waiting for it `wait_s` at most (None: no
        bound) and, with `clock` (the deadlines' clock), not once its call is late; every other
        waiting caller gets BatcherClosedError, and so do the callers of a call abandoned. How
        many model calls still run then (abandoned: a hung model cannot be stopped)."""
        self._closed = True
        error = BatcherClosedError("the batcher was closed")
        worker = self._worker
        try:
            # A task that is done is not awaited: its loop may be closed (the batcher served
            # an earlier asyncio.run), and waiting on it would raise there.
            if worker is not None and not worker.done():
                worker.cancel()
                await asyncio.wait([worker])  # how it ended is not the closer's error
            if worker is not None and worker.done() and not worker.cancelled():
                worker.exception()  # a death was logged by the worker itself
        finally:
            # Even when the closer is cancelled or gives up waiting, nothing will run what is
            # queued now: its callers are answered here, not left waiting forever.
            self._answer_after_close(error)
        running = self._running
        # Shielded from the cancel; its callers get their results if it ends in time.
        if running is not None and not await self._ended(running, wait_s, clock):
            self._fail_waiting(error)
        return len(self._calls)

    async def _ended(
        self, running: asyncio.Future[None], wait_s: float | None, clock: Clock | None
    ) -> bool:
        """Whether the running batch ended within `wait_s` and before its call was late."""
        if clock is None:
            await asyncio.wait([running], timeout=wait_s)
            return running.done()
        end = None if wait_s is None else clock() + wait_s
        while not running.done():
            now = clock()
            if self._calls.all_late(now) or (end is not None and now >= end):
                return False
            # Until it turns late (a retry item by item is late no later) or the end.
            await asyncio.wait([running], timeout=self._calls.check_in_s(now, end=end))
        return True

    def _answer_after_close(self, error: BatcherClosedError) -> None:
        """Fail what will never run; a batch still running answers its own callers, and any it
        leaves unanswered (it died) get `error` when it ends."""
        running = self._running
        if running is None or running.done():
            self._fail_waiting(error)
            return
        self._fail_queued(error)
        running.add_done_callback(lambda _: self._fail_waiting(error))

    def _fail_queued(self, error: BatcherClosedError) -> None:
        while self._queue is not None and not self._queue.empty():
            _settle(self._queue.get_nowait(), error)

    def _fail_waiting(self, error: BatcherClosedError) -> None:
        """Settle every request taken or queued and not answered yet with `error`."""
        waiting, self._taken = self._taken, []
        for request in waiting:
            _settle(request, error)
        self._fail_queued(error)

    async def __aenter__(self) -> MicroBatcher[T, R]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _run(self) -> None:
        try:
            await self._serve()
        except asyncio.CancelledError:
            raise  # aclose: it answers what was taken
        except _BatchFunctionDied as died:
            # Contained: it came from the batch function, not from a signal to this process.
            self._stop(f"the batch function raised {_describe(died.error)}", died.error)
        except BaseException as exc:
            self._stop(f"its worker failed with {_describe(exc)}", exc)
            raise

    def _stop(self, reason: str, error: BaseException) -> None:
        """The worker dies: its callers, and every later caller, get BatcherStoppedError."""
        logger.error("micro-batcher worker stopped: %s", reason, exc_info=error)
        self._stopped = BatcherStoppedError(reason)
        self._fail_waiting(self._stopped)

    async def _serve(self) -> None:
        assert self._queue is not None
        queue = self._queue
        loop = asyncio.get_running_loop()
        while True:
            first = await queue.get()
            if first.future.done():  # its caller left: it takes no slot and sets no deadline
                continue
            self._taken = batch = [first]
            deadline = first.enqueued_at + self.max_wait_s
            while len(batch) < self.max_batch:
                if not queue.empty():
                    _add_live(batch, queue.get_nowait())
                    continue
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                # Not asyncio.wait_for: on Python 3.11, when an item arrives in the same loop
                # step as aclose's cancel, it returns the item and swallows the cancel, so the
                # worker lives on and aclose waits for it forever. A timeout scope lets the
                # cancel through (the item stays queued, and aclose answers it).
                try:
                    async with asyncio.timeout(remaining):
                        request = await queue.get()
                except TimeoutError:
                    break
                _add_live(batch, request)
            live = [r for r in batch if not r.future.done()]  # a cancelled caller is skipped
            if live:
                self._running = asyncio.ensure_future(self._dispatch(live))
                try:
                    await asyncio.shield(self._running)
                finally:
                    if self._running.done():
                        self._running = None
            self._taken = []

    async def _dispatch(self, batch: list[_Request[T, R]]) -> None:
        self.batch_sizes.append(len(batch))
        if len(self.batch_sizes) > 2 * BATCH_SIZES_KEPT:  # a service runs for months
            del self.batch_sizes[:-BATCH_SIZES_KEPT]
        try:
            try:
                results = await self._call([r.item for r in batch])
            except asyncio.CancelledError as exc:
                task = asyncio.current_task()
                if task is None or task.cancelling():
                    raise  # the loop shuts down
                # The batch function's own (a cancelled future inside it, or a thread's
                # concurrent.futures.CancelledError). Let through, it made the batch look
                # cancelled: the worker stopped as if closed, and its callers waited forever.
                raise RuntimeError(f"batch function raised {exc!r}") from exc
            except Exception:
                raise
            except BaseException as exc:  # KeyboardInterrupt, SystemExit, ...: fatal, see _run
                raise _BatchFunctionDied(exc) from exc
        except _BatchFunctionDied:
            raise  # no item-by-item retry: it would call a function that asked to stop again
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0], exc)
                return
            logger.info("batch of %d failed (%s); retrying one by one", len(batch), exc)
            for request in batch:
                if not request.future.done():  # a caller that left costs no model call
                    await self._dispatch([request])
            return
        for request, result in zip(batch, results, strict=True):
            _settle(request, result)

    async def _call(self, items: list[T]) -> list[R]:
        deadline_of = self._deadline_of
        calling, key = [deadline_of(i) if deadline_of else None for i in items], object()
        self._calls.start(key, calling)
        future: Future[list[R] | Awaitable[list[R]]] | None = None
        try:
            if inspect.iscoroutinefunction(self._fn):
                results = await self._fn(items)
            else:
                future = _in_daemon_thread(self._fn, items, lambda: self._calls.end(key))
                results = await asyncio.wrap_future(future)
                if inspect.isawaitable(results):  # a plain callable that returns a coroutine
                    self._calls.start(key, calling)  # its thread's part ended, not the call
                    results = await results
        finally:
            # Cut off while its thread runs (the event loop shuts down), the call still runs:
            # the thread says when it ends.
            if future is None or future.done():
                self._calls.end(key)
        results = list(results)
        if len(results) != len(items):
            raise RuntimeError(f"batch function returned {len(results)} results for {len(items)}")
        return results


def _in_daemon_thread(
    fn: BatchFn[T, R], items: list[T], ended: Callable[[], None]
) -> Future[list[R] | Awaitable[list[R]]]:
    """`fn(items)` on a daemon thread of its own, in the caller's context; `ended()` as it
    returns, before its outcome is set in the future returned."""
    future: Future[list[R] | Awaitable[list[R]]] = Future()
    future.set_running_or_notify_cancel()  # a cancel cannot make it look done

    def run() -> None:
        try:
            result = fn(items)
        except BaseException as exc:
            ended()
            if isinstance(exc, StopIteration):  # a Future refuses it: the worker would hang
                exc = RuntimeError(f"batch function raised StopIteration: {exc!r}")
            future.set_exception(exc)
        else:
            ended()
            future.set_result(result)

    context = contextvars.copy_context()
    threading.Thread(target=context.run, args=(run,), name="batch-call", daemon=True).start()
    return future


def _add_live(batch: list[_Request[T, R]], request: _Request[T, R]) -> None:
    """Add `request` unless its caller has left: a cancelled request takes no batch slot."""
    if not request.future.done():
        batch.append(request)


def _settle(request: _Request[T, R], outcome: object) -> None:
    if request.future.done():
        return
    # A Future refuses StopIteration (raising it kills the worker); a CancelledError would
    # read to its caller as its own cancellation, not as the batch function's error.
    if isinstance(outcome, StopIteration | asyncio.CancelledError):
        request.future.set_exception(RuntimeError(f"batch result was {outcome!r}"))
    elif isinstance(outcome, BaseException):
        request.future.set_exception(outcome)
    else:
        request.future.set_result(outcome)  # type: ignore[arg-type]
