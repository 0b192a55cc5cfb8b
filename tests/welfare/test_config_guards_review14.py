"""configs/welfare.yaml values that would quietly weaken the review doubts are refused at load."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from shanyraq.errors import ConfigError
from welfare.criteria import load_welfare_config

SHIPPED = Path(__file__).resolve().parents[2] / "configs" / "welfare.yaml"


def _load_with(tmp_path: Path, change) -> None:
    data = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "welfare.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    load_welfare_config(path)


def test_the_shipped_file_loads(tmp_path):
    _load_with(tmp_path, lambda data: None)


def test_no_usable_photo_required_is_refused(tmp_path):
    # With 0, a family with no photo at all got no photo doubt (helper-113's finding).
    def none_required(data):
        data["recommendation"]["min_usable_photos"] = 0

    with pytest.raises(ConfigError, match="min_usable_photos"):
        _load_with(tmp_path, none_required)


def test_a_room_expected_twice_is_refused(tmp_path):
    def twice(data):
        rooms = data["fusion"]["expected_rooms"]
        rooms.append(rooms[0])

    with pytest.raises(ConfigError, match=r"expected_rooms lists .* more than once"):
        _load_with(tmp_path, twice)
