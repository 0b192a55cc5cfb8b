"""Review 16: augmentation pipeline files refused in one line that names the file and the
transform (strict=True in force), photos kept uint8 HxWx3 and upright, seeded draws, the
pipeline's sha256; the model card's figures, data, paths, stability and tables."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from shanyraq.errors import ConfigError
from tests.training.evaluation_helpers import toy_evaluation
from training.augment import build_pipeline, list_pipelines, load_pipeline_config
from training.data import augmented
from training.model_card import model_card, write_model_card

REGISTERED = [n for n in list_pipelines() if n != "none"]


# 1. A bad pipeline file: one ConfigError line naming the file and the transform.


def _leaf(name: str, params: str = "") -> str:
    return f"  - name: {name}\n" + (f"    params: {{{params}}}\n" if params else "")


def _one_of(params: str) -> str:
    return f"  - name: OneOf\n    params: {{{params}}}\n    transforms:\n      - name: MotionBlur\n"


BAD = {
    "misspelt parameter (strict)": ("HorizontalFlip", _leaf("HorizontalFlip", "pp: 0.5")),
    "misspelt parameter in OneOf child": (
        "MotionBlur",
        "  - name: OneOf\n    transforms:\n      - name: MotionBlur\n"
        "        params: {blur_limt: [3, 5]}\n",
    ),
    "misspelt OneOf parameter": ("OneOf", _one_of("pp: 0.5")),
    "wrong type": ("HorizontalFlip", _leaf("HorizontalFlip", "p: high")),
    "wrong type of a range": ("MotionBlur", _leaf("MotionBlur", "blur_limit: abc")),
    "p above 1": ("HorizontalFlip", _leaf("HorizontalFlip", "p: 1.5")),
    "p below 0": ("GaussianBlur", _leaf("GaussianBlur", "p: -0.1")),
    "OneOf p above 1": ("OneOf", _one_of("p: 1.5")),
    "OneOf with an empty list": ("OneOf", "  - name: OneOf\n    transforms: []\n"),
    "OneOf with no list": ("OneOf", _leaf("OneOf", "p: 0.5")),
    "unknown transform": ("NoSuchThing", _leaf("NoSuchThing")),
    "base class": ("BasicTransform", _leaf("BasicTransform")),
    "base class that builds": ("ImageOnlyTransform", _leaf("ImageOnlyTransform")),
    "a crop changes the size": ("RandomCrop", _leaf("RandomCrop", "height: 10, width: 10")),
    "one grey channel": ("ToGray", _leaf("ToGray", "num_output_channels: 1")),
    "children on a plain transform": (
        "HorizontalFlip",
        "  - name: HorizontalFlip\n    transforms:\n      - name: MotionBlur\n",
    ),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_bad_pipeline_is_one_line_naming_file_and_transform(configs, case):
    transform, body = BAD[case]
    path = configs(f"name: bad\ntransforms:\n{body}", name="bad")
    with pytest.raises(ConfigError) as caught:
        build_pipeline("bad")
    message = caught.value.message
    assert "\n" not in message, message
    assert message.startswith(f"{path}: "), message
    assert transform in message, message


def test_strict_is_in_force_and_says_which_parameter(configs):
    configs(
        "name: bad\ntransforms:\n  - name: GaussianBlur\n    params: {sigma_lmit: [0.5, 1]}\n",
        name="bad",
    )
    with pytest.raises(ConfigError, match=r"transform GaussianBlur: parameter\(s\) 'sigma_lmit'"):
        build_pipeline("bad")


def test_parameter_out_of_range_says_what_it_got(configs):
    configs("name: bad\ntransforms:\n  - name: HorizontalFlip\n    params: {p: 1.5}\n", name="bad")
    with pytest.raises(ConfigError, match=r"parameter 'p': .*less than or equal to 1 \(got 1\.5\)"):
        build_pipeline("bad")


def test_empty_pipeline_is_refused(configs):
    path = configs("name: bad\ntransforms: []\n", name="bad")
    with pytest.raises(ConfigError, match="'transforms' is empty") as caught:
        build_pipeline("bad")
    assert caught.value.message.startswith(str(path)) and "\n" not in caught.value.message


def test_good_groups_still_build(configs):
    configs(
        "name: ok\ntransforms:\n  - name: SomeOf\n    params: {n: 1, p: 1}\n    transforms:\n"
        "      - name: MotionBlur\n      - name: GaussianBlur\n  - name: Sequential\n"
        "    transforms:\n      - name: HorizontalFlip\n",
        name="ok",
    )
    pipeline = build_pipeline("ok", seed=3)
    assert pipeline is not None
    rgb = np.random.default_rng(1).integers(0, 256, size=(24, 24, 3), dtype=np.uint8)
    assert pipeline(rgb).shape == rgb.shape


# 2. The output: uint8 HxWx3, upright, only the image goes through the pipeline.


@pytest.mark.parametrize("name", REGISTERED)
@pytest.mark.parametrize("shape", [(32, 48, 3), (64, 64, 3)])
def test_registered_pipelines_keep_uint8_size_and_channels(name, shape):
    rgb = np.random.default_rng(0).integers(0, 256, size=shape, dtype=np.uint8)
    pipeline = build_pipeline(name)
    assert pipeline is not None
    for index in range(20):
        out = augmented(rgb, pipeline, 5, index)
        assert out.shape == shape and out.dtype == np.uint8 and out.flags.c_contiguous


@pytest.mark.parametrize("name", REGISTERED)
def test_registered_pipelines_keep_the_photo_upright(name):
    # Ceiling bright, floor dark: a phone photo is never upside down or on its side (a
    # horizontal mirror is fine: no label depends on left and right).
    rgb = np.zeros((64, 64, 3), np.uint8)
    rgb[:32] = 200
    rgb[32:] = 40
    pipeline = build_pipeline(name)
    assert pipeline is not None
    for index in range(40):
        out = augmented(rgb, pipeline, 9, index).astype(float)
        assert out[:20].mean() > out[-20:].mean() + 60, index


# 3. Seeds: the same seed the same photo, another seed (another worker's draws) another one.


@pytest.mark.parametrize("name", REGISTERED)
def test_same_seed_same_photo_across_separately_built_pipelines(name):
    rgb = np.random.default_rng(2).integers(0, 256, size=(40, 40, 3), dtype=np.uint8)
    first, second = build_pipeline(name, seed=0), build_pipeline(name, seed=123)
    assert first is not None and second is not None
    for index in range(6):
        assert np.array_equal(augmented(rgb, first, 4, index), augmented(rgb, second, 4, index))
    draws = [augmented(rgb, first, 4, index).tobytes() for index in range(12)]
    assert len(set(draws)) > 6  # indices (spread over workers) draw apart
    other_run = [augmented(rgb, first, 5, index).tobytes() for index in range(12)]
    assert draws != other_run


# 4. The pipeline's sha256: its content, not its comments or layout.

PHONEISH = "name: p\n# a comment\ntransforms:\n  - name: HorizontalFlip\n    params: {p: 0.5}\n"


def test_augmentation_sha256_follows_content_not_comments(configs):
    from training.run_folder import augmentation_record

    configs(PHONEISH, name="p")
    before = augmentation_record("p")["sha256"]
    configs(
        "# reworded\nname:   p\n\ntransforms:\n- name: HorizontalFlip   # mirror\n"
        "  params:\n    p: 0.5\n",
        name="p",
    )
    assert augmentation_record("p")["sha256"] == before
    configs(PHONEISH.replace("0.5", "0.6"), name="p")
    assert augmentation_record("p")["sha256"] != before
    assert load_pipeline_config("p").transforms[0].params == {"p": 0.6}


# 5. The model card.


@pytest.fixture(scope="module")
def measured(toy_manifest, taxonomy):
    artifact, metrics = toy_evaluation(toy_manifest, taxonomy)
    metrics["data"] = {
        "manifest": str(toy_manifest.resolve()),  # as `shanyraq evaluate` with an absolute path
        "manifest_sha256": "ab" * 32,
        "evaluated_split": "test",
        "held_out_styles": [2],
    }
    artifact = artifact.model_copy(update={"code_version": "0.1.0", "created_at": "2026-01-01"})
    return artifact, metrics


def _copy(metrics):
    import copy

    return copy.deepcopy(metrics)


def test_card_names_the_data_without_the_builders_paths(measured, toy_manifest):
    artifact, metrics = measured
    card = model_card(artifact, metrics, recipe=None)
    data = card.split("## Data it was measured on")[1].split("## ")[0]
    assert str(toy_manifest.parent) not in card and str(Path.home()) not in card, data
    assert "manifest.csv" in data and "abababababababab" in data
    assert f"test split: {metrics['n_test_photos']} photos of {metrics['n_test_families']}" in data
    assert "Held-out visual styles: [2]" in data


def test_card_writes_n_a_for_missing_counts_and_hash(measured):
    artifact, metrics = measured
    metrics = _copy(metrics)
    del metrics["n_test_photos"], metrics["n_test_families"]
    metrics["data"]["manifest_sha256"] = None
    card = model_card(artifact, metrics, recipe=None)
    assert "None" not in card, card
    assert "n/a photos of n/a families" in card


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan, None])
def test_card_writes_n_a_for_non_finite_figures_and_never_met(measured, bad):
    artifact, metrics = measured
    metrics = _copy(metrics)
    metrics["test"]["room"]["macro_f1"] = bad
    metrics["test"]["ece"]["room"]["after"] = bad
    card = model_card(artifact, metrics, recipe=None)
    assert "| room macro-F1 | >= 0.97 | n/a (undefined on these photos) | no |" in card, card
    assert "| ECE room (calibrated) | <= 0.03 | n/a (undefined on these photos) | no |" in card
    assert not re.search(r"\b(inf|nan|None)\b", card, re.IGNORECASE), card


def _table_rows(card: str) -> list[str]:
    return [line for line in card.splitlines() if line.startswith("|")]


def test_card_tables_stay_well_formed_and_code_spans_closed(measured):
    artifact, metrics = measured
    metrics = _copy(metrics)
    metrics["data"]["manifest"] = "data/a|b `odd`/manifest.csv"
    card = model_card(artifact.model_copy(update={"model_version": "v|1"}), metrics, recipe=None)
    rows = _table_rows(card)
    assert rows and all(len(re.findall(r"(?<!\\)\|", row)) == 5 for row in rows), rows
    manifest_line = next(line for line in card.splitlines() if line.startswith("- Manifest"))
    assert "``data/a|b `odd`/manifest.csv``" in manifest_line, manifest_line


def test_card_is_stable_and_differs_only_in_its_build_stamp(measured, tmp_path):
    artifact, metrics = measured
    assert model_card(artifact, metrics, recipe=None) == model_card(artifact, metrics, recipe=None)
    later = artifact.model_copy(update={"created_at": "2026-02-02", "code_version": "0.1.1"})
    one = model_card(artifact, metrics, recipe=None).splitlines()
    two = model_card(later, metrics, recipe=None).splitlines()
    changed = [a for a, b in zip(one, two, strict=True) if a != b]
    assert len(changed) == 1 and "created 2026-01-01" in changed[0]
    card = write_model_card(tmp_path / "card.md", artifact, metrics, recipe=None)
    stamp = card.stat().st_mtime_ns
    write_model_card(card, later, metrics, recipe=None, keep_unchanged=True)
    assert card.stat().st_mtime_ns == stamp and "2026-01-01" in card.read_text()


def test_card_states_targets_and_whether_met(measured):
    artifact, metrics = measured
    card = model_card(artifact, metrics, recipe=None)
    rows = _table_rows(card)[2:]
    names = [row.split("|")[1].strip() for row in rows]
    assert names[:4] == ["room macro-F1", "condition QWK", "signs mAP", "not_dwelling recall"]
    assert all(row.rstrip().endswith(("| yes |", "| no |")) for row in rows), rows
    # The fixed predictor says room 0 for every photo: far from the macro-F1 target.
    assert rows[0].endswith("| no |")
