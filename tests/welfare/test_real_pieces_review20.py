"""Review 20: head checks, reuse flags of the real-score study.

Before, a fusion.json whose 'head_sha256' was an empty map (or [] or "") was read as a model
saved before digests were kept, so a head file of another fit loaded unchecked; and the study's
reuse counts stopped at a photo's first verified candidate, so a photo filed for three families
reported two verified pairs of its three.
"""

from __future__ import annotations

import json
import shutil

import pytest

from shanyraq.errors import ModelMismatchError
from welfare.fusion import FusionModel
from welfare.model_folder import META_FILE
from welfare.real_reuse import reuse_description, reuse_flags
from welfare.train import fit_on

# --- head files of a fusion.json with an empty digest map ----------------------------------


@pytest.fixture(scope="module")
def swapped(family_data, welfare_config, tmp_path_factory):
    """A model's folder whose level head is another fit's (same features, same levels)."""
    subset = family_data.subset(range(300))
    mine = fit_on(subset, "rf_tabular", config=welfare_config, seed=0, source={})
    other = fit_on(subset, "rf_tabular", config=welfare_config, seed=1, source={})
    root = tmp_path_factory.mktemp("heads")
    folder = mine.save(root / "m")
    shutil.copyfile(other.save(root / "other") / "level.joblib", folder / "level.joblib")
    return folder


@pytest.mark.parametrize("empty", [{}, [], ""])
def test_an_empty_digest_map_does_not_let_another_fits_head_load(swapped, tmp_path, empty):
    folder = shutil.copytree(swapped, tmp_path / "m")
    meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    meta["head_sha256"] = empty
    (folder / META_FILE).write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(ModelMismatchError) as refused:
        FusionModel.load(folder)
    message = refused.value.message
    assert str(folder / META_FILE) in message, message
    # Built again beside where it is; it records no data (source {}), which is said.
    command = (
        f"retrain it with `shanyraq welfare train --out {tmp_path} --model rf_tabular --overwrite`"
    )
    assert command in message, message
    assert "with --n and --seed of the data it was trained on" in message, message


def test_the_swapped_head_is_still_refused_by_its_digest(swapped, tmp_path):
    folder = shutil.copytree(swapped, tmp_path / "m")
    with pytest.raises(ModelMismatchError, match=r"level\.joblib: not the file this model"):
        FusionModel.load(folder)


# --- reuse counts: every candidate pair, once ----------------------------------------------


def _photos(keys_to_scene):
    from benchmarks.quality_curves import scenes
    from vision.engine import load_engine_config
    from vision.hashing import reuse_hashes
    from welfare.real_scores import RealPhoto

    hashing = load_engine_config().hashing
    rooms = scenes(3, seed=7, width=320)
    pixels = {key: rooms[scene].copy() for key, scene in keys_to_scene.items()}
    photos = [
        RealPhoto(key, None, "pass", (), reuse_hashes(image, hashing.crop_fractions).to_hex())  # type: ignore[arg-type]
        for key, image in pixels.items()
    ]
    return photos, pixels, hashing


@pytest.mark.parametrize("verified_on_pixels", [True, False])
def test_a_photo_filed_for_three_families_counts_its_three_pairs(verified_on_pixels):
    # one photo filed for families A, B and C; D's own photo is another room
    photos, pixels, hashing = _photos({"A/0": 0, "B/0": 0, "C/0": 0, "D/0": 1})
    flags, counts = reuse_flags(
        photos, hashing=hashing, pixels_of=pixels.__getitem__ if verified_on_pixels else None
    )
    assert flags == {"A/0": True, "B/0": True, "C/0": True, "D/0": False}
    assert counts["candidate_pairs"] == 3 and counts["verified_pairs"] == 3, counts
    assert counts["photos_flagged"] == 3
    assert "3 candidate pairs, 3 verified, 3 photos flagged" in reuse_description(hashing, counts)
    # The counts do not hang on the order the photos come in.
    _, backwards = reuse_flags(
        photos[::-1], hashing=hashing, pixels_of=pixels.__getitem__ if verified_on_pixels else None
    )
    assert backwards == counts


def test_no_photos_flag_nothing():
    from vision.engine import load_engine_config

    flags, counts = reuse_flags([], hashing=load_engine_config().hashing, pixels_of=None)
    assert flags == {} and set(counts.values()) == {0}
