"""Real photo scores: render the test families' photos, score them, compare fusion readings."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from shanyraq import provenance
from shanyraq.taxonomy import get_taxonomy
from welfare.cli import app
from welfare.dataset import build_family_data, split_indices, synthetic_family_data
from welfare.paired_bootstrap import paired_bootstrap, quadratic_kappa
from welfare.real_evaluation import assess_families, measure_real_scores
from welfare.real_families import held_out_families
from welfare.real_report import real_score_lines
from welfare.real_reuse import reuse_flags
from welfare.real_score_cache import ScoreCache
from welfare.real_scores import (
    engine_photos,
    planned_pixels,
    readings,
    score_photos,
    study_engine,
)

engine_fixtures = pytest.importorskip("tests.vision.engine_fixtures")

N, SEED, SIZE = 16, 2, 64  # 16 families: a test split of 4


@pytest.fixture(scope="module")
def held(welfare_config):
    return held_out_families(4, n=N, seed=SEED, config=welfare_config)


@pytest.fixture(scope="module")
def fusion_dir(tmp_path_factory, welfare_config):
    """Small fusion models trained on data (N, SEED): evaluate-real checks they were."""
    from welfare.train import train_models

    folder = tmp_path_factory.mktemp("fusion")
    names = ["lgbm_tabular", "lgbm_fused"]
    train_models(folder, n=N, seed=SEED, names=names, config=welfare_config, keep_meaningless=True)
    return folder


def test_held_out_families_are_the_test_split_with_its_simulated_scores(held, welfare_config):
    _, test_idx = split_indices(N, test_fraction=welfare_config.fusion.test_fraction, seed=SEED)
    reference = synthetic_family_data(N, seed=SEED).subset(test_idx[:4])
    assert list(held.table["family_id"]) == list(reference.table["family_id"])
    assert {p.family_id for _, p in held.planned} == set(held.table["family_id"])
    # The simulated reading is the very one `welfare evaluate` scores these families with.
    ours = build_family_data(held.table, held.simulated, config=welfare_config).features
    pd.testing.assert_frame_equal(ours, reference.features)


def test_every_family_is_assessed_and_cache_is_reused(
    tmp_path, held, vision_dir, trained, welfare_config
):
    engine = study_engine(vision_dir)
    cache = ScoreCache(tmp_path, engine=engine, held=held, size=SIZE)
    photos, counts = score_photos(held, engine=engine, size=SIZE, cache=cache)
    assert counts["scored"] == len(held.planned) == len(photos) and counts["from_cache"] == 0
    again, counts = score_photos(held, engine=engine, size=SIZE, cache=cache)
    assert counts["scored"] == 0 and counts["from_cache"] == len(held.planned)
    for key, photo in photos.items():
        assert again[key].quality_status == photo.quality_status
        assert again[key].score.abstain_reasons == photo.score.abstain_reasons
        np.testing.assert_allclose(
            list(again[key].score.room.values()), list(photo.score.room.values()), rtol=1e-6
        )
    other = ScoreCache(tmp_path, engine=engine, held=held, size=SIZE * 2)
    assert other.path != cache.path  # another render size is another set of scores

    pixels = planned_pixels(held, size=SIZE, engine=engine)
    reused, counts = reuse_flags(
        list(photos.values()), hashing=engine.config.hashing, pixels_of=pixels
    )
    assert set(reused) == set(photos) and counts["photos_flagged"] == sum(reused.values())
    data = readings(held, photos, reused=reused, config=welfare_config)
    by_family = engine_photos(held, photos, reused=reused)
    assessed = assess_families(
        data["engine"], by_family, model=trained["lgbm_fused"], config=welfare_config
    )
    assert [a.family_id for a in assessed] == list(held.table["family_id"])
    for a in assessed:
        family = by_family.get(a.family_id, [])
        assert a.photos["total"] == len(family)
        assert a.photos["abstained"] == sum(p.score.abstain for p in family)
        assert a.asp in ("eligible", "not_eligible", "needs_review")


def test_abstained_photos_are_counted_and_send_the_family_to_review(
    tmp_path, held, trained, welfare_config
):
    # A model whose room head always says not_dwelling: every photo abstains.
    vision = engine_fixtures.make_artifact(
        tmp_path / "nd", get_taxonomy(), room_bias={"not_dwelling": 20.0}
    )
    photos, _ = score_photos(held, engine=study_engine(vision), size=SIZE)
    assert all(p.score.abstain for p in photos.values())
    reused = dict.fromkeys(photos, False)
    data = readings(held, photos, reused=reused, config=welfare_config)
    by_family = engine_photos(held, photos, reused=reused)
    assessed = assess_families(
        data["engine"], by_family, model=trained["lgbm_fused"], config=welfare_config
    )
    for a in assessed:
        assert a.photos["usable"] == 0
        assert a.photos["abstained"] == a.photos["total"]
        assert a.asp == "needs_review"


def test_quadratic_kappa_matches_sklearn():
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(0)
    y = rng.integers(1, 7, 200)
    pred = np.clip(y + rng.integers(-2, 3, 200), 1, 6)
    expected = cohen_kappa_score(y, pred, labels=list(range(1, 7)), weights="quadratic")
    assert quadratic_kappa(y, pred, list(range(1, 7))) == pytest.approx(expected)


def test_paired_bootstrap_differences():
    rng = np.random.default_rng(1)
    level = rng.integers(1, 7, 300)
    base = pd.DataFrame(
        {
            "level": level,
            "level_pred": level,
            "asp_eligible": rng.random(300) < 0.4,
            "asp": rng.choice(["eligible", "not_eligible", "needs_review"], 300),
        }
    )
    worse = base.assign(level_pred=np.where(rng.random(300) < 0.3, level % 6 + 1, level))
    out = paired_bootstrap(
        {"a": base, "b": worse, "c": base.copy()},
        pairs=[("a", "c"), ("b", "a")],
        levels=list(range(1, 7)),
        n_boot=200,
        seed=0,
    )
    assert out["arms"]["a"]["accuracy"]["value"] == 1.0
    same = [d for d in out["differences"] if (d["a"], d["b"]) == ("a", "c")]
    for d in same:  # no family differs: the bootstrap gives 0 in every resample
        assert d["value"] == 0
        if d["metric"] == "qwk":  # the same predictions: the same kappa in every resample
            assert d["ci_low"] == d["ci_high"] == 0
        else:  # a share: Newcombe's paired interval, not [0, 0] (review 23)
            assert d["ci_low"] < 0 < d["ci_high"] and d["ci_method"] == "newcombe-paired"
    drop = next(d for d in out["differences"] if d["b"] == "a" and d["metric"] == "accuracy")
    assert drop["ci_low"] <= drop["value"] <= drop["ci_high"] < 0


def test_measure_and_cli_write_the_report_section(
    tmp_path, vision_dir, fusion_dir, welfare_config, monkeypatch
):
    result = measure_real_scores(
        fusion_dir,
        vision_dir=vision_dir,
        n_families=4,
        size=SIZE,
        cache_dir=tmp_path / "cache",
        n_boot=20,
        config=welfare_config,
    )
    assert result["n_families"] == 4
    assert result["assessments"] == {"n": 4, "agree_with_batch": 4}
    assert result["photos"]["n_photos"] == result["cache"]["photos"]
    monkeypatch.setattr("welfare.criteria.get_welfare_config", lambda: welfare_config)
    # A fixed code version: a checkout edited while the test runs would change the real one.
    monkeypatch.setattr(provenance, "code_version", lambda folder=None: "0.1.0+abc123def456")
    args = [
        "evaluate-real",
        "--families",
        "4",
        "--model",
        str(fusion_dir),
        "--vision",
        str(vision_dir),
        "--size",
        str(SIZE),
        "--cache",
        str(tmp_path / "cache"),
        "--n-boot",
        "20",
        "--out",
        str(tmp_path / "out"),
    ]
    run = CliRunner().invoke(app, args)
    assert run.exit_code == 0, run.output
    written = json.loads((tmp_path / "out" / "real_scores.json").read_text())
    assert written["cache"]["scored"] == 0  # every photo came from the measurement's cache
    # Which code and configuration measured it (`welfare evaluate` compares the digest).
    assert result["welfare_config_sha256"] == welfare_config.digest()
    assert written["code_version"] == "0.1.0+abc123def456"
    assert written["welfare_config_sha256"] == welfare_config.digest()
    assert written["welfare_config_measured_sha256"] == welfare_config.measured_digest()
    text = "\n".join(real_score_lines(written, targets=welfare_config.targets))
    assert "## With photos scored by the vision model" in text
    assert "lgbm_fused` is" in text and "tabular-only `lgbm_tabular`" in text
    assert (
        "Measured by code `0.1.0+abc123def456` with configs/welfare.yaml "
        f"`{welfare_config.measured_digest()[:12]}` (its digest with the targets and "
        "`fairness.intervals` aside)" in text
    )
    # A file written before they were recorded still renders, and says it records none.
    recorded = ("code_version", "welfare_config_sha256", "welfare_config_measured_sha256")
    old = {k: v for k, v in written.items() if k not in recorded}
    text = "\n".join(real_score_lines(old, targets=welfare_config.targets))
    assert "## With photos scored by the vision model" in text and "Measured by code" not in text
    assert "real_scores.json records no configs/welfare.yaml digest" in text


def test_review_doubts_count_families_per_kind_by_code():
    from welfare.real_evaluation import review_doubts
    from welfare.statements import Code

    frame = pd.DataFrame(
        {
            "review_codes": [
                [Code.DOUBT_TOO_FEW_PHOTOS.value, Code.DOUBT_REUSED_PHOTOS.value],
                [Code.DOUBT_UNDER_LINE_MODEL_DISAGREES.value],
                [Code.DOUBT_ABOVE_LINE_MODEL_DISAGREES.value, Code.DOUBT_TOO_FEW_PHOTOS.value],
                [],
            ]
        }
    )
    counts = review_doubts(frame)
    assert counts["too few usable photos"] == 2
    assert counts["a photo reused from another family"] == 1
    assert counts["rules and model disagree"] == 2  # either direction, once per family
    assert counts["possible hidden income"] == 0


def test_reuse_flags_a_cropped_copy_for_another_family_and_not_look_alikes():
    """As the service: hash candidates (crops included), verified on pixels."""
    from benchmarks.quality_curves import scenes
    from vision.engine import load_engine_config
    from vision.hashing import reuse_hashes
    from welfare.real_scores import RealPhoto

    hashing = load_engine_config().hashing
    rooms = scenes(6, seed=3, width=480)
    h, w = rooms[0].shape[:2]
    pixels = {f"F{i}/0": room for i, room in enumerate(rooms)}
    pixels["X/0"] = rooms[2][h // 20 : h - h // 20, w // 20 : w - w // 20]  # 5 % cropped copy
    pixels["F2/1"] = rooms[2].copy()  # the same family's own second copy is no fraud signal

    def photo(key):
        image = pixels[key]
        hashes = reuse_hashes(image, hashing.crop_fractions)
        return RealPhoto(key, None, "pass", (), hashes.to_hex())  # type: ignore[arg-type]

    photos = [photo(k) for k in pixels]
    flags, counts = reuse_flags(photos, hashing=hashing, pixels_of=pixels.__getitem__)
    assert {k for k, v in flags.items() if v} == {"F2/0", "F2/1", "X/0"}
    assert counts["verified_pairs"] == 2 and counts["photos_flagged"] == 3
    # Without pixels the full hash within reuse_radius decides: the crop may go unnoticed.
    unverified, _ = reuse_flags(photos, hashing=hashing, pixels_of=None)
    assert not unverified["F0/0"] and not unverified["F1/0"]
