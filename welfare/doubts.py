"""Doubts: what sends an ASP recommendation to a person, each as a statement for the commission.

`recommend` puts the model's calibrated P(eligible) in a band (configs/welfare.yaml
`recommendation`) and lists every doubt; any doubt gives `needs_review`, never `not_eligible`,
because a wrong `not_eligible` takes food money from a family.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from welfare.aggregate import FamilyVisual
from welfare.criteria import RecommendationConfig
from welfare.rules import RulesOutcome
from welfare.statements import Code, Param, Statement, figure

Recommendation = Literal["eligible", "not_eligible", "needs_review"]


def recommend(
    *,
    asp_probability: float | None,
    rules: RulesOutcome,
    level: int | None = None,
    model_level: int | None = None,
    level_probs: Mapping[int, float] | None = None,
    visual: FamilyVisual,
    missing: Sequence[str],
    config: RecommendationConfig,
) -> tuple[Recommendation, list[Statement]]:
    """The ASP band and every doubt that needs a human look (none when it does not).

    `level` is the level the family is given (the level-6 rule's where it fired), `model_level`
    the model's own and `level_probs` the model's probability of each level (empty or None
    without a model). Each doubt is a statement: a code and its parameters for any language,
    and English text.
    """
    doubts = _input_doubts(rules, visual, missing, config)
    doubts += _level_doubts(rules, level, model_level)
    own = model_level if model_level is not None else level
    p = asp_probability
    band: Recommendation
    if p is None:
        doubts.append(
            Statement(
                Code.DOUBT_NO_MODEL,
                "no fusion model: the recommendation rests on the income test alone",
            )
        )
        # The commission is told why, with or without a model: the rule put a family that
        # the income test finds in need at the top level.
        doubts += _level6_in_need(rules, says_eligible=False)
        band = "eligible" if rules.income_test else "needs_review"
    else:
        # The model's doubts weigh the model's own level: where the level-6 rule set the
        # level, "the model places the family at level 6" would name a level it never gave.
        band, more = _model_doubts(p, rules, own, config)
        doubts += more
    doubts += _money_doubts(rules, config)
    doubts += _need_doubts(rules, own, level_probs or {}, config)
    if p is None and rules.income_test is False:
        doubts.append(
            Statement(
                Code.DOUBT_ABOVE_LINE_NO_MODEL,
                "declared income is at or above the poverty line; no model to weigh it",
            )
        )
    if doubts:
        return "needs_review", doubts
    return band, []


def _model_doubts(
    p: float, rules: RulesOutcome, level: int | None, config: RecommendationConfig
) -> tuple[Recommendation, list[Statement]]:
    """The band of P(eligible), and where the model disagrees with the rules or itself
    (`level`: the model's own level, not one the level-6 rule set)."""
    # configs/welfare.yaml refuses a cut on the not_eligible band's top; a config built in code
    # is not checked so: a P(eligible) in that band never says eligible, else a family under
    # the line would be not_eligible with no doubt for a person to weigh.
    says_eligible = p >= config.model_eligible_cut and p > config.not_eligible_max_probability
    doubts = _disagreements(p, rules, says_eligible=says_eligible)
    high = config.review_if_eligible_and_level_at_least
    if level is not None and level >= high and rules.income_test:
        doubts.append(
            Statement(
                Code.DOUBT_HIDDEN_INCOME,
                f"eligible by declared income, yet the model puts the family at level "
                f"{level}: possible hidden income",
                {"level": level},
            )
        )
    elif level is not None and level >= high and says_eligible:
        # Declared income does not make the family eligible (above the line, or unknown):
        # it is the model's own two estimates that disagree, not a sign of hidden income.
        doubts.append(
            Statement(
                Code.DOUBT_MODEL_ELIGIBLE_HIGH_LEVEL,
                f"the model finds the family likely eligible, yet puts it at level "
                f"{level}: its two estimates disagree",
                {"level": level},
            )
        )
    if p >= config.eligible_min_probability:
        return "eligible", doubts
    if p <= config.not_eligible_max_probability:
        return "not_eligible", doubts
    doubts.append(
        Statement(
            Code.DOUBT_NEAR_BOUNDARY,
            f"P(eligible) = {p:.2f} is near the boundary",
            {"probability": p},
        )
    )
    return "needs_review", doubts


def _input_doubts(
    rules: RulesOutcome, visual: FamilyVisual, missing: Sequence[str], config: RecommendationConfig
) -> list[Statement]:
    doubts = [
        Statement(
            Code.DOUBT_MISSING_CRITERION,
            f"{name} is missing from the record",
            {"criterion": name},
        )
        for name in config.review_if_missing
        if name in missing
    ]
    if rules.income_test is None and "per_capita_income_kzt" not in config.review_if_missing:
        text = "the income test cannot be checked"
        doubts.append(Statement(Code.DOUBT_INCOME_NOT_CHECKABLE, text))
    doubts += _photo_doubts(visual, config)
    most = config.review_if_missing_more_than
    if most is not None and len(missing) > most:
        doubts.append(
            Statement(
                Code.DOUBT_MANY_MISSING_CRITERIA,
                f"{len(missing)} criteria are missing from the record (more than {most}): the "
                "level rests on too little of it",
                {"missing": len(missing), "maximum": most},
            )
        )
    return doubts


def _photo_doubts(visual: FamilyVisual, config: RecommendationConfig) -> list[Statement]:
    doubts = []
    if visual.n_usable < config.min_usable_photos:
        doubts.append(
            Statement(
                Code.DOUBT_TOO_FEW_PHOTOS,
                f"{_photos(visual.n_usable, 'usable ')}; at least {config.min_usable_photos} "
                "needed",
                {"usable": visual.n_usable, "required": config.min_usable_photos},
            )
        )
    if visual.n_photos and visual.flagged_share > config.max_flagged_share:
        doubts.append(
            Statement(
                Code.DOUBT_FLAGGED_PHOTOS,
                # n_flagged is every photo that is not usable: not-a-dwelling photos and repeats
                # of the family's own photos count too.
                f"{visual.n_flagged} of {visual.n_photos} photos not used: abstained, failed "
                "quality, reused from another family, a repeat of an earlier photo of the "
                "family, or not a photo of a home",
                {"flagged": visual.n_flagged, "total": visual.n_photos},
            )
        )
    if visual.n_reused:
        doubts.append(
            Statement(
                Code.DOUBT_REUSED_PHOTOS,
                f"{_photos(visual.n_reused)} reused from another family",
                {"reused": visual.n_reused},
            )
        )
    return doubts


def _photos(count: int, kind: str = "") -> str:
    """`count` photos in English, singular for one: "1 usable photo", "0 usable photos"."""
    return f"{count} {kind}photo{'' if count == 1 else 's'}"


def _level_doubts(
    rules: RulesOutcome, level: int | None, model_level: int | None
) -> list[Statement]:
    """The level-6 rule overrode a model that places the family elsewhere: a human looks."""
    if rules.level6 is not True or model_level is None or model_level == level:
        return []
    text = (
        f"the level-6 rule sets level {level}, but the model places the family at level "
        f"{model_level}"
    )
    return [Statement(Code.DOUBT_RULE_OVERRIDES_MODEL_LEVEL, text, {"level": model_level})]


def _disagreements(p: float, rules: RulesOutcome, *, says_eligible: bool) -> list[Statement]:
    """The income test or the level-6 rule against the model (`says_eligible`: P(eligible) at
    or above recommendation.model_eligible_cut and above the not_eligible band)."""
    out = []
    if rules.income_test is True and not says_eligible:
        out.append(
            Statement(
                Code.DOUBT_UNDER_LINE_MODEL_DISAGREES,
                f"income is under the poverty line but the model gives P(eligible) = {p:.2f}",
                {"probability": p},
            )
        )
    if rules.income_test is False and says_eligible:
        out.append(
            Statement(
                Code.DOUBT_ABOVE_LINE_MODEL_DISAGREES,
                f"income is at or above the poverty line but the model gives P(eligible) = {p:.2f}",
                {"probability": p},
            )
        )
    return out + _level6_in_need(rules, says_eligible=says_eligible)


def _level6_in_need(rules: RulesOutcome, *, says_eligible: bool) -> list[Statement]:
    """The level-6 rule fired on a family the income test finds under the poverty line, or the
    model finds likely eligible (`says_eligible`; False without a model)."""
    if rules.level6 is not True or not (rules.income_test is True or says_eligible):
        return []
    text = "the level-6 rule fired on a family the income test or model finds in need"
    return [Statement(Code.DOUBT_LEVEL6_IN_NEED, text)]


def _money_doubts(rules: RulesOutcome, config: RecommendationConfig) -> list[Statement]:
    """Eligible by declared income with money on record worth years of the household's
    subsistence minimum: possible hidden income, whatever level the model gives (a record far
    from any it learned from can get level 1, which closes the level-based doubt)."""
    cut = config.review_if_eligible_and_money_years_at_least
    money = rules.money
    if cut is None or money is None or rules.income_test is not True or money.years < cut:
        return []
    text = (
        f"eligible by declared income, yet deposits and large purchases on record "
        f"({figure(money.amount_kzt)} KZT) come to {figure(money.years)} years of the "
        f"household's subsistence minimum: possible hidden income"
    )
    params: dict[str, Param] = {"amount_kzt": money.amount_kzt, "years": money.years}
    return [Statement(Code.DOUBT_HIDDEN_INCOME_MONEY, text, params)]


def _need_doubts(
    rules: RulesOutcome,
    own: int | None,
    level_probs: Mapping[int, float],
    config: RecommendationConfig,
) -> list[Statement]:
    """Declared income at or above the poverty line, yet the model places the family at a level
    of need (`own`, its most likely level) or finds one of them likely enough."""
    need = config.review_if_not_eligible_and_level_at_most
    if need is None or rules.income_test is not False:
        return []
    if own is not None and own <= need:
        return [
            Statement(
                Code.DOUBT_ABOVE_LINE_LEVEL_IN_NEED,
                f"declared income is at or above the poverty line, yet the model places the "
                f"family at level {own}: the income may be stale or one-off",
                {"level": own},
            )
        ]
    # The most likely level alone tips from 2 to 3 on a small change while the chance of need
    # hardly moves: the probability of every level of need counts.
    cut = config.review_if_not_eligible_and_need_probability_at_least
    chance = sum(p for value, p in level_probs.items() if value <= need)
    if cut is None or not level_probs or chance < cut:
        return []
    text = (
        f"declared income is at or above the poverty line, yet the model gives "
        f"P(level <= {need}) = {chance:.2f}: the income may be stale or one-off"
    )
    return [
        Statement(Code.DOUBT_ABOVE_LINE_NEED_LIKELY, text, {"probability": chance, "level": need})
    ]
