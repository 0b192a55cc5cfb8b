"""Helpers for the MicroBatcher tests: how long a caller may wait, and every caller's answer
collected within that bound (a caller left waiting fails the test, it does not hang it)."""

from __future__ import annotations

import asyncio

BOUND_S = 5.0  # no caller may wait longer than this in these tests


async def caller_outcomes(callers: list[asyncio.Task]) -> list[object]:
    """Each caller's result, or the exception it ended with, once all have ended."""
    _, pending = await asyncio.wait(callers, timeout=BOUND_S)
    assert not pending, f"{len(pending)} caller(s) left waiting"
    return [c.exception() or c.result() for c in callers]
