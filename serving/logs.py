"""The log of `shanyraq serve` and `demo`: one line per record on standard error, the app's and
uvicorn's alike, with its time (UTC, ISO 8601), level and logger name."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime

LINE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# One line per demo upload (httpx, or httpx2 under newer Starlette test clients) and one per
# alembic plugin loaded at each start are noise in an operator's log.
QUIET_LOGGERS = ("httpx", "httpx2", "alembic.runtime.plugins")


class UtcFormatter(logging.Formatter):
    """LINE_FORMAT with the record's time in UTC, e.g. 2024-06-01T12:00:00.123Z, whatever the
    machine's time zone: lines from pods in different zones sort and compare as they are."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        moment = datetime.fromtimestamp(record.created, tz=UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def configure_logging(level: str) -> None:
    """Log records at `level` (serving.yaml `log_level`) and above, of every logger, through one
    handler on standard error in LINE_FORMAT; Python's warnings (warnings.warn) as records too.

    uvicorn is then run with no logging configuration of its own (`run_server`): its loggers
    keep no handler and pass their records up to this one, so each line is written once and in
    this format. A process whose logging is already set up (handlers on the root logger: an
    application embedding the service, pytest) keeps its own, as with logging.basicConfig.
    QUIET_LOGGERS log their warnings only, either way."""
    threshold = logging.getLevelNamesMapping()[level.upper()]
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(threshold, logging.WARNING))
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(UtcFormatter(LINE_FORMAT))
    root.addHandler(handler)
    root.setLevel(threshold)
    logging.captureWarnings(True)
