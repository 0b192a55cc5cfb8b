"""A POST to Label Studio done once whatever the answers (`send_once`): imports and creates.

The SDK would send a failed POST again on a 5xx answer or a dropped connection, and Label Studio
may have saved it before failing: two projects, two storages, a batch of tasks imported twice.
Each such POST is sent with the SDK's retries off (`annotation.client.NO_RETRIES`); after a
failure that leaves it unclear whether it arrived, the caller looks at what did before anything
is sent again, and after one Label Studio may still be saving, nothing is sent: a later run
looks first.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Literal, TypeVar

import httpx

from annotation.client import SLOW_ANSWER, Connection, LabelStudioError, waited

logger = logging.getLogger(__name__)


def _slow_hint(exc: BaseException) -> str:
    """For an answer that timed out: how long it waited, and the setting to raise."""
    if not isinstance(exc, SLOW_ANSWER):
        return ""
    return (
        f"; it waited {waited(exc)} for the answer: if this recurs, raise server.timeout_s in "
        "configs/annotation.yaml"
    )


# Answers after which Label Studio may still be saving what was sent (a gateway gave up
# waiting, the answer timed out or was cut): sending it again could save it twice.
_STILL_SAVING_STATUS = 504
_STILL_SAVING_ERRORS = (httpx.ReadTimeout, httpx.ReadError)


def after_failure(exc: Exception) -> Literal["resend", "still_saving", "final"]:
    """What a failed POST sent with NO_RETRIES leaves open: "resend" what did not arrive (the
    server answered an error, or never got the whole request), "still_saving" (Label Studio may
    yet save it: only a later run can tell), or "final" (refused: say so)."""
    from label_studio_sdk.core.api_error import ApiError

    if isinstance(exc, ApiError):
        status = exc.status_code or 0
        if status == _STILL_SAVING_STATUS:
            return "still_saving"
        return "resend" if status >= 500 or status in (408, 409, 429) else "final"
    if isinstance(exc, _STILL_SAVING_ERRORS):
        return "still_saving"
    return "resend" if isinstance(exc, httpx.TransportError) else "final"


def failure_reason(exc: Exception) -> str:
    """A failed request in a few words: the status it was answered with, or the error's kind."""
    status = getattr(exc, "status_code", None)
    return f"answered {status}" if status else type(exc).__name__


_T = TypeVar("_T")


def send_once(
    conn: Connection,
    doing: str,
    *,
    send: Callable[[], _T],
    arrived: Callable[[], _T | None],
    unsent: Callable[[], str],
    attempts: int,
    delay_s: float,
) -> _T:
    """`send()`, a POST sent with NO_RETRIES, done once whatever the answers: its result.

    After a failure that leaves it unclear whether it arrived, `arrived()` looks: a result
    (not None) means all of it did; else what is still `unsent()` (in words) is sent again,
    at most `attempts` times in all, `delay_s` before the second try and doubled before each
    next one (`send` sends only what has not arrived). When Label Studio may still be saving
    it, nothing is sent again: the error says to run the command later, which looks first. A
    refusal (a 4xx) is raised at once; Label Studio's own errors pass through `conn.errors`.
    """
    from label_studio_sdk.core.api_error import ApiError

    with conn.errors(doing):
        for attempt in range(attempts):
            try:
                return send()
            except (ApiError, httpx.TransportError) as exc:
                outcome, why = after_failure(exc), failure_reason(exc)
                if outcome == "final":
                    raise
                done = arrived()
                if done is not None:
                    logger.info("%s failed (%s), but it arrived", doing, why)
                    return done
                if outcome == "still_saving":
                    raise LabelStudioError(
                        f"Label Studio at {conn.url} did not say whether it saved {unsent()} "
                        f"({why}), and it may still be saving it; wait a minute, then run the "
                        "command again (it looks at what arrived before it sends anything)"
                        + _slow_hint(exc)
                    ) from None
                if attempt == attempts - 1:
                    raise
                logger.warning("%s failed (%s); sending %s again", doing, why, unsent())
                time.sleep(delay_s * 2**attempt)
    raise AssertionError("unreachable: the last attempt returns or raises")
