"""Times shown on the pages: in the configured zone (serving.yaml `display_timezone`), in the
reader's words, with the zone's UTC offset stated, inside a machine-readable <time>.

Stored times are UTC: datetimes from the database (aware), or the audit log's ISO text.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from markupsafe import Markup

from serving.web.i18n import Translator


def _aware(value: datetime | str) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def utc_offset(offset: timedelta | None) -> str:
    """ "UTC", "UTC+5", "UTC-3:30": the zone as every reader writes it."""
    minutes = round((offset or timedelta()).total_seconds() / 60)
    if minutes == 0:
        return "UTC"
    sign = "+" if minutes > 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def shown_time(
    value: datetime | str, *, t: Translator, zone: ZoneInfo, seconds: bool = False
) -> Markup:
    """`<time datetime="…">1 June 2024, 17:00 (UTC+5)</time>`, in the reader's language."""
    local = _aware(value).astimezone(zone)
    clock = local.strftime("%H:%M:%S" if seconds else "%H:%M")
    text = t(
        "time.shown",
        day=local.day,
        month=t(f"month.{local.month}"),
        year=local.year,
        time=clock,
        zone=utc_offset(local.utcoffset()),
    )
    machine = local.isoformat(timespec="seconds" if seconds else "minutes")
    return Markup('<time datetime="{}">{}</time>').format(machine, text)
