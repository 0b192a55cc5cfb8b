"""Rate limits: a sliding-window counter per key (address or account for login, user for upload).

A refusal counted against a limit is audited by one rule wherever it is made
(`count_refusal`, `audit_refusal`): each within the limit, one notice a window past it.

In-process, which fits one service process; several processes would share a store instead.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from serving.errors import RateLimitedError


def user_key(user_id: int) -> str:
    """The upload limiter's key of a signed-in user: the upload route and a refused oversize
    body (serving.api.body_limit) count against the same one."""
    return f"user:{user_id}"


@dataclass(frozen=True)
class LimitReached:
    """What to record, once per window, when a key starts being refused.

    `refused_in_previous_window`: refusals of this key in the window the previous notice
    opened (0 for the first). The last window's count is never reported when refusals stop.
    """

    key: str
    limit: int
    window_s: float
    refused_in_previous_window: int

    def audit_details(self) -> dict[str, int | float]:
        """The audit entry's details of this notice (the key is the entry's target)."""
        return {
            "limit": self.limit,
            "window_s": self.window_s,
            "refused_in_previous_window": self.refused_in_previous_window,
        }


class LimitRefusedError(RateLimitedError):
    """A refusal by a `RateLimiter`; `reached` is set on the first one of each window per key.

    So a flood of refusals can be recorded at one entry per key and window, not per request.
    """

    def __init__(self, message: str, *, retry_after_s: int, reached: LimitReached | None) -> None:
        super().__init__(message, retry_after_s=retry_after_s)
        self.reached = reached


@dataclass
class _Refusals:
    opened_at: float  # when the refusal that opened this window (and was reported) came
    last_at: float
    count: int  # refusals since `opened_at`, that one included


class RateLimiter:
    """At most `limit` events per `window_s` seconds for each key.

    Keys whose last event has left the window are dropped by a sweep. It runs after
    `sweep_every` hits, or after as many hits as the last sweep kept keys when that is more,
    so its cost is spread over those hits, and the keys held stay below twice the larger of
    `sweep_every` and the keys active within one window. The sweep also drops the refusal
    count of a key not refused for a whole window.
    """

    def __init__(
        self,
        *,
        limit: int,
        window_s: float = 60.0,
        what: str = "requests",
        clock: Callable[[], float] = time.monotonic,
        sweep_every: int = 1024,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.what = what
        self.sweep_every = sweep_every
        self._clock = clock
        self._events: dict[str, deque[float]] = {}
        self._refusals: dict[str, _Refusals] = {}
        self._hits_since_sweep = 0
        self._kept_by_sweep = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """How many keys are held now."""
        return len(self._events)

    def hit(self, key: str) -> float:
        """Record one event for `key`, or raise LimitRefusedError if over the limit.

        Returns the event's time, for `forget`: an attempt counted while it runs, and taken
        back if it turns out not to count (so concurrent attempts cannot all pass a check
        made before any of them was counted).
        """
        return self._count(key, record=True)

    def check(self, key: str) -> None:
        """Raise LimitRefusedError if `key` is at its limit; record nothing (see `record`)."""
        self._count(key, record=False)

    def record(self, key: str) -> None:
        """Count one event for `key` without refusing it (e.g. a failed sign-in, after `check`)."""
        with self._lock:
            self._events.setdefault(key, deque()).append(self._clock())

    def forget(self, key: str, at: float) -> None:
        """Take back the event `hit` counted for `key` at `at` (gone already: nothing to do)."""
        with self._lock:
            events = self._events.get(key)
            if events is not None and at in events:
                events.remove(at)

    def unreport(self, key: str) -> None:
        """Forget that `key`'s refusals were reported this window (its notice could not be
        recorded): the next refusal of `key` comes with a notice again."""
        with self._lock:
            self._refusals.pop(key, None)

    def _count(self, key: str, *, record: bool) -> float:
        now = self._clock()
        with self._lock:
            self._hits_since_sweep += 1
            if self._hits_since_sweep >= max(self.sweep_every, self._kept_by_sweep):
                self._sweep_locked(now)
            events = self._events.setdefault(key, deque())
            while events and events[0] <= now - self.window_s:
                events.popleft()
            if len(events) >= self.limit:
                retry = max(1, math.ceil(events[0] + self.window_s - now))
                raise LimitRefusedError(
                    f"too many {self.what}: at most {self.limit} per {self.window_s:g} s; "
                    f"try again in {retry} s",
                    retry_after_s=retry,
                    reached=self._refused_locked(key, now),
                )
            if record:
                events.append(now)
            return now

    def _refused_locked(self, key: str, now: float) -> LimitReached | None:
        """Count a refusal; a notice if it is the key's first since a window ago or ever."""
        refusals = self._refusals.get(key)
        if refusals is not None and now - refusals.opened_at < self.window_s:
            refusals.count += 1
            refusals.last_at = now
            return None
        self._refusals[key] = _Refusals(opened_at=now, last_at=now, count=1)
        return LimitReached(
            key=key, limit=self.limit, window_s=self.window_s,
            refused_in_previous_window=refusals.count if refusals is not None else 0,
        )  # fmt: skip

    def _sweep_locked(self, now: float) -> None:
        horizon = now - self.window_s
        idle = [key for key, events in self._events.items() if not events or events[-1] <= horizon]
        for key in idle:
            del self._events[key]
        quiet = [key for key, refusals in self._refusals.items() if refusals.last_at <= horizon]
        for key in quiet:
            del self._refusals[key]
        self._hits_since_sweep = 0
        self._kept_by_sweep = len(self._events)

    def reset(self) -> None:
        with self._lock:
            self._events.clear()
            self._refusals.clear()
            self._hits_since_sweep = self._kept_by_sweep = 0


# Writes a refusal's audit entry, given the details the limit adds to it (none within the
# limit); whether it was written.
RefusalWrite = Callable[[dict[str, Any]], bool]


def count_refusal(limiter: RateLimiter, key: str) -> LimitRefusedError | None:
    """Count a refusal of `key` against `limiter` as one of its events: None while within the
    limit (the refusal is answered as it is), the limiter's refusal once past it (answered in
    its place). Either way it goes on to `audit_refusal`."""
    try:
        limiter.hit(key)
    except LimitRefusedError as limited:
        return limited
    return None


def audit_refusal(
    limiter: RateLimiter, limited: LimitRefusedError | None, write: RefusalWrite
) -> bool:
    """Audit a refusal counted against `limiter`, at one entry a window past its limit.

    Within the limit (`limited` None) the refusal is written with no details of the limit.
    Past it, the window's first refusal (its notice: `limited.reached`) is written with the
    limit's details (`LimitReached.audit_details`), and the rest of the window not at all:
    a flood must not grow the audit log at its own rate. When the entry cannot be written
    (`write` says False, or raises: raised on), the notice is taken back (`unreport`), so the
    key's next refusal brings one again. Whether an entry was written.
    """
    reached = limited.reached if limited is not None else None
    if limited is not None and reached is None:  # noticed already this window
        return False
    written = False
    try:
        written = write({} if reached is None else reached.audit_details())
    finally:
        if not written and reached is not None:  # the next refusal brings a notice again
            limiter.unreport(reached.key)
    return written
