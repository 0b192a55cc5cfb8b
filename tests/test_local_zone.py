"""The test processes keep local time in a zone far from UTC and from the pages' display zone
(tests/local_zone_helpers.py)."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from serving.core.config import ServingSettings
from tests.local_zone_helpers import ZONE


def _offset(zone: str) -> float:
    offset = datetime.now(UTC).astimezone(ZoneInfo(zone)).utcoffset()
    assert offset is not None
    return offset.total_seconds()


def test_local_time_is_the_test_zone_here_and_in_the_processes_tests_start() -> None:
    here = time.localtime().tm_gmtoff
    assert here == _offset(ZONE), (
        f"local time is {here / 3600:+.1f} h from UTC, not {ZONE}'s: is the time zone "
        "database (tzdata) installed?"
    )
    child = subprocess.run(
        [sys.executable, "-c", "import time; print(time.localtime().tm_gmtoff)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(child.stdout) == here


def test_the_test_zone_is_hours_from_utc_and_from_the_display_zone() -> None:
    display = ServingSettings().display_timezone
    assert abs(_offset(ZONE)) >= 6 * 3600
    assert abs(_offset(ZONE) - _offset(display)) >= 6 * 3600
