"""configs/engine.yaml is the only source of the engine's settings: old and missing keys are
refused by name, a missing file is an error, and the settings derived from it keep their rules."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from shanyraq.errors import ConfigError
from tests.vision.engine_fixtures import small_call_config
from vision.engine import EngineConfig, load_engine_config


@pytest.fixture(scope="module")
def config() -> EngineConfig:
    return small_call_config()


def _shipped_yaml() -> dict:
    return yaml.safe_load((Path(__file__).parents[2] / "configs" / "engine.yaml").read_text())


def test_the_old_batching_section_is_refused_naming_its_successors(tmp_path):
    data = _shipped_yaml()
    data["batching"] = {"max_batch": 8, "max_wait_ms": 10}
    path = tmp_path / "engine.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as info:
        load_engine_config(path)
    assert "max_photos_per_call" in str(info.value) and "serving.yaml" in str(info.value)


@pytest.mark.parametrize(
    "key",
    [
        "abstain.min_condition_probability",
        "runtime.allow_spinning",
        "max_photos_per_call",
        "quality.blur_fail",
        "hashing.reuse_radius",
        "hashing.crop_fractions",
        "hashing.verification",
        "hashing.verification.min_inliers",
    ],
)
def test_a_missing_key_is_refused_by_name_not_defaulted(tmp_path, key):
    # A code default was a second copy of the value: without the key, condition abstention
    # silently went from 0.3 to off, and the quality and reuse thresholds took the code's.
    data = _shipped_yaml()
    *parents, last = key.split(".")
    section = data
    for name in parents:
        section = section[name]
    del section[last]
    path = tmp_path / "engine.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=rf"key '{key}': Field required"):
        load_engine_config(path)


def test_a_missing_engine_yaml_is_an_error_not_defaults(tmp_path, monkeypatch):
    from vision.engine import get_engine_config

    monkeypatch.setenv("SHANYRAQ_CONFIGS_DIR", str(tmp_path))
    get_engine_config.cache_clear()
    try:
        with pytest.raises(ConfigError, match=r"engine\.yaml: file not found"):
            get_engine_config()
    finally:
        get_engine_config.cache_clear()


def test_decode_size_never_below_the_quality_working_size(config):
    assert config.decode_side_for(config.decode_short_side_px + 100) == (
        config.decode_short_side_px + 100
    )
    too_small = config.quality.working_side_px - 1
    with pytest.raises(ValueError, match="working_side_px"):
        EngineConfig.model_validate({**config.model_dump(), "decode_short_side_px": too_small})


def test_scoring_alone_may_spin_the_service_may_not(config):
    # The service shares its cores with upload threads; bulk re-scoring and the CLI do not.
    shipped = load_engine_config()
    assert shipped.runtime.allow_spinning is False
    assert shipped.alone().runtime.allow_spinning is shipped.runtime.allow_spinning_alone
    quiet = config.model_copy(
        update={"runtime": config.runtime.model_copy(update={"allow_spinning_alone": False})}
    )
    assert quiet.alone().runtime.allow_spinning is False
    assert config.alone().quality == config.quality  # only the runtime changes
