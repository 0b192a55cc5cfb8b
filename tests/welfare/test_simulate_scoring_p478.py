"""p478: a simulated photo that fails quality carries every reason the engine would give it; the
scoring settings an engine-trained model and the score cache record include OpenCV's, Pillow's
and libjpeg's versions and the reuse check. p482: a setting a model's record lacks is said to be
not recorded, not shown as "none"."""

from __future__ import annotations

import copy
from dataclasses import replace
from types import SimpleNamespace

import cv2
import numpy as np
import PIL
import pytest
from PIL import features

from shanyraq.errors import ModelMismatchError
from shanyraq.taxonomy import get_taxonomy
from tests.welfare.engine_study_helpers import SIZE
from training.synth.families import PlannedPhoto
from vision.engine import abstain_reasons, get_engine_config
from vision.quality import QualityVerdict
from vision.score import ABSTAIN_LOW_CONFIDENCE, ABSTAIN_NOT_DWELLING, ABSTAIN_QUALITY
from vision.score_identity import scoring_digest
from welfare.aggregate import aggregate
from welfare.real_evaluation import photo_figures
from welfare.real_score_cache import ScoreCache, score_settings
from welfare.real_scores import RealPhoto, photo_key, study_engine
from welfare.real_scoring_check import check_scoring
from welfare.simulate import NoiseModel, simulate_photo, simulate_photos

# Every photo's top room misread as not_dwelling; no random low_confidence draws.
TO_NOT_DWELLING = NoiseModel(room_accuracy=0.0, room_to_not_dwelling=1.0, low_confidence_rate=0.0)


def _blurred(n: int, family_id: str = "f") -> list[PlannedPhoto]:
    return [
        PlannedPhoto(family_id, "kitchen", 3, frozenset(), 0, False, "blurred", index=i)
        for i in range(n)
    ]


def _engine_rule(score, verdict):
    taxonomy = get_taxonomy()
    return abstain_reasons(
        score.room, score.condition, verdict, abstain=get_engine_config().abstain,
        not_dwelling=taxonomy.not_dwelling, signs=score.signs,
    )  # fmt: skip


# --- 1. a failed photo's reasons are the engine's ---


def test_a_failed_photo_misread_as_not_dwelling_gets_both_reasons_as_the_engine_gives_them():
    """Before: ("quality_fail",) alone, where the engine adds not_dwelling after it."""
    photos = simulate_photos(_blurred(5), seed=1, noise=TO_NOT_DWELLING)["f"]
    fail = QualityVerdict("fail")
    for photo in photos:
        score = photo.score
        assert photo.flags.quality_status == "fail"
        assert score.abstain
        assert score.abstain_reasons == _engine_rule(score, fail)
        assert score.abstain_reasons == (ABSTAIN_QUALITY, ABSTAIN_NOT_DWELLING)


def test_a_failed_photo_the_engine_is_not_sure_of_gets_low_confidence_after_quality_fail():
    """With the engine's condition threshold above any grade's probability, the engine says
    low_confidence beside quality_fail: so does the simulation given that rule."""
    sure_only = get_engine_config().abstain.model_copy(update={"min_condition_probability": 1.0})
    rng = np.random.default_rng(0)
    (photo,) = _blurred(1)
    score = simulate_photo(photo, index=0, rng=rng, abstain=sure_only).score
    assert score.abstain_reasons == (ABSTAIN_QUALITY, ABSTAIN_LOW_CONFIDENCE)


def test_the_abstention_table_counts_simulated_failed_photos_as_the_engines():
    """welfare.real_evaluation.photo_figures counts abstentions by their reasons, engine beside
    simulation: the same probabilities and verdict now fall in the same row (before, the
    simulated ones were all counted under quality_fail alone)."""
    planned = _blurred(4)
    simulated = simulate_photos(planned, seed=2, noise=TO_NOT_DWELLING)
    fail = QualityVerdict("fail")
    photos = {}
    for p, sim in zip(planned, simulated["f"], strict=True):
        reasons = _engine_rule(sim.score, fail)  # the engine's scores of the same numbers
        engine_score = replace(sim.score, abstain=bool(reasons), abstain_reasons=reasons)
        photos[photo_key(p)] = RealPhoto(photo_key(p), engine_score, "fail", ("blur",), "")
    held = SimpleNamespace(planned=list(enumerate(planned)), simulated=simulated)
    figures = photo_figures(held, photos, reused=dict.fromkeys(photos, False))  # type: ignore[arg-type]
    both = f"{ABSTAIN_QUALITY} + {ABSTAIN_NOT_DWELLING}"
    assert figures["abstained"]["engine"] == {both: 4}
    assert figures["abstained"]["simulated"] == {both: 4}


def test_aggregation_leaves_a_failed_photo_out_and_counts_it_once_either_way():
    taxonomy = get_taxonomy()
    photos = simulate_photos(_blurred(3), seed=3, noise=TO_NOT_DWELLING)["f"]
    visual = aggregate(
        [p.score for p in photos], flags=[p.flags for p in photos],
        expected_rooms=taxonomy.dwelling_rooms, taxonomy=taxonomy,
    )  # fmt: skip
    assert (visual.n_photos, visual.n_usable) == (3, 0)
    assert (visual.n_abstained, visual.n_quality_failed) == (3, 3)


# --- 2. the library versions and the reuse check are recorded and compared ---


@pytest.fixture(scope="module")
def engine(vision_dir):
    return study_engine(vision_dir)


