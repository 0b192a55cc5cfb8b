"""Reasons name the features that really drove the outcome."""

from __future__ import annotations

import numpy as np
import pytest

from welfare.explain import contributions, outcome_probability, reason_groups, top_reasons
from welfare.features import REASON_SOURCE
from welfare.statements import Code


def _row(family_data, i):
    return family_data.features.iloc[[i]].reset_index(drop=True)


def test_a_contribution_is_what_resetting_the_feature_does_to_the_probability(trained, family_data):
    model = trained["lgbm_fused"]
    row = _row(family_data, 750)
    contrib = contributions(model, row, target="asp")
    base = model.predict(row).asp_probability[0]
    for feature in ("per_capita_income_kzt", "members_total", "bank_deposits_kzt"):
        reset = row.copy()
        reset[feature] = model.meta.background[feature]
        moved = base - model.predict(reset).asp_probability[0]
        assert contrib[feature] == pytest.approx(moved, abs=1e-12)
    x = model.matrix(row)
    assert outcome_probability(model, x, target="asp")[0] == pytest.approx(base)


@pytest.mark.parametrize("name", ["lgbm_fused", "rf_fused"])
def test_perturbing_the_top_feature_moves_the_outcome(trained, family_data, name):
    model = trained[name]
    moved_top: list[float] = []
    moved_last: list[float] = []
    for i in range(700, 730):
        row = _row(family_data, i)
        ranked = top_reasons(
            model, row, space=family_data.space, target="asp", k=len(model.features)
        )
        base = model.predict(row).asp_probability[0]
        if not ranked:  # no fact alone moves a saturated outcome: nothing to perturb
            continue
        for reason, sink in ((ranked[0], moved_top), (ranked[-1], moved_last)):
            changed = row.copy()
            for feature in reason.features:  # the criterion and the figures derived from it
                changed[feature] = model.meta.background[feature]
            if changed[list(reason.features)].equals(row[list(reason.features)]):
                continue
            sink.append(abs(model.predict(changed).asp_probability[0] - base))
    assert np.mean(moved_top) > 0.05
    assert np.mean(moved_top) > 5 * np.mean(moved_last or [0.0])


def test_reasons_are_plain_words_with_direction(trained, family_data):
    model = trained["lgbm_fused"]
    row = _row(family_data, 701)
    reasons = top_reasons(
        model,
        row,
        space=family_data.space,
        target="level",
        k=3,
        level_index=2,
        level_name="3 (need)",
    )
    assert len(reasons) == 3
    assert abs(reasons[0].contribution) >= abs(reasons[2].contribution)
    for reason in reasons:
        assert reason.kind in ("tabular", "visual")
        assert ("supports level 3 (need)" in reason.text) or ("argues against" in reason.text)
        assert "_" not in reason.text.split(":")[0]  # a label, not a column name
    asp = top_reasons(model, row, space=family_data.space, target="asp", k=2)
    assert all("ASP eligibility" in r.text for r in asp)


def test_a_criterion_and_its_derived_figures_make_one_reason(trained, family_data):
    model = trained["lgbm_fused"]
    row = _row(family_data, 750)
    groups = reason_groups(model.features)
    contrib = contributions(model, row, target="asp", groups=groups)
    reasons = top_reasons(model, row, space=family_data.space, target="asp", k=len(contrib))
    named = [r.feature for r in reasons]
    assert len(named) == len(set(named))
    assert not set(named) & set(REASON_SOURCE)  # derived figures never stand alone
    income = next(r for r in reasons if r.feature == "per_capita_income_kzt")
    members = {"per_capita_income_kzt", "income_subsistence_multiple"}
    assert set(income.features) == members
    reset = row.copy()
    for feature in members:  # the criterion and its figure are reset together
        reset[feature] = model.meta.background[feature]
    moved = model.predict(row).asp_probability[0] - model.predict(reset).asp_probability[0]
    assert income.contribution == pytest.approx(moved, abs=1e-12)
    assert {r.feature: r.contribution for r in reasons}.items() <= contrib.items()


def test_figures_that_use_family_size_are_reasons_of_their_own(trained, family_data):
    """Household income, deposits and purchases figures use members_total: not credited to
    income, deposits or purchases alone, and their words name family size."""
    model = trained["lgbm_fused"]
    groups = reason_groups(model.features)
    reasons = {}
    for i in range(700, 760):
        row = _row(family_data, i)
        for r in top_reasons(model, row, space=family_data.space, target="level", k=len(groups)):
            reasons.setdefault(r.feature, r)
    for figure in ("household_income_subsistence_multiple", "deposits_subsistence_months",
                   "purchases_to_annual_income"):  # fmt: skip
        assert groups[figure] == (figure,)
        assert "family size" in family_data.space.words[figure]
        if figure in reasons:
            assert reasons[figure].features == (figure,)
            assert "family size" in reasons[figure].text.split(":")[0]
    assert "household_income_subsistence_multiple" in reasons
    for criterion in ("per_capita_income_kzt", "bank_deposits_kzt", "large_purchases_12m_kzt"):
        assert set(groups[criterion]) <= {criterion, "income_subsistence_multiple"}


