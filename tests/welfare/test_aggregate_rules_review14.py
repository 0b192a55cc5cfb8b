"""Review 14: photo aggregation and rules at their edges, and the recommendation they lead to.

A wrong `not_eligible` takes food money from a family, so whatever the photos or the record
lack, the recommendation is never `not_eligible` while a doubt is listed.
"""

from __future__ import annotations

import itertools
import math

import pytest

from tests.welfare.aggregate_helpers import EXPECTED, score
from tests.welfare.families_helpers import family
from welfare.aggregate import PhotoFlags, aggregate
from welfare.doubts import recommend
from welfare.rules import LEVEL6, evaluate_rules
from welfare.schema import FamilyRecordError, parse_family
from welfare.statements import Code

NAN = float("nan")


# --- photos with probabilities that are no numbers ----------------------------------------


@pytest.mark.parametrize("head", ["rooms", "grades", "signs"])
def test_a_score_without_numbers_is_no_evidence_whatever_its_order(taxonomy, head):
    """An fp16 overflow (NaN) in a score that did not abstain: before, one such photo made the
    family's mean grade NaN and its min/max depended on the photos' order (min([2, nan]) is 2,
    min([nan, 2]) is nan); a NaN sign was skipped and the photo counted as usable."""
    names = {"rooms": taxonomy.room_names, "grades": taxonomy.condition_values}
    broken = score(
        taxonomy,
        "kitchen",
        3,
        sha="broken",
        **{head: dict.fromkeys(names.get(head, taxonomy.sign_names), NAN)},
    )
    good = score(taxonomy, "kitchen", 2, sha="good")
    for order in ([good, broken], [broken, good]):
        visual = aggregate(order, expected_rooms=EXPECTED, taxonomy=taxonomy)
        assert (visual.n_photos, visual.n_usable, visual.n_abstained) == (2, 1, 1)
        stats = visual.overall
        expected = good.expected_condition
        assert (stats.condition_mean, stats.condition_min, stats.condition_max) == pytest.approx(
            (expected, expected, expected)
        )
        assert visual.per_room["kitchen"].count == 1
        assert not math.isnan(stats.sign_mean["damp_mould"])


def test_a_family_whose_only_photo_has_no_numbers_goes_to_review(welfare_config, taxonomy):
    broken = score(taxonomy, grades=dict.fromkeys(taxonomy.condition_values, NAN))
    visual = aggregate([broken], expected_rooms=EXPECTED, taxonomy=taxonomy)
    assert visual.n_usable == 0 and visual.room_coverage == 0.0
    outcome, doubts = _recommend(welfare_config, visual, p=0.01)
    assert outcome == "needs_review"
    assert Code.DOUBT_TOO_FEW_PHOTOS in [d.code for d in doubts]


def test_a_missing_sign_key_is_still_read_as_unknown_not_as_a_broken_score(taxonomy):
    """A score from a model without one sign is usable; that sign is NaN, the others count."""
    photo = score(taxonomy, "kitchen", 2)
    del photo.signs["damp_mould"]
    visual = aggregate([photo], expected_rooms=EXPECTED, taxonomy=taxonomy)
    assert visual.n_usable == 1
    assert math.isnan(visual.overall.sign_mean["damp_mould"])
    assert visual.overall.sign_max["premium_finishes"] == pytest.approx(0.05)


# --- coverage and per-room statistics -------------------------------------------------------


def test_a_room_seen_only_in_unusable_photos_is_not_covered(taxonomy):
    scores = [
        score(taxonomy, "kitchen", 2, sha="k"),
        score(taxonomy, "bathroom", 1, sha="b", abstain=True),
        score(taxonomy, "bedroom", 1, sha="q"),
        score(taxonomy, "living_room", 1, sha="r"),
        score(taxonomy, "not_dwelling", 1, sha="n"),
    ]
    flags = [None, None, PhotoFlags(quality_status="fail"), PhotoFlags(reused=True), None]
    visual = aggregate(scores, flags=flags, expected_rooms=EXPECTED, taxonomy=taxonomy)
    assert visual.room_coverage == pytest.approx(1 / len(EXPECTED))
    for room in ("bathroom", "bedroom", "living_room", "exterior"):
        stats = visual.per_room[room]
        assert stats.count == 0
        assert math.isnan(stats.condition_mean) and math.isnan(stats.condition_max)
        assert all(math.isnan(v) for v in stats.sign_max.values())
    assert visual.overall.condition_max == pytest.approx(
        score(taxonomy, "kitchen", 2).expected_condition
    )
    assert (visual.n_flagged, visual.n_usable) == (4, 1)


