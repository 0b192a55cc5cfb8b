"""Review 15: reasons for a family with no usable photo, model folders whose head files do not
fit their fusion.json, and fairness intervals resting on one family."""

from __future__ import annotations

import math
import re
import shutil

import pandas as pd
import pytest

from shanyraq.errors import ModelMismatchError
from shanyraq.taxonomy import get_taxonomy
from tests.welfare.families_helpers import family
from welfare.aggregate import aggregate
from welfare.assess import assess
from welfare.explain import contributions, reason_groups, top_reasons
from welfare.fairness import fairness_table
from welfare.fairness_report import fairness_lines
from welfare.features import PHOTO_COUNTS, VISUAL_PREFIX, family_features, feature_space
from welfare.fusion import FusionModel
from welfare.schema import parse_family


def _no_photo_row(config, taxonomy, **criteria):
    """Features of a family whose photos are all unusable (here: none taken)."""
    record = parse_family(family(config, **criteria), config=config)
    visual = aggregate([], expected_rooms=config.fusion.expected_rooms, taxonomy=taxonomy)
    space = feature_space(config, taxonomy)
    values = family_features(record, visual, space=space, config=config, taxonomy=taxonomy)
    return pd.DataFrame([values]), space


INCOMES = (0.0, 5_000.0, 20_000.0, 40_000.0, 100_000.0, 300_000.0)


@pytest.mark.parametrize("name", ["lgbm_fused", "rf_fused"])
def test_no_photo_reason_names_no_photo_figure_as_missing(trained, welfare_config, name):
    """With no usable photo, a photo figure (mean condition, a sign) has no value: resetting
    it alone to the typical family's would make a family with a condition but no photo. The
    photos are one fact then ("usable photos: 0"), reset together."""
    taxonomy = get_taxonomy()
    model = trained[name]
    seen = 0
    for income in INCOMES:
        row, space = _no_photo_row(welfare_config, taxonomy, per_capita_income_kzt=income)
        levels = model.predict(row)
        index = model.meta.levels.index(int(levels.levels[0]))
        for target in ("asp", "level"):
            reasons = top_reasons(
                model, row, space=space, target=target, k=len(model.features), level_index=index
            )
            for reason in (r for r in reasons if r.kind == "visual"):
                seen += 1
                assert not math.isnan(reason.value), reason.text
                assert reason.feature in ("vis_usable_photos", *PHOTO_COUNTS), reason.text
    assert seen  # the photos do move these families' outcomes


def test_no_photo_evidence_is_reset_together_and_moves_by_its_weight(trained, welfare_config):
    taxonomy = get_taxonomy()
    model = trained["lgbm_fused"]
    row, _ = _no_photo_row(welfare_config, taxonomy, per_capita_income_kzt=20_000.0)
    groups = reason_groups(model.features, row=row)
    photos = groups["vis_usable_photos"]
    visual = [f for f in model.features if f.startswith(VISUAL_PREFIX)]
    assert set(photos) == set(visual) - set(PHOTO_COUNTS)
    assert not any(f in groups for f in photos if f != "vis_usable_photos")
    weight = contributions(model, row, target="asp", groups=groups)["vis_usable_photos"]
    x = model.matrix(row).copy()
    for feature in photos:
        x[0, model.features.index(feature)] = model.meta.background[feature]
    reset = model.predict(pd.DataFrame(x, columns=model.features)).asp_probability[0]
    assert weight == pytest.approx(model.predict(row).asp_probability[0] - reset, abs=1e-12)


def test_with_usable_photos_each_photo_figure_stays_its_own_reason(trained, family_data):
    model = trained["lgbm_fused"]
    row = family_data.features.iloc[[750]].reset_index(drop=True)
    assert row["vis_usable_photos"].iloc[0] > 0
    assert reason_groups(model.features, row=row) == reason_groups(model.features)


def test_with_no_photo_summary_at_all_every_photo_figure_is_one_fact(trained):
    model = trained["lgbm_fused"]
    row = pd.DataFrame([dict.fromkeys(model.features, 1.0)])
    visual = [f for f in model.features if f.startswith(VISUAL_PREFIX)]
    row[visual] = float("nan")
    assert set(reason_groups(model.features, row=row)["vis_usable_photos"]) == set(visual)


def test_assess_with_no_photo_names_no_missing_photo_figure(trained, welfare_config):
    record = parse_family(family(welfare_config, per_capita_income_kzt=40_000.0))
    result = assess(record, [], model=trained["lgbm_fused"], config=welfare_config)
    for detail in result.reason_details:
        if detail["kind"] == "visual":
            assert detail["value"] is not None, detail["text"]


