"""The rate limiter forgets idle keys, with the sweep's cost spread over the hits."""

from __future__ import annotations

import pytest

from serving.errors import RateLimitedError
from serving.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _sweep_sizes(limiter: RateLimiter, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many keys each sweep looked at, in order."""
    sizes: list[int] = []
    real = limiter._sweep_locked

    def counted(now: float) -> None:
        sizes.append(len(limiter))
        real(now)

    monkeypatch.setattr(limiter, "_sweep_locked", counted)
    return sizes


def test_idle_keys_are_dropped_and_the_key_count_stays_bounded():
    clock = Clock()
    limiter = RateLimiter(limit=5, window_s=60, clock=clock, sweep_every=100)
    most = 0
    for i in range(20_000):  # one new key a second: about 60 active in any window
        clock.now = float(i)
        limiter.hit(f"address-{i}")
        most = max(most, len(limiter))
    assert most <= 2 * 100
    clock.now += 61  # every window has passed
    for i in range(100):
        limiter.hit(f"late-{i}")
    assert len(limiter) <= 100  # the 20 000 addresses are gone


def test_sweep_keeps_keys_still_in_their_window():
    clock = Clock()
    limiter = RateLimiter(limit=2, window_s=60, clock=clock, sweep_every=10)
    limiter.hit("busy")
    limiter.hit("busy")
    clock.now = 30.0
    for i in range(50):  # several sweeps run meanwhile
        limiter.hit(f"other-{i}")
    with pytest.raises(RateLimitedError) as caught:
        limiter.hit("busy")  # its budget was not forgotten
    assert caught.value.retry_after_s == 30


def test_sweep_work_is_spread_over_the_hits(monkeypatch):
    """Even when every key stays active, sweeps look at no more keys than about twice the hits."""
    clock = Clock()
    limiter = RateLimiter(limit=5, window_s=10**9, clock=clock, sweep_every=16)
    sizes = _sweep_sizes(limiter, monkeypatch)
    hits = 50_000
    for i in range(hits):
        limiter.hit(f"address-{i}")
    assert len(limiter) == hits  # nothing idle yet: all kept
    assert sum(sizes) <= 2 * hits and len(sizes) <= 20  # the keys doubled between sweeps
