"""Config loading: the real files load; each kind of invalid file fails with a clear message."""

from __future__ import annotations

import pytest
import yaml

from shanyraq.config import get_settings
from shanyraq.errors import ConfigError
from shanyraq.taxonomy import load_taxonomy
from tests.shanyraq.config_helpers import REAL, broken_taxonomy


def test_real_taxonomy_matches_design(taxonomy):
    assert taxonomy.version >= 1
    assert taxonomy.not_dwelling in taxonomy.room_names
    assert taxonomy.not_dwelling not in taxonomy.dwelling_rooms
    assert taxonomy.condition_values == [1, 2, 3, 4, 5]
    assert taxonomy.head_size("signs") == len(taxonomy.sign_names) == 8
    assert taxonomy.grade(1).name == "emergency"


def test_fingerprint_changes_with_content(tmp_path):
    data = yaml.safe_load(REAL.read_text())
    data["signs"]["classes"][0]["description"] = "changed"
    changed = tmp_path / "taxonomy.yaml"
    changed.write_text(yaml.safe_dump(data))
    assert load_taxonomy(changed).fingerprint() != load_taxonomy(REAL).fingerprint()


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d.pop("version"), ["key 'version'", "Field required"]),
        (lambda d: d.update(version="one"), ["key 'version'", "valid integer", "'one'"]),
        (lambda d: d.update(colour="red"), ["key 'colour'", "Extra inputs are not permitted"]),
        (
            lambda d: d["room"].update(not_dwelling="garage"),
            ["key 'room'", "not_dwelling 'garage' must be one of"],
        ),
        (
            lambda d: d["signs"]["classes"].append(d["signs"]["classes"][0]),
            ["key 'signs'", "duplicate names", "damp_mould"],
        ),
        (
            lambda d: d["condition"]["grades"][2].update(value=7),
            ["key 'condition'", "grade values must be 1, 2, ..."],
        ),
        (
            lambda d: d["signs"]["classes"][1].update(points_to="maybe"),
            ["key 'signs.classes[1].points_to'", "'need' or 'welfare'"],
        ),
        (
            lambda d: d["room"]["classes"][0].update(name="Kitchen Room"),
            ["key 'room.classes[0].name'", "pattern"],
        ),
        # YAML reads `yes`/`true` as a boolean: it must not pass for version 1.
        (lambda d: d.update(version=True), ["key 'version'", "valid integer"]),
        (lambda d: d.update(version="2"), ["key 'version'", "valid integer"]),
        (lambda d: d.update(version=2.0), ["key 'version'", "valid integer"]),
        (lambda d: d.update(version=None), ["key 'version'", "valid integer"]),
        (
            lambda d: d["condition"]["grades"][0].update(value=True),
            ["key 'condition.grades[0].value'", "valid integer"],
        ),
        (
            lambda d: d["condition"]["grades"][0].update(value="1"),
            ["key 'condition.grades[0].value'", "valid integer"],
        ),
        (
            lambda d: d["room"]["classes"].append(dict(d["room"]["classes"][1])),
            ["key 'room'", "duplicate names in room.classes", "bathroom"],
        ),
        (
            lambda d: d["condition"]["grades"][3].update(name="poor"),
            ["key 'condition'", "duplicate names in condition.grades", "poor"],
        ),
        (
            lambda d: d["condition"]["grades"].pop(2),
            ["key 'condition'", "grade values must be 1, 2, ...", "[1, 2, 4, 5]"],
        ),
        (
            lambda d: d["condition"]["grades"].reverse(),
            ["key 'condition'", "grade values must be 1, 2, ..."],
        ),
        (lambda d: d["condition"].update(grades=[]), ["key 'condition.grades'", "at least 2"]),
        (lambda d: d["signs"].update(classes=[]), ["key 'signs.classes'", "at least 1"]),
        (lambda d: d["room"].update(classes=None), ["key 'room.classes'", "valid list"]),
        (
            lambda d: d["condition"]["grades"][0].update(colour="red"),
            ["key 'condition.grades[0].colour'", "Extra inputs"],
        ),
        (
            lambda d: d["signs"]["classes"][2].pop("points_to"),
            ["key 'signs.classes[2].points_to'", "Field required"],
        ),
        (
            lambda d: d["signs"]["classes"][0].update(points_to="NEED"),
            ["key 'signs.classes[0].points_to'", "'need' or 'welfare'"],
        ),
        (
            lambda d: d["signs"]["classes"][0].update(name="none"),
            ["key 'signs'", "'none' is reserved"],
        ),
    ],
)
def test_invalid_taxonomy_names_file_key_and_expectation(tmp_path, mutate, expected):
    path = broken_taxonomy(tmp_path, mutate)
    with pytest.raises(ConfigError) as info:
        load_taxonomy(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in expected:
        assert fragment in message


def test_not_yaml_names_line(tmp_path):
    path = tmp_path / "taxonomy.yaml"
    path.write_text("version: 1\nroom: [unclosed\n")
    with pytest.raises(ConfigError, match=r"not valid YAML at line \d+"):
        load_taxonomy(path)


def test_top_level_must_be_mapping(tmp_path):
    path = tmp_path / "taxonomy.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="expected a mapping of keys at the top level, got list"):
        load_taxonomy(path)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_taxonomy(tmp_path / "nope.yaml")


def test_settings_env_overrides_yaml(monkeypatch):
    monkeypatch.setenv("SHANYRAQ_IO__MAX_PIXELS", "1234")
    get_settings.cache_clear()
    try:
        settings = get_settings()
        assert settings.io.max_pixels == 1234
        assert settings.io.max_bytes > 0  # still from the YAML file
    finally:
        get_settings.cache_clear()


def test_settings_invalid_env_is_clear(monkeypatch):
    monkeypatch.setenv("SHANYRAQ_IO__MAX_PIXELS", "-5")
    get_settings.cache_clear()
    try:
        with pytest.raises(ConfigError) as info:
            get_settings()
        assert "key 'io.max_pixels'" in str(info.value)
        assert "greater than 0" in str(info.value)
    finally:
        get_settings.cache_clear()


def test_settings_yaml_error_names_file(tmp_path, monkeypatch):
    (tmp_path / "shanyraq.yaml").write_text("io:\n  max_bytes: lots\n")
    monkeypatch.setenv("SHANYRAQ_CONFIGS_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        with pytest.raises(ConfigError) as info:
            get_settings()
        assert str(tmp_path / "shanyraq.yaml") in str(info.value)
        assert "key 'io.max_bytes'" in str(info.value)
    finally:
        get_settings.cache_clear()
