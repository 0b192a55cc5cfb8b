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

# Alembic's logger, and the two lines it writes for every migration context it opens: at each
# start the database check and the app's start-up each open one (on PostgreSQL two), whether
# or not there is anything to migrate, and "Will assume non-transactional DDL" on SQLite,
# where env.py runs the migrations in one transaction all the same. Debug lines here
# (`AlembicContextAtDebug`); the lines of a migration run ("Running upgrade ...") stay info.
ALEMBIC_LOGGER = "alembic.runtime.migration"
ALEMBIC_CONTEXT_LINES = ("Context impl ", "Will assume ")


class UtcFormatter(logging.Formatter):
    """LINE_FORMAT with the record's time in UTC, e.g. 2024-06-01T12:00:00.123Z, whatever the
    machine's time zone: lines from pods in different zones sort and compare as they are."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        moment = datetime.fromtimestamp(record.created, tz=UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class AlembicContextAtDebug(logging.Filter):
    """A filter of ALEMBIC_LOGGER: its ALEMBIC_CONTEXT_LINES become DEBUG records, written only
    where that logger writes debug records; its other records pass as they are."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not (isinstance(record.msg, str) and record.msg.startswith(ALEMBIC_CONTEXT_LINES)):
            return True
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


_ALEMBIC_CONTEXT_AT_DEBUG = AlembicContextAtDebug()


def configure_logging(level: str) -> None:
    """Log records at `level` (serving.yaml `log_level`) and above, of every logger, through one
    handler on standard error in LINE_FORMAT; Python's warnings (warnings.warn) as records too.

    uvicorn is then run with no logging configuration of its own (`run_server`): its loggers
    keep no handler and pass their records up to this one, so each line is written once and in
    this format. A process whose logging is already set up (handlers on the root logger: an
    application embedding the service, pytest) keeps its own, as with logging.basicConfig.
    Either way QUIET_LOGGERS log their warnings only, and Alembic's ALEMBIC_CONTEXT_LINES are
    debug records."""
    threshold = logging.getLevelNamesMapping()[level.upper()]
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(threshold, logging.WARNING))
    logging.getLogger(ALEMBIC_LOGGER).addFilter(_ALEMBIC_CONTEXT_AT_DEBUG)  # once, if called again
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(UtcFormatter(LINE_FORMAT))
    root.addHandler(handler)
    root.setLevel(threshold)
    logging.captureWarnings(True)
