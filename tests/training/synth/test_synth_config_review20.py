"""Review 20 of configs/synth.yaml and the noise bank: a weight table, range or figure the
generator cannot draw from is refused when read, naming its key; and no caller can write
into the noise bank that every later photo in the process cuts its windows from."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from shanyraq.errors import ConfigError
from training.synth.config import load_synth_config
from training.synth.textures import noise

REAL = Path(__file__).resolve().parents[3] / "configs" / "synth.yaml"
_DATA = yaml.safe_load(REAL.read_text(encoding="utf-8"))
NAN, INF = float("nan"), float("inf")


def _load(tmp_path: Path, section: str, key: str, value: Any, sub: str | None = None):
    """configs/synth.yaml with section.key (or section.key.sub) set to value, loaded."""
    data = copy.deepcopy(_DATA)
    if sub is None:
        data[section][key] = value
    else:
        data[section][key][sub] = value
    path = tmp_path / "synth.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return load_synth_config(path)


def _zeros(section: str, key: str) -> dict[str, float]:
    return dict.fromkeys(_DATA[section][key], 0.0)


def _without(section: str, key: str, name: str) -> dict[str, float]:
    return {k: v for k, v in _DATA[section][key].items() if k != name}


@pytest.mark.parametrize(
    ("section", "key", "sub", "value", "named"),
    [
        # NaN and infinity passed every check, and rng.choice failed on NaN later.
        ("not_dwelling", "kind_weights", "screen", NAN, "kind_weights.screen"),
        ("photos", "room_weights", "kitchen", NAN, "room_weights.kitchen"),
        ("families", "case_rates", "hidden_income", NAN, "case_rates.hidden_income"),
        ("families", "unusable_reasons", "blurred", INF, "unusable_reasons.blurred"),
        ("families", "level_weights", None, [NAN] * 6, "level_weights"),
        ("signs", "damp_mould", "intercept", NAN, "damp_mould.intercept"),
        ("camera", "exposure", None, [0.7, INF], "exposure"),
        ("photos", "split_fractions", None, [NAN, 0.15, 0.15], "split_fractions"),
        # negative or all-zero weights: no distribution to draw from
        ("not_dwelling", "kind_weights", "screen", -0.2, "kind_weights.screen"),
        ("not_dwelling", "kind_weights", None, _zeros("not_dwelling", "kind_weights"), "kind_"),
        ("photos", "room_weights", "bathroom", -0.1, "room_weights.bathroom"),
        ("photos", "room_weights", None, _zeros("photos", "room_weights"), "room_weights"),
        ("families", "unusable_reasons", None, _zeros("families", "unusable_reasons"), "unus"),
        # a name left out was silently never drawn
        ("not_dwelling", "kind_weights", None, _without("not_dwelling", "kind_weights", "screen"),
         r"kind_weights: missing \['screen'\]"),
        ("families", "unusable_reasons", None, _without("families", "unusable_reasons", "blurred"),
         r"unusable_reasons: missing \['blurred'\]"),
        ("families", "case_rates", None, _without("families", "case_rates", "missing_photos"),
         r"case_rates: missing \['missing_photos'\]"),
    ],
)  # fmt: skip
def test_a_weight_table_the_generator_cannot_draw_from_is_refused_by_key(
    tmp_path, section, key, sub, value, named
):
    with pytest.raises(ConfigError, match=named):
        _load(tmp_path, section, key, value, sub)


def test_a_room_left_out_of_room_weights_is_refused_against_the_taxonomy(tmp_path, taxonomy):
    config = _load(
        tmp_path, "photos", "room_weights", _without("photos", "room_weights", "exterior")
    )
    with pytest.raises(ConfigError, match=r"room_weights: missing \['exterior'\]"):
        config.check_against(taxonomy)


def test_a_zero_weight_still_turns_one_kind_off(tmp_path, taxonomy):
    kinds = {**_DATA["not_dwelling"]["kind_weights"], "screen": 0.0}
    config = _load(tmp_path, "not_dwelling", "kind_weights", kinds).check_against(taxonomy)
    assert config.not_dwelling.kind_weights["screen"] == 0.0
    reasons = {**_DATA["families"]["unusable_reasons"], "not_a_home": 0.0}
    assert _load(tmp_path, "families", "unusable_reasons", reasons).families.unusable_reasons


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("camera", "back_wall_width", [0.0, 0.5]),  # ZeroDivisionError in make_geometry
        ("camera", "back_wall_height", [0.4, 1.5]),  # a share of the image above 1
        ("camera", "blur_sigma", [0.0, 1.0]),  # OpenCV's GaussianBlur assertion
        ("camera", "exposure", [0.0, 1.2]),
        ("camera", "noise_sd", [-1.0, 6.0]),
        ("photos", "jpeg_quality", [95, 72]),  # rng.integers failed at the first photo
        ("photos", "jpeg_quality", [72, 120]),  # OpenCV clamped it to 100 without a word
        ("photos", "split_fractions", [0.0, 0.0, 0.0]),  # refused after rendering every photo
        ("photos", "split_fractions", [0.8, -0.1, 0.3]),
        ("families", "photos_per_family", [0, 4]),  # a "typical" family without photos
    ],
)
def test_a_range_outside_its_meaning_is_refused_by_key(tmp_path, section, key, value):
    with pytest.raises(ConfigError, match=key):
        _load(tmp_path, section, key, value)


# --- the noise bank ---


@pytest.mark.parametrize("smooth", [True, False])
@pytest.mark.parametrize("side", [32, 256])
def test_a_noise_window_cannot_be_written_into_the_shared_bank(smooth, side):
    first = noise(np.random.default_rng(11), side, side, smooth=smooth).copy()
    for seed in range(8):  # both the plain window and the flipped one
        window = noise(np.random.default_rng(seed), side, side, smooth=smooth)
        with pytest.raises(ValueError, match="read-only"):
            window += 100.0
    # a later photo still cuts the same values from the bank
    assert np.array_equal(noise(np.random.default_rng(11), side, side, smooth=smooth), first)


def test_an_empty_noise_window_next_to_a_large_side_is_empty_not_an_opencv_error():
    def state_after(h: int, w: int) -> dict:
        rng = np.random.default_rng(5)
        assert noise(rng, h, w, smooth=True).shape == (h, w)
        return rng.bit_generator.state

    assert state_after(0, 300) == state_after(300, 0) == state_after(64, 64)


def test_a_negative_noise_window_is_refused():
    # It returned an empty window of the wrong shape without a word.
    with pytest.raises(ValueError, match="negative"):
        noise(np.random.default_rng(0), -1, 5, smooth=False)
