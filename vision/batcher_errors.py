"""What a micro-batcher's callers are refused with (vision.batcher, where these names are
importable too): closed, stopped (its worker died, and what of), or full; and how a batch
function's fatal BaseException is carried to the worker instead of out of the event loop.
"""

from __future__ import annotations


class BatcherClosedError(RuntimeError):
    """The batcher was closed before this request ran."""


class BatcherStoppedError(BatcherClosedError):
    """The batcher's worker died: it runs nothing more. `reason` names what it died of."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"the batcher stopped: {reason}; it takes no more work")
        self.reason = reason


class BatcherFullError(RuntimeError):
    """`max_queued` requests were waiting already: this one was refused, not queued."""


class _BatchFunctionDied(Exception):
    """The batch function raised `error`, a BaseException that is not an Exception: carried to
    the worker, which stops, instead of out of the event loop (which it would stop)."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(repr(error))
        self.error = error


def _describe(error: BaseException) -> str:
    """`error`'s class and message, as an operator reads it: "SystemExit: 3"."""
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
