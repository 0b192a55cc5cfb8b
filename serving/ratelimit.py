"""Rate limits: a sliding-window counter per key (address or account for login, user for upload).

In-process, which fits one service process; several processes would share a store instead.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from serving.errors import RateLimitedError


class RateLimiter:
    """At most `limit` events per `window_s` seconds for each key.

    Keys whose last event has left the window are dropped by a sweep. It runs after
    `sweep_every` hits, or after as many hits as the last sweep kept keys when that is more,
    so its cost is spread over those hits, and the keys held stay below twice the larger of
    `sweep_every` and the keys active within one window.
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
        self._hits_since_sweep = 0
        self._kept_by_sweep = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """How many keys are held now."""
        return len(self._events)

    def hit(self, key: str) -> None:
        """Record one event for `key`, or raise RateLimitedError if over the limit."""
        self._count(key, record=True)

    def check(self, key: str) -> None:
        """Raise RateLimitedError if `key` is at its limit; record nothing (see `record`)."""
        self._count(key, record=False)

    def record(self, key: str) -> None:
        """Count one event for `key` without refusing it (e.g. a failed sign-in, after `check`)."""
        with self._lock:
            self._events.setdefault(key, deque()).append(self._clock())

    def _count(self, key: str, *, record: bool) -> None:
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
                raise RateLimitedError(
                    f"too many {self.what}: at most {self.limit} per {self.window_s:g} s; "
                    f"try again in {retry} s",
                    retry_after_s=retry,
                )
            if record:
                events.append(now)

    def _sweep_locked(self, now: float) -> None:
        horizon = now - self.window_s
        idle = [key for key, events in self._events.items() if not events or events[-1] <= horizon]
        for key in idle:
            del self._events[key]
        self._hits_since_sweep = 0
        self._kept_by_sweep = len(self._events)

    def reset(self) -> None:
        with self._lock:
            self._events.clear()
            self._hits_since_sweep = self._kept_by_sweep = 0
