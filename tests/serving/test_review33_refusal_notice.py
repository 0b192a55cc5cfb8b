"""The one rule for auditing a refusal counted against a limit (serving.ratelimit), used by
the upload route, the oversize-body middleware and sign-in: each refusal within the limit is
written; past it, one notice a window with the limit's details; a notice that could not be
written comes again with the key's next refusal."""

from __future__ import annotations

from typing import Any

import pytest

from serving.ratelimit import RateLimiter, audit_refusal, count_refusal


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Log:
    """A stand-in audit log: the details of each entry written; `fail` entries refused next."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self.fail = 0

    def write(self, details: dict[str, Any]) -> bool:
        if self.fail:
            self.fail -= 1
            return False
        self.entries.append(details)
        return True


def _refuse(limiter: RateLimiter, log: Log, key: str = "user:7") -> tuple[bool, bool]:
    """One refusal of `key`, counted and audited: (answered by the limiter, written)."""
    limited = count_refusal(limiter, key)
    return limited is not None, audit_refusal(limiter, limited, log.write)


def test_refusals_within_the_limit_are_answered_as_they_are_and_each_audited():
    limiter, log = RateLimiter(limit=2, window_s=60, clock=Clock()), Log()
    assert [_refuse(limiter, log) for _ in range(2)] == [(False, True), (False, True)]
    assert log.entries == [{}, {}]  # no limit's details within the limit


def test_past_the_limit_one_notice_a_window_with_the_window_before_counted():
    clock = Clock()
    limiter, log = RateLimiter(limit=2, window_s=60, clock=clock), Log()
    for _ in range(2):
        _refuse(limiter, log)
    assert [_refuse(limiter, log) for _ in range(4)] == [(True, True)] + [(True, False)] * 3
    notice = {"limit": 2, "window_s": 60, "refused_in_previous_window": 0}
    assert log.entries == [{}, {}, notice]
    clock.now += 30  # still the notice's window: nothing more is written
    assert _refuse(limiter, log) == (True, False)
    clock.now += 31  # the notice's window is over, the limit still spent by nothing new
    limiter.hit("user:7")
    limiter.hit("user:7")
    assert _refuse(limiter, log) == (True, True)
    assert log.entries[-1] == {**notice, "refused_in_previous_window": 5}
    assert len(log.entries) == 4


def test_a_notice_that_could_not_be_written_comes_with_the_next_refusal():
    limiter, log = RateLimiter(limit=1, window_s=60, clock=Clock()), Log()
    _refuse(limiter, log)
    log.fail = 1
    assert _refuse(limiter, log) == (True, False)  # the notice, refused by the log
    assert _refuse(limiter, log) == (True, True)  # so this one brings it
    assert _refuse(limiter, log) == (True, False)  # and the window's rest do not
    assert log.entries[1:] == [{"limit": 1, "window_s": 60, "refused_in_previous_window": 0}]


def test_a_notice_whose_write_raised_comes_with_the_next_refusal_and_the_error_goes_on():
    limiter, log = RateLimiter(limit=1, window_s=60, clock=Clock()), Log()
    _refuse(limiter, log)

    def broken(details: dict[str, Any]) -> bool:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        audit_refusal(limiter, count_refusal(limiter, "user:7"), broken)
    assert _refuse(limiter, log) == (True, True)
    assert log.entries[-1]["refused_in_previous_window"] == 0


def test_a_refusal_within_the_limit_that_could_not_be_written_still_counts():
    limiter, log = RateLimiter(limit=1, window_s=60, clock=Clock()), Log()
    log.fail = 1
    assert _refuse(limiter, log) == (False, False)
    assert _refuse(limiter, log) == (True, True)  # the limit is spent: the window's notice
    assert log.entries == [{"limit": 1, "window_s": 60, "refused_in_previous_window": 0}]
