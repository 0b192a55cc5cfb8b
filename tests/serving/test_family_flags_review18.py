"""Review of the family pages (helper-193): the list's "missing photos" flag counts usable
photos as the assessment counts them (welfare.aggregate), and the recommendation band legend
says which band a probability on a threshold falls in (welfare.doubts)."""

from __future__ import annotations

import pytest

from serving import assessments
from serving.db.models import Family
from serving.db.session import session_scope
from serving.web.family_view import family_rows
from serving.web.i18n import translator
from tests.serving.family_flag_helpers import KINDS, current_user
from welfare.criteria import get_welfare_config
from welfare.doubts import _model_doubts
from welfare.rules import RulesOutcome
from welfare.statements import Code


def test_the_list_flags_missing_photos_as_the_assessment_counts_usable_ones(families):
    # Before: the list counted a photo usable when it was scored without abstaining and did not
    # fail the quality check, so a family whose one photo was reused, had a NaN probability or
    # showed no dwelling got no "missing photos" flag while its assessment sent it to review
    # for too few usable photos.
    web, minimum = families, get_welfare_config().recommendation.min_usable_photos
    user = current_user(web, "commission")
    counted: dict[str, tuple[int, bool]] = {}
    with session_scope(web.services.sessions) as session:
        for kind in KINDS:
            family = session.get(Family, f"F-{kind}")
            assert family is not None
            row = assessments.compute(session, web.services, family, actor=(user.id, "test"))
            codes = {s["code"] for s in row.result["review_statements"]}
            too_few = Code.DOUBT_TOO_FEW_PHOTOS.value in codes
            counted[kind] = (row.result["photos"]["usable"], too_few)
    with session_scope(web.services.sessions) as session:
        rows = family_rows(session, web.services, user)
    flagged = {r.family_id: r.flags.missing_photos for r in rows.rows}
    assert {kind: usable for kind, (usable, _) in counted.items()} == {
        kind: int(kind == "usable") for kind in KINDS
    }  # the photos are of the kinds named
    assert {kind: too_few for kind, (_, too_few) in counted.items()} == {
        kind: usable < minimum for kind, (usable, _) in counted.items()
    }
    assert {kind: flagged[f"F-{kind}"] for kind in KINDS} == {
        kind: too_few for kind, (_, too_few) in counted.items()
    }


@pytest.mark.parametrize("language", ["en", "ru", "kk"])
def test_the_band_legend_puts_each_threshold_in_the_band_the_code_does(language):
    # Before: "Below {low}: not eligible", yet a probability of exactly `low` is not eligible
    # (welfare.doubts: p <= not_eligible_max_probability), not one to review.
    config = get_welfare_config().recommendation
    low, high = config.not_eligible_max_probability, config.eligible_min_probability
    no_rules = RulesOutcome(level6=False, income_test=None, checks=())
    assert _model_doubts(low, no_rules, None, config)[0] == "not_eligible"
    assert _model_doubts(high, no_rules, None, config)[0] == "eligible"
    legend = translator(language)("family.band_legend", low="LOW", high="HIGH")
    low_band, review_band, high_band = legend.split(" · ")
    inclusive = {"en": "Up to LOW", "ru": "До LOW включительно", "kk": "LOW дейін қоса алғанда"}
    from_high = {"en": "from HIGH", "ru": "от HIGH", "kk": "HIGH бастап"}
    assert low_band.startswith(inclusive[language]), legend
    assert high_band.startswith(from_high[language]), legend
    assert "LOW" in review_band and "HIGH" in review_band
