"""asyncio's report of a Playwright task destroyed while pending is kept out of the tests' logs
(tests/conftest.py puts the filter in place for every test process).

A browser test whose route holds a request unanswered leaves Playwright's task for it pending
after the page closes; when the garbage collector takes that task, at a moment no test
chooses, asyncio logs "Task was destroyed but it is pending!" as an ERROR of its own logger,
inside whichever test then runs. A test that counts the service's log lines
(tests/serving/test_review31_log_once.py) failed on one in a clean run. The report is about
the browser driver's tasks in the tests, never about the service, so it is dropped; every
other asyncio record passes.
"""

from __future__ import annotations

import logging

DESTROYED = "Task was destroyed but it is pending!"


class PlaywrightLeftovers(logging.Filter):
    """Drops asyncio's pending-task report where the task is Playwright's."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (message.startswith(DESTROYED) and "/playwright/" in message)


def playwright_leftovers_unlogged() -> None:
    """Put the filter on asyncio's logger (once per process)."""
    asyncio_logger = logging.getLogger("asyncio")
    if not any(isinstance(f, PlaywrightLeftovers) for f in asyncio_logger.filters):
        asyncio_logger.addFilter(PlaywrightLeftovers())
