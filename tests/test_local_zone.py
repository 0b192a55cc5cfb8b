"""The test processes keep local time in Kazakhstan's zone (tests/local_zone_helpers.py)."""

from __future__ import annotations

import subprocess
import sys
import time

from tests.local_zone_helpers import ZONE


def test_local_time_is_kazakhstans_here_and_in_the_processes_tests_start() -> None:
    here = time.localtime().tm_gmtoff
    assert here in (5 * 3600, 6 * 3600), (  # UTC+05 since March 2024, +06 before
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
