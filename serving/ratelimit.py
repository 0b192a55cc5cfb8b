"""Rate limits: a sliding-window counter per key (client address for login, user for upload).

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
    """At most `limit` events per `window_s` seconds for each key."""

    def __init__(
        self,
        *,
        limit: int,
        window_s: float = 60.0,
        what: str = "requests",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.what = what
        self._clock = clock
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> None:
        """Record one event for `key`, or raise RateLimitedError if over the limit."""
        now = self._clock()
        with self._lock:
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
            events.append(now)
            if len(self._events) > 100_000:  # forget idle keys so memory stays bounded
                self._events = {k: v for k, v in self._events.items() if v}

    def reset(self) -> None:
        with self._lock:
            self._events.clear()
