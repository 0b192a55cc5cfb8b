"""Review of the family pages (helper-193): the list's "missing photos" flag counts usable
photos as the assessment counts them (welfare.aggregate), and the recommendation band legend
says which band a probability on a threshold falls in (welfare.doubts)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from serving import assessments
from serving.api.deps import CurrentUser
from serving.db.models import Family, Photo, User
from serving.db.session import session_scope
from serving.web.family_view import family_rows
from serving.web.i18n import translator
from tests.serving.helpers import Service, jpeg
from tests.web import test_statements
from vision.score import PhotoScore
from welfare.criteria import get_welfare_config
from welfare.doubts import _model_doubts
from welfare.rules import RulesOutcome
from welfare.statements import Code

# The statements tests' app with a small real fusion model: fixtures shared, not copied.
fusion_dir = test_statements.fusion_dir
web = test_statements.web

PASS = {"status": "pass", "reasons": [], "retake_hint": ""}
FAIL = {"status": "fail", "reasons": ["blur"], "retake_hint": "Hold the camera still."}
ROOMS = ("kitchen", "bathroom", "bedroom", "living_room", "exterior", "not_dwelling")


def _score(sha: str, *, top: str = "kitchen", tie: str | None = None, **kw: Any) -> dict[str, Any]:
    """A confident score whose top room is `top` (tied with `tie`, if given)."""
    room = dict.fromkeys(ROOMS, 0.02)
    room[top] = 0.9 if tie is None else 0.45
    if tie is not None:
        room[tie] = 0.45
    fields: dict[str, Any] = {
        "condition": {1: 0.05, 2: 0.7, 3: 0.15, 4: 0.05, 5: 0.05},
        "signs": {"damp_mould": 0.83},
        **kw,
    }
    return PhotoScore(
        photo_sha256=sha, model_version="photo-test", room=room,
        embedding=np.zeros(4, dtype=np.float32), **fields,
    ).to_dict()  # fmt: skip


# Each kind of photo, alone in its family: (score arguments, or None: stored without one;
# its quality verdict).
KINDS: dict[str, tuple[dict[str, Any] | None, dict[str, Any]]] = {
    "usable": ({}, PASS),
    "abstained": ({"abstain": True, "abstain_reasons": ("low_confidence",)}, PASS),
    "quality_failed": ({}, FAIL),
    "unscored": (None, PASS),
    "nan_condition": ({"condition": {1: math.nan, 2: 0.7, 3: 0.1, 4: 0.1, 5: 0.1}}, PASS),
    "nan_sign": ({"signs": {"damp_mould": math.nan}}, PASS),
    "not_dwelling": ({"top": "not_dwelling"}, PASS),
    "tied_with_not_dwelling": ({"top": "kitchen", "tie": "not_dwelling"}, PASS),
    "reused": ({}, PASS),  # the same photo is filed for REUSE_SOURCE too
}
REUSE_SOURCE = "FSRC"


def _user(web: Service, username: str) -> CurrentUser:
    with session_scope(web.services.sessions) as session:
        row = session.execute(select(User).where(User.username == username)).scalar_one()
        return CurrentUser(id=row.id, username=row.username, role=row.role, region=row.region)


def _file(web: Service, family_id: str, seed: int, score: dict[str, Any] | None, quality: Any):
    web.create_family(family_id)
    answer = web.upload(family_id, jpeg(seed, size=(800, 600)))
    assert answer.status_code == 201, answer.text
    with session_scope(web.services.sessions) as session:
        photo = session.get(Photo, answer.json()["photo_id"])
        assert photo is not None
        photo.score = None if score is None else _score(photo.sha256, **score)
        photo.model_version = None if score is None else "photo-test"
        photo.quality = quality


@pytest.fixture
def families(web: Service) -> Service:
    """One family per kind of photo (F-<kind>), each with that one photo."""
    for seed, (kind, (score, quality)) in enumerate(KINDS.items(), 40):
        if kind == "reused":
            _file(web, REUSE_SOURCE, seed, {}, PASS)
        _file(web, f"F-{kind}", seed, score, quality)
    return web


def test_the_list_flags_missing_photos_as_the_assessment_counts_usable_ones(families):
    # Before: the list counted a photo usable when it was scored without abstaining and did not
    # fail the quality check, so a family whose one photo was reused, had a NaN probability or
    # showed no dwelling got no "missing photos" flag while its assessment sent it to review
    # for too few usable photos.
    web, minimum = families, get_welfare_config().recommendation.min_usable_photos
    user = _user(web, "commission")
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