def test_a_warned_photo_is_usable_and_a_failed_one_is_not(taxonomy):
    scores = [score(taxonomy, "kitchen", 2, sha="w"), score(taxonomy, "bedroom", 4, sha="f")]
    flags = [PhotoFlags(quality_status="warn"), PhotoFlags(quality_status="fail")]
    visual = aggregate(scores, flags=flags, expected_rooms=EXPECTED, taxonomy=taxonomy)
    assert (visual.n_usable, visual.n_quality_failed) == (1, 1)
    assert visual.per_room["kitchen"].count == 1 and visual.per_room["bedroom"].count == 0


@pytest.mark.parametrize("kind", ["abstained", "not_dwelling", "reused", "quality_failed"])
def test_no_usable_photo_of_any_kind_gives_no_evidence_and_a_review(welfare_config, taxonomy, kind):
    n = 3
    room = "not_dwelling" if kind == "not_dwelling" else "kitchen"
    scores = [score(taxonomy, room, 4, sha=str(i), abstain=kind == "abstained") for i in range(n)]
    flag = {"reused": PhotoFlags(reused=True), "quality_failed": PhotoFlags("fail")}.get(kind)
    visual = aggregate(scores, flags=[flag] * n, expected_rooms=EXPECTED, taxonomy=taxonomy)
    assert (visual.n_photos, visual.n_usable, visual.n_flagged) == (n, 0, n)
    assert visual.flagged_share == 1.0 and visual.room_coverage == 0.0
    assert math.isnan(visual.overall.condition_mean)
    # Above the line, a model sure of not_eligible: the photos alone send it to a person.
    outcome, doubts = _recommend(welfare_config, visual, p=0.01)
    assert outcome == "needs_review"
    codes = {d.code for d in doubts}
    assert {Code.DOUBT_TOO_FEW_PHOTOS, Code.DOUBT_FLAGGED_PHOTOS} <= codes
    assert (Code.DOUBT_REUSED_PHOTOS in codes) == (kind == "reused")


# --- rules: missing inputs, thresholds, family size ---------------------------------------


def _rules(config, combine="all", **criteria):
    rules = config.rules.model_copy(
        update={"level6": config.rules.level6.model_copy(update={"combine": combine})}
    )
    record = parse_family(family(config, **criteria), config=config)
    return evaluate_rules(record, rules=rules, thresholds=config.thresholds)


def _rich(config, **criteria):
    floor = 4 * config.thresholds.subsistence_minimum_kzt
    values = {
        "dwellings_owned": 2,
        "vehicles_owned": 2,
        "has_legal_entity": 1,
        "per_capita_income_kzt": floor + 1,
    }
    return {**values, **criteria}


@pytest.mark.parametrize("name", ["dwellings_owned", "vehicles_owned", "has_legal_entity"])
def test_all_with_a_missing_criterion_is_not_checkable_never_fired_or_cleared(welfare_config, name):
    """Every other criterion met at its threshold: the rule rests on the missing one."""
    result = _rules(welfare_config, "all", **_rich(welfare_config, **{name: None}))
    assert result.level6 is None
    assert LEVEL6 not in result.fired and LEVEL6 in result.not_checkable
    assert result.check(f"{LEVEL6}.{name}").code is not None
    assert f"{LEVEL6}.{name}" in result.not_checkable


def test_all_with_a_missing_and_an_unmet_criterion_does_not_fire(welfare_config):
    """One criterion fails: whatever the missing one is, `all` cannot be met."""
    result = _rules(
        welfare_config, "all", **_rich(welfare_config, dwellings_owned=None, vehicles_owned=1)
    )
    assert result.level6 is False
    assert result.check(LEVEL6).code is Code.RULE_LEVEL6_NOT_FIRED


