"""The test processes run in Kazakhstan's time zone, not UTC (tests/conftest.py puts it in
place), as the servers of its districts may: a date or time taken from the host's local clock
(`datetime.now()` without a zone, `date.today()`, `time.localtime`) then differs from UTC's for
five hours of each day, and a test of what such code writes sees it. The processes the tests
start (a live server, Label Studio, a command run as a subprocess) inherit the zone; the test
PostgreSQL cluster is set to it as well (scripts/postgres.sh).
"""

from __future__ import annotations

import os
import time

ZONE = "Asia/Almaty"


def kazakhstan_time_zone() -> None:
    """This process, and those it starts from now on, keep local time in ZONE."""
    os.environ["TZ"] = ZONE
    time.tzset()
