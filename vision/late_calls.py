"""Model calls running now, and the one rule for when such a call is late.

A call carries the deadlines of the items it scores (when each caller gives up; None: never),
in a clock its owner chooses (serving.pipeline: time.monotonic(), so /health can ask from its
own thread). It is late once the clock has reached every one of them: nobody waits for its
answer any more, so new work is refused rather than queued behind it, and shutdown stops
waiting for it (a hung model cannot be stopped; waiting longer gains nothing). The
micro-batcher (one call a batch) and the unbatched pool (one call a photo) both keep their
calls in a `RunningCalls`, so the two paths judge, and wait, alike.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Sequence

Deadlines = tuple[float | None, ...]
Clock = Callable[[], float]  # the deadlines' clock: time.monotonic, or a caller's own


def late_at(deadlines: Sequence[float | None]) -> float | None:
    """When a call with these deadlines turns late; None: never (it has an item without one)."""
    if not deadlines or any(d is None for d in deadlines):
        return None
    return max(d for d in deadlines if d is not None)


class RunningCalls:
    """The calls running now, each under a key of its owner's, with its deadlines; safe to use
    from any thread. `changed` is notified as a call starts or ends: an owner may pass its own
    condition, to wait on its other state and the calls at once."""

    def __init__(self, changed: threading.Condition | None = None) -> None:
        self.changed = changed if changed is not None else threading.Condition()
        self._calls: dict[Hashable, Deadlines] = {}

    def __len__(self) -> int:
        with self.changed:
            return len(self._calls)

    def start(self, key: Hashable, deadlines: Sequence[float | None]) -> None:
        with self.changed:
            self._calls[key] = tuple(deadlines)
            self.changed.notify_all()

    def end(self, key: Hashable) -> None:
        """The call under `key` has returned (or raised); a key not running is left alone."""
        with self.changed:
            if self._calls.pop(key, None) is not None:
                self.changed.notify_all()

    def late(self, now: float) -> int:
        """How many calls are late at `now` (in the deadlines' clock)."""
        with self.changed:
            return sum(now >= t for t in self._late_ats() if t is not None)

    def late_for_s(self, now: float) -> float:
        """How long, at `now`, the call furthest past its deadlines has been late; 0.0: none."""
        with self.changed:
            late = [now - t for t in self._late_ats() if t is not None and now >= t]
        return max(late, default=0.0)

    def all_late(self, now: float) -> bool:
        """Whether a call runs and every call running is late at `now`."""
        with self.changed:
            ats = self._late_ats()
        return bool(ats) and all(t is not None and now >= t for t in ats)

    def not_late(self, now: float) -> list[float | None]:
        """When each call not late at `now` turns late (None: never)."""
        with self.changed:
            return [t for t in self._late_ats() if t is None or t > now]

    def wait_until_idle(self, timeout_s: float) -> bool:
        """Block until no call runs (a hung one has returned); False after `timeout_s`."""
        with self.changed:
            return self.changed.wait_for(lambda: not self._calls, timeout_s)

    def wait_until_settled(
        self,
        timeout_s: float | None,
        *,
        clock: Clock = time.monotonic,
        pending: Callable[[], bool] | None = None,
    ) -> int:
        """Block until every call has ended or is late (on `clock`, the deadlines' clock), and
        `pending()` (asked holding `changed`) no longer says that more will start; at most
        `timeout_s` (None: no bound). How many calls still run then."""
        end = None if timeout_s is None else clock() + timeout_s
        with self.changed:
            while True:
                now = clock()
                due = self.not_late(now)
                if not due and not (pending is not None and pending()):
                    break
                if end is not None and now >= end:
                    break
                self.changed.wait(self.check_in_s(now, end=end))
            return len(self._calls)

    def check_in_s(self, now: float, *, end: float | None) -> float | None:
        """How long a wait may sleep before it must look again: until the first call running
        and not late at `now` turns late, or until `end`; None: until told (no bound)."""
        waits = [t - now for t in self.not_late(now) if t is not None]
        if end is not None:
            waits.append(end - now)
        return max(0.0, min(waits)) if waits else None

    def _late_ats(self) -> list[float | None]:
        return [late_at(deadlines) for deadlines in self._calls.values()]