@pytest.mark.parametrize(
    ("kind", "source", "head"),
    [
        ("lgbm_fused", "lgbm_tabular", "level.json"),
        ("lgbm_fused", "lgbm_tabular", "asp.txt"),
        ("rf_fused", "rf_tabular", "asp.joblib"),
    ],
)
def test_a_head_file_of_another_feature_set_is_refused_on_load(
    trained, tmp_path, kind, source, head
):
    """A head file copied from a model with other features would be fed columns it was never
    fitted on; the folder is refused when loaded, saying which head and what to do."""
    folder = trained[kind].save(tmp_path / kind)
    other = trained[source].save(tmp_path / source)
    shutil.copyfile(other / head, folder / head)
    part = head.split(".")[0]
    with pytest.raises(ModelMismatchError, match=rf"{part} head .* fitted on \d+ features"):
        FusionModel.load(folder)


def test_a_whole_model_folder_still_loads(trained, tmp_path):
    folder = trained["lgbm_fused"].save(tmp_path / "m")
    assert FusionModel.load(folder).meta.version == trained["lgbm_fused"].meta.version


def test_features_the_data_lacks_are_refused_saying_what_to_do(trained):
    saved = trained["lgbm_tabular"]  # a copy never saved: the session's may have been
    model = FusionModel(saved.meta, saved.level_head, saved.asp_head)
    frame = pd.DataFrame([dict.fromkeys(model.features[1:], 0.0)])
    # The full command of the data it records (trained on (700, 3)), --out said to be added.
    command = "retrain it with `shanyraq welfare train --n 700 --seed 3 --model lgbm_tabular`"
    with pytest.raises(ModelMismatchError, match=re.escape(command)):
        model.matrix(frame)


def _outcomes(groups):
    """(group, eligible, recommendation) rows as `fairness_table` reads them."""
    return pd.DataFrame(
        {
            "region": [g for g, _, _ in groups],
            "asp_eligible": [e for _, e, _ in groups],
            "asp": [r for _, _, r in groups],
            "level": [3] * len(groups),
            "level_pred": [3] * len(groups),
        }
    )


ONE_FAMILY = _outcomes(
    [("a", True, "eligible")] * 8
    + [("a", True, "needs_review")] * 4
    + [("b", True, "not_eligible")]
    + [("b", False, "eligible")] * 3
)


def test_a_figure_resting_on_one_family_has_no_narrow_interval():
    """A bootstrap of one family never varies: its interval would read as certainty."""
    figures = fairness_table(ONE_FAMILY, groupings=["region"], n_boot=30, seed=0, min_families=1)
    for figure in figures:
        b = next(g for g in figure.groups if g.group == "b")
        if figure.metric == "level_accuracy":
            assert b.denominator == 4 and b.ci_low is not None
            continue
        assert (b.denominator, b.value) == (1, 1.0)
        assert (b.ci_low, b.ci_high) == (0.0, 1.0)
    fnr = next(f for f in figures if f.metric == "fnr")
    a = next(g for g in fnr.groups if g.group == "a")  # 12 families: the bootstrap's own
    assert a.value is not None and a.ci_low is not None and a.ci_high is not None
    assert a.ci_low < a.value < a.ci_high
    line = next(
        line
        for line in fairness_lines({"fairness": {"model": "m", "figures": [fnr.to_dict()]}})
        if line.startswith("| region | fnr |")
    )
    assert "b 100.0 % [0.0 %–100.0 %] (n = 1)" in line


def test_missing_criteria_are_listed_in_config_order_whatever_the_records_order(
    welfare_config,
):
    """Two uploads of one record, keys in another order, read the same to the commission."""
    data = family(welfare_config, vehicles_owned=None, bank_deposits_kzt=None)
    backwards = {**data, "criteria": dict(reversed(list(data["criteria"].items())))}
    expected = [c.name for c in welfare_config.criteria if data["criteria"][c.name] is None]
    assert expected == ["vehicles_owned", "bank_deposits_kzt"]
    for given in (data, backwards):
        record = parse_family(given, config=welfare_config)
        assert record.missing == expected
        assert list(record.criteria) == welfare_config.criterion_names
        result = assess(record, [], model=None, config=welfare_config)
        assert "Missing in the record: vehicles_owned, bank_deposits_kzt" in result.reasons