def test_reasons_carry_a_code_by_direction_and_their_feature_and_value(trained, family_data):
    model = trained["lgbm_fused"]
    space = family_data.space
    every = len(model.features)
    asp, level = [], []
    for i in (703, 750):
        row = _row(family_data, i)
        asp += top_reasons(model, row, space=space, target="asp", k=every)
        level += top_reasons(model, row, space=space, target="level", k=every, level_index=1,
                             level=2, level_name="2 (severe need)")  # fmt: skip
    for reason in asp + level:
        towards = reason.contribution > 0
        expected = {
            "asp": {True: Code.REASON_ASP_TOWARDS, False: Code.REASON_ASP_AWAY},
            "level": {True: Code.REASON_LEVEL_SUPPORTS, False: Code.REASON_LEVEL_AGAINST},
        }[reason.target][towards]
        assert reason.code == expected
        assert reason.params["feature"] == reason.feature
        assert reason.params.get("level") == (2 if reason.target == "level" else None)
        value = reason.params["value"]
        if np.isnan(reason.value):
            assert value is None  # missing, not NaN: it goes through JSON
        elif reason.feature in space.binary:
            assert value is bool(reason.value)  # a yes/no fact
        else:
            assert value == reason.value
    # This LightGBM model never splits on a yes/no fact; the forest does for family 702.
    forest = trained["rf_fused"]
    yes_no = top_reasons(forest, _row(family_data, 702), space=space, target="asp", k=every)
    assert any(isinstance(r.params["value"], bool) for r in yes_no)
    assert {"has_legal_entity", "housing_tenure=owned", "rural"} <= space.binary
    assert reason.to_dict()["code"] == str(reason.code)


def test_a_reset_that_moves_the_outcome_by_a_hair_is_no_reason(trained, family_data):
    """Only facts whose reset moves the probability by more than min_weight are reasons: the
    largest of them, in order; the rest (hairs, near 0 % or 100 %) are left out."""
    model = trained["lgbm_fused"]
    space, every = family_data.space, len(model.features)
    rows = (_row(family_data, i) for i in range(700, 800))
    row, shown = next(
        (r, found)
        for r in rows
        if len(found := top_reasons(model, r, space=space, target="asp", k=every)) >= 4
    )
    cut = abs(shown[len(shown) // 2].contribution)  # between the moving facts' weights
    kept = top_reasons(model, row, space=space, target="asp", k=every, min_weight=cut)
    assert kept and len(kept) < len(shown)
    assert all(abs(r.contribution) > cut for r in kept)
    assert [r.feature for r in kept] == [r.feature for r in shown][: len(kept)]  # the largest


def test_assess_leaves_out_reasons_under_the_configured_points(trained, welfare_config, taxonomy):
    """configs/welfare.yaml recommendation.min_reason_points: no reason under it is shown,
    and without it the same family shows reasons that move its outcome by less."""
    from tests.welfare.assess_helpers import photo
    from tests.welfare.families_helpers import family
    from welfare.assess import assess
    from welfare.schema import parse_family

    least = welfare_config.recommendation.min_reason_points
    assert least > 0
    model = trained["lgbm_fused"]
    scores = [photo(taxonomy, room, 2, sha=room) for room in ("kitchen", "bedroom", "bathroom")]
    no_cut = welfare_config.model_copy(
        update={"recommendation": welfare_config.recommendation.model_copy(
            update={"min_reason_points": 0.0, "top_reasons": 50}
        )}
    )  # fmt: skip
    with_cut = welfare_config.model_copy(
        update={"recommendation": welfare_config.recommendation.model_copy(
            update={"top_reasons": 50}
        )}
    )  # fmt: skip
    record = parse_family(family(welfare_config), config=welfare_config)
    every = assess(record, scores, model=model, config=no_cut, taxonomy=taxonomy).reason_details
    kept = assess(record, scores, model=model, config=with_cut, taxonomy=taxonomy).reason_details
    assert any(abs(r["contribution"]) <= least for r in every)  # hairs exist without the cut
    assert kept and all(abs(r["contribution"]) > least for r in kept)
    assert len(kept) == sum(abs(r["contribution"]) > least for r in every)
