"""The pull report says why a head's agreement is null instead of leaving a bare null."""

from __future__ import annotations

import math

from annotation.agreement import HeadAgreement, krippendorff_alpha
from annotation.export import PullReport


def _report(**agreement: HeadAgreement) -> dict:
    return PullReport(rows=[], agreement=agreement, corrections={}, weights={}).to_dict()


def test_a_null_alpha_says_why_and_a_measured_one_says_nothing_more():
    lone = [["kitchen"], ["bedroom"]]  # one annotator per photo: nothing to pair
    same = [["kitchen", "kitchen"], ["kitchen", "kitchen", "kitchen"]]  # one value ever used
    varied = [["kitchen", "kitchen"], ["bedroom", "bedroom"]]
    alphas = {k: krippendorff_alpha(v) for k, v in (("lone", lone), ("same", same),
                                                   ("varied", varied))}  # fmt: skip
    assert math.isnan(alphas["lone"]) and math.isnan(alphas["same"]) and alphas["varied"] == 1.0

    heads = _report(
        room=HeadAgreement(alpha=alphas["lone"], photos=0, unanimous=0),
        condition=HeadAgreement(alpha=alphas["same"], photos=2, unanimous=2),
        signs=HeadAgreement(alpha=alphas["varied"], photos=2, unanimous=2),
    )["agreement"]
    assert heads["room"]["krippendorff_alpha"] is None
    assert heads["room"]["why_no_alpha"] == "no photo has answers from two annotators on this head"
    assert heads["condition"]["krippendorff_alpha"] is None
    assert "all 2 photo(s)" in heads["condition"]["why_no_alpha"]
    assert "same answer" in heads["condition"]["why_no_alpha"]
    assert heads["signs"] == {"krippendorff_alpha": 1.0, "photos": 2, "unanimous": 2}
