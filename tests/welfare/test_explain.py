"""Reasons name the features that really drove the outcome."""

from __future__ import annotations

import numpy as np
import pytest

from welfare.explain import contributions, top_reasons
from welfare.features import REASON_SOURCE
from welfare.statements import Code


def _row(family_data, i):
    return family_data.features.iloc[[i]].reset_index(drop=True)


def test_lightgbm_contributions_add_up_to_the_calibrated_score(trained, family_data):
    model = trained["lgbm_fused"]
    row = _row(family_data, 750)
    contrib = contributions(model, row, target="asp")
    raw = model.asp_raw(model.matrix(row))[0]
    bias = model.meta.platt[0] * model.asp_head.contributions(model.matrix(row))[0, -1]
    assert sum(contrib.values()) + bias + model.meta.platt[1] == pytest.approx(raw, abs=1e-6)


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
    row = _row(family_data, 705)
    contrib = contributions(model, row, target="asp")
    reasons = top_reasons(model, row, space=family_data.space, target="asp", k=len(contrib))
    named = [r.feature for r in reasons]
    assert len(named) == len(set(named))
    assert not set(named) & set(REASON_SOURCE)  # derived figures never stand alone
    income = next(r for r in reasons if r.feature == "per_capita_income_kzt")
    members = {"per_capita_income_kzt", "income_subsistence_multiple"}
    assert set(income.features) == members
    assert income.contribution == pytest.approx(sum(contrib[f] for f in members))
    assert sum(r.contribution for r in reasons) == pytest.approx(sum(contrib.values()))


def test_figures_that_use_family_size_are_reasons_of_their_own(trained, family_data):
    """Household income, deposits and purchases figures use members_total: not credited to
    income, deposits or purchases alone, and their words name family size."""
    model = trained["lgbm_fused"]
    row = _row(family_data, 705)
    contrib = contributions(model, row, target="asp")
    reasons = {
        r.feature: r
        for r in top_reasons(model, row, space=family_data.space, target="asp", k=len(contrib))
    }
    for figure in ("household_income_subsistence_multiple", "deposits_subsistence_months",
                   "purchases_to_annual_income"):  # fmt: skip
        reason = reasons[figure]
        assert reason.features == (figure,)
        assert reason.contribution == pytest.approx(contrib[figure])
        assert "family size" in reason.text.split(":")[0]
    for criterion in ("per_capita_income_kzt", "bank_deposits_kzt", "large_purchases_12m_kzt"):
        assert set(reasons[criterion].features) <= {criterion, "income_subsistence_multiple"}


def test_reasons_carry_a_code_by_direction_and_their_feature_and_value(trained, family_data):
    model = trained["lgbm_fused"]
    row = _row(family_data, 703)
    space = family_data.space
    every = len(model.features)
    asp = top_reasons(model, row, space=space, target="asp", k=every)
    level = top_reasons(model, row, space=space, target="level", k=every, level_index=1,
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
    assert any(isinstance(r.params["value"], bool) for r in asp)
    assert {"has_legal_entity", "housing_tenure=owned", "rural"} <= space.binary
    assert reason.to_dict()["code"] == str(reason.code)
