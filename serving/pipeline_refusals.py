"""The 503s the photo pipeline refuses an upload with, and when each says to send it again.

Each is an UnavailableError (code "unavailable"): the photo was not stored, and sending it
again later is safe; its `retry_after_s` is the answer's Retry-After. The pipeline
(serving.pipeline) decides when to refuse and logs what an operator should see; these say it.
A 5xx is logged once: where the pipeline has logged the event itself, its refusal says so
(LoggedUnavailableError), and the API and the pages do not log it again.
"""

from __future__ import annotations

import math

from serving.errors import UnavailableError

# Retry-After (seconds) of the 503s `score` refuses a photo with. A phone that retries at once
# makes a busy model busier, and every retry is decoded and hashed again before it is refused.
# Busy (`max_queued` photos wait): places open as each batch ends (< 1 s on a CPU), so a few
# seconds, and never more than `score_timeout_s`, by when every photo waiting now has left the
# queue (scored, or refused at its own timeout). A timeout, or a model not answering (its calls
# run on past their uploads' timeouts): `score_timeout_s`, what the photo waited. Shutting
# down: about what a supervised restart takes. Scoring stopped: it comes back only when an
# administrator restarts the service, so a retry within minutes is refused for sure; a long
# wait instead of none, since a client told nothing may retry at once.
BUSY_RETRY_AFTER_S = 5
SHUTDOWN_RETRY_AFTER_S = 30
STOPPED_RETRY_AFTER_S = 600


class PassingUnavailableError(UnavailableError):
    """A 503 whose cause passes with no one acting: a busy model, or the server's planned
    stop. Logged as a warning, not an error an operator must chase (serving.api.errors); a
    hung model or scoring stopped stay errors."""


class LoggedUnavailableError(UnavailableError):
    """A 503 whose event was logged where it was found, as an error and with more than the
    answer says (the pipeline's: how long the upload waited, how many calls hang, which model;
    a heat map's: which model file changed): not logged again as the answer is sent
    (serving.api.errors `server_error_level`)."""


def timeout_retry_after_s(score_timeout_s: float | None) -> int | None:
    """`score_timeout_s` in whole seconds, rounded up (Retry-After counts whole ones)."""
    if score_timeout_s is None:
        return None
    return max(1, math.ceil(score_timeout_s))


def shutting_down() -> UnavailableError:
    return PassingUnavailableError(
        "the service is shutting down and did not score the photo; nothing was stored: send "
        "it again in a minute",
        retry_after_s=SHUTDOWN_RETRY_AFTER_S,
    )


def busy(waiting: int | None, *, score_timeout_s: float | None) -> UnavailableError:
    """`waiting` photos already wait for the model (`max_queued`)."""
    timeout = timeout_retry_after_s(score_timeout_s)
    return PassingUnavailableError(
        f"the photo model is busy: {waiting} photos are already waiting to be scored; "
        "nothing was stored: send it again in a few seconds",
        retry_after_s=min(BUSY_RETRY_AFTER_S, timeout or BUSY_RETRY_AFTER_S),
    )


def timed_out(score_timeout_s: float | None, *, logged: bool = False) -> UnavailableError:
    """The model did not answer the upload within `score_timeout_s`; `logged`: the caller has
    logged it."""
    refusal = LoggedUnavailableError if logged else UnavailableError
    return refusal(
        f"the photo model did not answer within {score_timeout_s:g} s; nothing "
        "was stored: send the photo again in a few minutes, and tell the administrator "
        "if it happens again",
        retry_after_s=timeout_retry_after_s(score_timeout_s),
    )


def not_answering(
    late: int, *, score_timeout_s: float | None, logged: bool = False
) -> UnavailableError:
    """All the model's `late` calls run past their uploads' timeouts; `logged`: the caller has
    logged it."""
    calls = "its call has" if late == 1 else f"its {late} calls have"
    refusal = LoggedUnavailableError if logged else UnavailableError
    return refusal(
        f"the photo model is not answering: {calls} run for more than "
        f"{score_timeout_s:g} s and not returned; nothing was stored: send the "
        "photo again in a few minutes, and tell the administrator if it happens again",
        retry_after_s=timeout_retry_after_s(score_timeout_s),
    )


def scoring_stopped(reason: str) -> UnavailableError:
    """The batcher's worker died (its traceback is in the log): not "shutting down", since
    only a restart brings scoring back."""
    return UnavailableError(
        f"photo scoring has stopped ({reason}); nothing was stored: tell "
        "the administrator, who must restart the service, then send the photo again",
        retry_after_s=STOPPED_RETRY_AFTER_S,
    )
