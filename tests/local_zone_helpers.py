"""The test processes keep local time in a zone far from both UTC and the pages' display zone
(configs/serving.yaml `display_timezone`, Asia/Almaty); tests/conftest.py puts it in place.

Stored times are UTC and the pages show them in the display zone, never in the host's: a
time or date taken from the host's clock by accident (`datetime.now()` without a zone,
`date.today()`, `time.localtime`) would pass unseen on a host in UTC, or in the display zone.
Kiritimati is UTC+14 (9 hours ahead of Almaty), so its day differs from UTC's for 14 hours of
each day and from Almaty's for 9. The processes the tests start (a live server, Label Studio,
a command run as a subprocess) inherit it. The test PostgreSQL cluster runs in Asia/Almaty,
as a district's server set to local time may (scripts/postgres.sh).
"""

from __future__ import annotations

import os
import time

ZONE = "Pacific/Kiritimati"


def host_time_zone() -> None:
    """This process, and those it starts from now on, keep local time in ZONE."""
    os.environ["TZ"] = ZONE
    time.tzset()
