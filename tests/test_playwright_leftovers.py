"""asyncio's report of a destroyed pending Playwright task stays out of the tests' logs; its
other records, and the same report of any other task, do not
(tests/playwright_leftovers_helpers.py)."""

from __future__ import annotations

import logging

import pytest

from tests.playwright_leftovers_helpers import DESTROYED

PLAYWRIGHT_TASK = (
    "task: <Task pending name='Task-12380' coro=<Page._on_route() running at "
    "/venv/lib/python3.11/site-packages/playwright/_impl/page.py:348>>"
)
OTHER_TASK = "task: <Task pending name='Task-7' coro=<serve() running at /srv/serving/app.py:1>>"


def test_only_playwrights_destroyed_pending_tasks_are_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        asyncio_logger = logging.getLogger("asyncio")
        asyncio_logger.error("%s\n%s", DESTROYED, PLAYWRIGHT_TASK)
        asyncio_logger.error("%s\n%s", DESTROYED, OTHER_TASK)
        asyncio_logger.error("Future exception was never retrieved")
    assert [r.getMessage() for r in caplog.records] == [
        f"{DESTROYED}\n{OTHER_TASK}",
        "Future exception was never retrieved",
    ]
