"""Kazakh display zones are refused when the time zone data predates tzdata 2024a.

Kazakhstan moved to one zone, UTC+5, on 2024-03-01; older data shows Asia/Almaty at UTC+6,
so every time on the pages would be an hour off without a word. The real data here must pass;
a zone lookup that answers with old data (a fixed UTC+6) must be refused at start-up.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from serving.core import config
from serving.core.config import KAZAKH_ZONES
from shanyraq.errors import ConfigError
from tests.serving.helpers import make_settings

OLD_DATA_REASON = "time zone data is older than 2024a"


def _old_data_lookup(name: str) -> timezone:
    """What ZoneInfo answers for a Kazakh zone with tzdata before 2024a: UTC+6 all year."""
    ZoneInfo(name)  # an unknown name is still unknown
    return timezone(timedelta(hours=6))


@pytest.mark.parametrize("name", sorted(KAZAKH_ZONES))
def test_the_real_data_puts_every_kazakh_zone_at_utc_plus_5_and_is_accepted(tmp_path, name):
    settings = make_settings(tmp_path, "sqlite://", display_timezone=name)
    june = datetime(2024, 6, 1, 12, tzinfo=UTC).astimezone(settings.display_zone)
    assert june.utcoffset() == timedelta(hours=5)
    assert june.hour == 17


@pytest.mark.parametrize("name", ["Asia/Almaty", "Asia/Qostanay", "Asia/Oral"])
def test_a_kazakh_zone_from_old_data_is_refused_with_how_to_fix_it(tmp_path, monkeypatch, name):
    monkeypatch.setattr(config, "ZoneInfo", _old_data_lookup)
    with pytest.raises(ConfigError) as refused:
        make_settings(tmp_path, "sqlite://", display_timezone=name)
    message = str(refused.value)
    reason = next(line for line in message.splitlines() if OLD_DATA_REASON in line)
    assert f"{name} is UTC+06:00 on 2024-06-01, not UTC+05:00" in reason
    assert "pip install -U tzdata" in reason
    assert "system's tzdata" in reason


@pytest.mark.parametrize("name", ["UTC", "Asia/Tashkent", "Europe/Moscow"])
def test_other_zones_are_not_checked_against_the_kazakh_offset(tmp_path, monkeypatch, name):
    monkeypatch.setattr(config, "ZoneInfo", _old_data_lookup)
    settings = make_settings(tmp_path, "sqlite://", display_timezone=name)
    assert settings.display_timezone == name


def test_an_unknown_zone_is_still_refused_as_unknown(tmp_path):
    with pytest.raises(ConfigError, match="unknown time zone 'Asia/Nowhere'") as refused:
        make_settings(tmp_path, "sqlite://", display_timezone="Asia/Nowhere")
    assert OLD_DATA_REASON not in str(refused.value)