def test_any_with_nothing_met_and_one_missing_is_not_checkable(welfare_config):
    result = _rules(
        welfare_config, "any", dwellings_owned=1, vehicles_owned=None, has_legal_entity=0
    )
    assert result.level6 is None


def test_exact_thresholds_together(welfare_config):
    """2 dwellings and 2 vehicles are met; income of exactly 4 minimums is not (so `all` does
    not fire); income exactly at the poverty line is not under it."""
    floor = 4 * welfare_config.thresholds.subsistence_minimum_kzt
    result = _rules(welfare_config, "all", **_rich(welfare_config, per_capita_income_kzt=floor))
    assert result.check(f"{LEVEL6}.dwellings_owned").fired is True
    assert result.check(f"{LEVEL6}.vehicles_owned").fired is True
    assert result.check(f"{LEVEL6}.per_capita_income_kzt").fired is False
    assert result.level6 is False
    line = welfare_config.thresholds.poverty_line_kzt
    assert _rules(welfare_config, per_capita_income_kzt=line).income_test is False
    every_fired = _rules(welfare_config, "all", **_rich(welfare_config))
    assert set(every_fired.fired) == {
        LEVEL6,
        *(f"{LEVEL6}.{n}" for n in _rich(welfare_config)),
    }


@pytest.mark.parametrize("members", [0, -1, 0.5])
def test_a_family_without_a_whole_member_is_refused(welfare_config, members):
    with pytest.raises(FamilyRecordError, match="members_total"):
        parse_family(family(welfare_config, members_total=members, members_working=0))


def test_money_on_record_counts_the_members_the_income_is_divided_by(welfare_config):
    """Per capita everywhere: the same deposits are half the years for twice the members."""
    minimum = welfare_config.thresholds.subsistence_minimum_kzt
    deposits = 12 * minimum * 10
    one = _rules(welfare_config, bank_deposits_kzt=deposits, members_total=1, members_working=1)
    two = _rules(welfare_config, bank_deposits_kzt=deposits, members_total=2, members_working=1)
    assert one.money is not None and two.money is not None
    assert one.money.years == pytest.approx(10)
    assert two.money.years == pytest.approx(5)


# --- the recommendation: never not_eligible on doubt --------------------------------------


def _recommend(config, visual, *, p, **criteria):
    values = {"per_capita_income_kzt": 2 * config.thresholds.poverty_line_kzt, **criteria}
    record = parse_family(family(config, **values), config=config)
    rules = evaluate_rules(record, rules=config.rules, thresholds=config.thresholds)
    return recommend(
        asp_probability=p,
        rules=rules,
        level=5,
        model_level=5,
        level_probs={5: 1.0},
        visual=visual,
        missing=record.missing,
        config=config.recommendation,
    )


def test_not_eligible_is_reached_only_without_a_doubt(welfare_config, taxonomy):
    """Across photos, missing inputs and incomes at and around the line, a confident model:
    not_eligible only with no doubt, and a doubt always gives needs_review."""
    line = welfare_config.thresholds.poverty_line_kzt
    good = score(taxonomy, "kitchen", 3)
    photo_sets = {
        "none": ([], None),
        "one": ([good], None),
        "abstained": ([score(taxonomy, abstain=True)], None),
        "reused": ([good, score(taxonomy, sha="b")], [None, PhotoFlags(reused=True)]),
    }
    incomes = [None, line - 1, line, line + 1, 5 * line]
    missing = [{}, {"members_total": None}, {"dwellings_owned": None}]
    seen = set()
    for (photos, flags), income, gap in itertools.product(photo_sets.values(), incomes, missing):
        visual = aggregate(photos, flags=flags, expected_rooms=EXPECTED, taxonomy=taxonomy)
        criteria = {"per_capita_income_kzt": income, **gap}
        if gap.get("members_total", 1) is None:
            criteria["members_working"] = None
        outcome, doubts = _recommend(welfare_config, visual, p=0.01, **criteria)
        seen.add(outcome)
        assert (outcome == "needs_review") == bool(doubts)
        if outcome == "not_eligible":
            assert income is not None and income >= line and photos and not flags
            assert gap.get("members_total", 1) is not None
    assert seen == {"not_eligible", "needs_review"}
