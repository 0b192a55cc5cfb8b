"""The sliding-window rate limiter, on a fake clock."""

from __future__ import annotations

import pytest

from serving.errors import RateLimitedError
from serving.ratelimit import RateLimiter


def test_limit_per_key_and_window():
    now = [0.0]
    limiter = RateLimiter(limit=3, window_s=60, clock=lambda: now[0])
    for _ in range(3):
        limiter.hit("a")
    with pytest.raises(RateLimitedError) as caught:
        limiter.hit("a")
    assert caught.value.retry_after_s == 60
    limiter.hit("b")  # another key has its own budget
    now[0] = 60.5
    limiter.hit("a")  # the window slid past the first hits