def test_another_opencv_gets_another_scoring_digest(engine, vision_dir, monkeypatch):
    """vision.preprocess resizes every photo with OpenCV: the annotation pool's and the study
    cache's key follow its version."""
    before = scoring_digest(engine, vision_dir)
    monkeypatch.setattr(cv2, "__version__", cv2.__version__ + ".other")
    assert scoring_digest(engine, vision_dir) != before


def _cache_path(engine, vision_dir, tmp_path):
    held = SimpleNamespace(n=48, seed=5)
    return ScoreCache(tmp_path, engine=engine, held=held, size=SIZE, model_dir=vision_dir).path  # type: ignore[arg-type]


def test_the_cache_is_scored_again_under_other_decoders_but_not_another_reuse_radius(
    engine, vision_dir, tmp_path, monkeypatch
):
    """Pillow (and its libjpeg) decode the renders scored: another decodes other pixels. The
    reuse flags are raised from the cached hashes on every run, so the radius keeps the file."""
    path = _cache_path(engine, vision_dir, tmp_path)
    hashing = engine.config.hashing
    wider = hashing.model_copy(update={"reuse_radius": hashing.reuse_radius + 4})
    monkeypatch.setattr(engine, "config", engine.config.model_copy(update={"hashing": wider}))
    assert _cache_path(engine, vision_dir, tmp_path) == path
    monkeypatch.setattr(PIL, "__version__", PIL.__version__ + ".other")
    other_pillow = _cache_path(engine, vision_dir, tmp_path)
    assert other_pillow != path
    monkeypatch.setattr(features, "version", lambda name: "0.0-other")
    assert _cache_path(engine, vision_dir, tmp_path) not in (path, other_pillow)


def _model(settings):
    return SimpleNamespace(meta=SimpleNamespace(metrics={"data": {"score_settings": settings}}))


def test_a_model_trained_with_another_reuse_radius_is_refused(engine, vision_dir, tmp_path):
    now = score_settings(engine, size=SIZE, model_dir=vision_dir)
    assert check_scoring(_model(now), folder=tmp_path, now=now) == []  # type: ignore[arg-type]
    trained = copy.deepcopy(now)
    trained["reuse"]["reuse_radius"] = now["reuse"]["reuse_radius"] + 8
    radius = now["reuse"]["reuse_radius"]
    with pytest.raises(ModelMismatchError, match=rf"reuse check .*reuse_radius {radius + 8} when"):
        check_scoring(_model(trained), folder=tmp_path, now=now)  # type: ignore[arg-type]


def test_a_model_trained_with_other_library_versions_is_compared_and_they_are_stated(
    engine, vision_dir, tmp_path
):
    now = score_settings(engine, size=SIZE, model_dir=vision_dir)
    trained = copy.deepcopy(now)
    trained["decoders"]["pillow"] = "1.0"
    trained["scoring"]["opencv"] = "2.0"
    stated = " ".join(check_scoring(_model(trained), folder=tmp_path, now=now) or [])  # type: ignore[arg-type]
    assert f"pillow 1.0 when trained, {PIL.__version__} now" in stated
    assert f"OpenCV 2.0 when trained, {cv2.__version__} now" in stated


@pytest.mark.parametrize("missing", ["reuse", "decoders", "opencv"])
def test_a_model_recording_no_such_setting_was_trained_under_settings_unknown(
    engine, vision_dir, tmp_path, missing
):
    """One saved before the setting joined the record is refused, not compared as the same."""
    now = score_settings(engine, size=SIZE, model_dir=vision_dir)
    older = copy.deepcopy(now)
    del (older["scoring"] if missing == "opencv" else older)[missing]
    with pytest.raises(ModelMismatchError, match="not recorded when trained"):
        check_scoring(_model(older), folder=tmp_path, now=now)  # type: ignore[arg-type]


# --- 3. p482: a setting the record lacks reads "not recorded", not "none" ---


def _refusal(trained, now, tmp_path) -> str:
    with pytest.raises(ModelMismatchError) as caught:
        check_scoring(_model(trained), folder=tmp_path, now=now)  # type: ignore[arg-type]
    return caught.value.message


def test_a_setting_missing_from_a_block_of_the_record_is_not_recorded(engine, vision_dir, tmp_path):
    """Before: "quality gate (blur_fail none when trained, ...)", as if the gate had no
    blur_fail setting when the record merely predates it."""
    now = score_settings(engine, size=SIZE, model_dir=vision_dir)
    older = copy.deepcopy(now)
    del older["quality"]["blur_fail"]
    message = _refusal(older, now, tmp_path)
    assert (
        f"quality gate (blur_fail not recorded when trained, {now['quality']['blur_fail']} now)"
        in message
    )
    assert "none when trained" not in message


def test_a_missing_decode_side_still_means_the_render_was_decoded_whole(
    engine, vision_dir, tmp_path
):
    """score_settings leaves decode_side out where the render is decoded whole: that is a
    setting, not a record that predates it."""
    whole = score_settings(engine, size=SIZE, model_dir=vision_dir)
    assert "decode_side" not in whole  # SIZE is decoded whole
    shrunk = {**whole, "decode_side": 32}
    message = _refusal(whole, shrunk, tmp_path)
    assert "JPEG decode side none (decoded whole) when trained, 32 now" in message
    message = _refusal(shrunk, whole, tmp_path)
    assert "JPEG decode side 32 when trained, none (decoded whole) now" in message
    assert "not recorded" not in message
