"""The real-scores report: verdicts follow the numbers, figures are never rounded onto a target,
and undefined figures (no eligible or hidden-income families) are named as such."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from tests.welfare.real_report_helpers import TRAINED, exact_figure, real_result
from welfare.paired_bootstrap import paired_bootstrap, quadratic_kappa
from welfare.real_evaluation import review_by_photos
from welfare.real_report import REAL_PROPOSAL, engine_trained_verdict, real_verdict
from welfare.statements import Code


def _text(real, welfare_config, **targets_update) -> str:
    targets = welfare_config.targets.model_copy(update=targets_update)
    return " ".join(
        real_verdict(real, targets=targets) + engine_trained_verdict(real, targets=targets)
    )


def test_a_gain_of_exactly_the_target_is_reached_despite_float_noise(welfare_config):
    gain = 0.57 - 0.52  # 4.999999999999993 points: five points, as the table shows it
    text = _text(real_result(hidden=gain), welfare_config, hidden_income_gain_points=5)
    assert "NOT reached" not in text
    assert text.count("reached") == 2


def test_a_gain_just_under_the_target_is_not_shown_as_the_target(welfare_config):
    target = welfare_config.targets.hidden_income_gain_points
    gain = (target - 0.04) / 100  # +4.96 with a 5-point target
    text = _text(real_result(hidden=gain), welfare_config)
    shown = f"{target - 0.04:+.2f}"
    assert text.count("NOT reached") == 2
    assert f"{shown} [{shown}, {shown}]" in text
    assert f"{target:+.1f} [" not in text


def test_a_figure_just_above_its_target_is_not_shown_on_it(welfare_config):
    targets = welfare_config.targets
    exclusion, review = targets.exclusion_error + 0.0004, targets.needs_review_rate + 0.0004
    real = real_result(exclusion=exclusion)
    real["overall"]["arms"][TRAINED]["needs_review_rate"] = exact_figure(review)
    text = " ".join(engine_trained_verdict(real, targets=targets))
    assert f"Exclusion error {100 * exclusion:.2f} %" in text
    assert f"needs_review {100 * review:.2f} %" in text
    assert text.count("ABOVE the") == 2


def test_without_eligible_families_exclusion_is_not_judged(welfare_config):
    text = _text(real_result(exclusion=None, n_eligible=0), welfare_config)
    assert "does not rise" not in text and "RISES" not in text
    assert "cannot be compared" in text
    share = f"{100 * welfare_config.targets.exclusion_error:g} %"
    assert f"Exclusion error n/a (0 eligible families; not measured against the {share}" in text


@pytest.mark.parametrize(("n_eligible", "bound"), [(1, "95.0 %"), (2, "77.6 %"), (300, "1.0 %")])
def test_the_bound_on_no_exclusions_is_a_probability(welfare_config, n_eligible, bound):
    text = _text(real_result(exclusion=0.0, n_eligible=n_eligible), welfare_config)
    assert f"none excluded: below {bound} at 95 %" in text


def test_doubts_no_family_had_are_not_the_most_common(welfare_config):
    text = " ".join(real_verdict(real_result(), targets=welfare_config.targets))
    assert "most common doubts" not in text and "(0 families)" not in text


def test_the_cause_of_review_is_stated_from_the_counts(welfare_config):
    claim = "not the model, send most"
    assert claim not in _text(real_result(), welfare_config)  # an older file: no counts, no claim
    counts = {"families_to_review": 10, "with_a_photo_doubt": 4}
    text = _text(real_result(review_by_photos_engine_trained=counts), welfare_config)
    assert claim not in text and "4 of the 10 families it sent to review" in text
    counts = {"families_to_review": 10, "with_a_photo_doubt": 6}
    assert claim in _text(real_result(review_by_photos_engine_trained=counts), welfare_config)
    assert "send most families" not in " ".join(REAL_PROPOSAL)  # fixed text, no result claimed


def test_review_by_photos_counts_families_sent_to_review_with_a_photo_doubt():
    codes = [
        [Code.DOUBT_REUSED_PHOTOS, Code.DOUBT_NEAR_BOUNDARY],
        [Code.DOUBT_NEAR_BOUNDARY],
        [Code.DOUBT_TOO_FEW_PHOTOS],
        [Code.DOUBT_FLAGGED_PHOTOS],  # not sent to review: not counted
    ]
    frame = pd.DataFrame(
        {
            "asp": ["needs_review", "needs_review", "needs_review", "eligible"],
            "review_codes": [[c.value for c in family] for family in codes],
        }
    )
    assert review_by_photos(frame) == {"families_to_review": 3, "with_a_photo_doubt": 2}


def _frame(level, pred, eligible, asp) -> pd.DataFrame:
    return pd.DataFrame({"level": level, "level_pred": pred, "asp_eligible": eligible, "asp": asp})


def test_identical_arms_differ_by_exactly_zero_in_every_resample():
    rng = np.random.default_rng(0)
    level = rng.integers(1, 7, 60)
    pred = np.clip(level + rng.integers(-1, 2, 60), 1, 6)
    eligible = rng.random(60) < 0.4
    asp = np.where(rng.random(60) < 0.3, "not_eligible", "needs_review")
    frame = _frame(level, pred, eligible, asp)
    result = paired_bootstrap(
        {"a": frame, "b": frame.copy()},
        pairs=[("a", "b")],
        levels=[1, 2, 3, 4, 5, 6],
        n_boot=200,
        seed=1,
    )
    for d in result["differences"]:
        assert d["value"] == 0.0
        if d["metric"] == "qwk":
            assert (d["ci_low"], d["ci_high"]) == (0.0, 0.0)
        else:  # a share no family differs on: Newcombe's paired interval (review 23)
            assert d["ci_low"] < 0.0 < d["ci_high"]
    kappa = result["arms"]["a"]["qwk"]["value"]
    assert kappa == pytest.approx(cohen_kappa_score(level, pred, weights="quadratic"))
    assert quadratic_kappa(level, pred, [1, 2, 3, 4, 5, 6]) == pytest.approx(kappa)


def test_a_reuse_check_that_flagged_nothing_says_so_without_an_empty_list():
    from welfare.real_report import _real_photo_lines

    graded = {"accuracy": 0.5, "qwk": 0.4, "n": 10}
    photos = {
        "n_photos": 40, "room_accuracy": 0.9, "abstained": {"engine": {}, "simulated": {}},
        "condition_on_usable_photos": {"engine": graded, "simulated": graded},
        "gate_by_planned": {}, "reused_by_planned": {}, "reused_flagged": 0,
    }  # fmt: skip
    real = {"photos": photos, "condition_vs_level": {"engine": 0.3, "simulated": 0.4}, "size": 64,
            "fused": "f"}  # fmt: skip
    text = " ".join(_real_photo_lines(real))
    assert "no photo matched another family's" in text and "()" not in text
    flagged = {**photos, "reused_flagged": 3, "reused_by_planned": {"usable": 3}}
    text = " ".join(_real_photo_lines({**real, "photos": flagged}))
    assert "3 photos of distinct rendered homes matched another family's (usable 3)" in text
