"""Hard rules: the published level-6 criteria and the ASP income test, figures from config.

Beside them, the money on record (deposits and large purchases) measured in years of the
household's subsistence minimum: no rule, a figure the review doubts weigh (welfare.doubts).

A rule whose input is missing is neither fired nor cleared: it is reported as not checkable,
so the outcome never rests on a value nobody gave. A check that compares with a threshold
(the poverty line, the subsistence minimum) carries the threshold's year and source
(configs/welfare.yaml `thresholds`) in its params; its text gives the figure and year only,
since the source notes are long and in English. `RuleCheck.source` is the rule's own source.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from welfare.criteria import Level6Rule, RulesConfig, Thresholds
from welfare.schema import FamilyRecord
from welfare.statements import Code, Param, Statement, figure

LEVEL6 = "level6"
INCOME_TEST = "asp_income_test"
# Money a family holds or spent that declared income should account for.
MONEY_CRITERIA = ("bank_deposits_kzt", "large_purchases_12m_kzt")
MONTHS_PER_YEAR = 12

# What a check says, by outcome: fired (True), not fired (False), not checkable (None).
Verdicts = dict[bool | None, Code]
_LEVEL6_CRITERION_CODES: dict[str, Verdicts] = {
    "dwellings_owned": {
        True: Code.RULE_DWELLINGS_MET,
        False: Code.RULE_DWELLINGS_NOT_MET,
        None: Code.RULE_DWELLINGS_UNKNOWN,
    },
    "vehicles_owned": {
        True: Code.RULE_VEHICLES_MET,
        False: Code.RULE_VEHICLES_NOT_MET,
        None: Code.RULE_VEHICLES_UNKNOWN,
    },
    "per_capita_income_kzt": {
        True: Code.RULE_HIGH_INCOME_MET,
        False: Code.RULE_HIGH_INCOME_NOT_MET,
        None: Code.RULE_HIGH_INCOME_UNKNOWN,
    },
    "has_legal_entity": {
        True: Code.RULE_LEGAL_ENTITY_MET,
        False: Code.RULE_LEGAL_ENTITY_NOT_MET,
        None: Code.RULE_LEGAL_ENTITY_UNKNOWN,
    },
}
_LEVEL6_CODES: Verdicts = {
    True: Code.RULE_LEVEL6_FIRED,
    False: Code.RULE_LEVEL6_NOT_FIRED,
    None: Code.RULE_LEVEL6_UNKNOWN,
}
_INCOME_TEST_CODES: Verdicts = {
    True: Code.RULE_INCOME_UNDER_LINE,
    False: Code.RULE_INCOME_AT_OR_ABOVE_LINE,
    None: Code.RULE_INCOME_UNKNOWN,
}


@dataclass(frozen=True)
class RuleCheck:
    """One check: fired (True), not fired (False) or not checkable (None), in plain words.

    `code` and `params` say the same as `text` for any language (welfare.statements).
    """

    name: str
    fired: bool | None
    text: str
    source: str
    code: Code
    params: dict[str, Param]

    @property
    def statement(self) -> Statement:
        return Statement(self.code, self.text, self.params)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "code": self.code.value}


@dataclass(frozen=True)
class MoneyOnRecord:
    """Deposits plus large purchases (12 months) on record, and the years of the household's
    subsistence minimum they come to. A missing one of the two adds nothing, so with a gap both
    figures are what the record shows at least, never an estimate of the gap."""

    amount_kzt: float
    years: float


@dataclass(frozen=True)
class RulesOutcome:
    level6: bool | None
    income_test: bool | None  # True: per-capita income under the poverty line
    checks: tuple[RuleCheck, ...]
    # None: neither deposits nor purchases on record, or the family size is missing.
    money: MoneyOnRecord | None = None

    @property
    def fired(self) -> list[str]:
        return [c.name for c in self.checks if c.fired]

    @property
    def not_checkable(self) -> list[str]:
        return [c.name for c in self.checks if c.fired is None]

    def check(self, name: str) -> RuleCheck:
        """The check called `name` (LEVEL6, INCOME_TEST or `level6.<criterion>`)."""
        return next(c for c in self.checks if c.name == name)


def evaluate_rules(
    record: FamilyRecord, *, rules: RulesConfig, thresholds: Thresholds
) -> RulesOutcome:
    """Every level-6 criterion, their combination, and the income test, for one family."""
    criteria = _level6_criteria(record, rules, thresholds)
    how = rules.level6.combine
    level6 = _combine([c.fired for c in criteria], how)
    met = [c.name.split(".", 1)[1] for c in criteria if c.fired]
    summary = RuleCheck(
        name=LEVEL6,
        fired=level6,
        text=_level6_text(level6, met, how),
        source=rules.level6.source,
        code=_LEVEL6_CODES[level6],
        params={"combine": how} if level6 is None else {"combine": how, "met": met},
    )
    income = _income_test(record, thresholds, rules)
    return RulesOutcome(
        level6=level6,
        income_test=income.fired,
        checks=(*criteria, summary, income),
        money=money_on_record(record, thresholds),
    )


def money_on_record(record: FamilyRecord, thresholds: Thresholds) -> MoneyOnRecord | None:
    """Deposits plus large purchases on record, in years of the household's subsistence
    minimum (12 x members x `thresholds.subsistence_minimum_kzt`)."""
    members = record.number("members_total")
    known = [v for v in (record.number(name) for name in MONEY_CRITERIA) if v is not None]
    if not known or not members:
        return None
    amount = sum(known)
    yearly_minimum = MONTHS_PER_YEAR * members * thresholds.subsistence_minimum_kzt
    return MoneyOnRecord(amount_kzt=amount, years=amount / yearly_minimum)


def _level6_criteria(
    record: FamilyRecord, rules: RulesConfig, thresholds: Thresholds
) -> list[RuleCheck]:
    rule = rules.level6
    income_floor = rule.min_income_subsistence_minimums * thresholds.subsistence_minimum_kzt
    income_params: dict[str, Param] = {
        "multiple": rule.min_income_subsistence_minimums,
        "subsistence_minimum_kzt": thresholds.subsistence_minimum_kzt,
        "year": thresholds.year,
        "subsistence_minimum_source": thresholds.subsistence_minimum_source,
    }
    # (criterion, floor, above the floor only (strict), words, params). Counts are met at the
    # floor ("2+ dwellings"); income must be *above* the multiple, as the published example says.
    specs: list[tuple[str, float, bool, str, dict[str, Param]]] = [
        (
            "dwellings_owned",
            rule.min_dwellings,
            False,
            f"owns {rule.min_dwellings}+ dwellings",
            {"minimum": rule.min_dwellings},
        ),
        (
            "vehicles_owned",
            rule.min_vehicles,
            False,
            f"owns {rule.min_vehicles}+ vehicles",
            {"minimum": rule.min_vehicles},
        ),
        (
            "per_capita_income_kzt",
            income_floor,
            True,
            _income_floor_text(rule, thresholds, income_floor),
            income_params,
        ),
    ]
    if rule.legal_entity:
        specs.append(("has_legal_entity", 1, False, "a member owns a registered legal entity", {}))
    checks = []
    for name, floor, strict, words, params in specs:
        value = record.number(name)
        fired = None if value is None else (value > floor if strict else value >= floor)
        # Figures to the tiyn (statements.figure), as the pages show them: rounded to whole
        # tenge, an income 0.4 KZT above the floor would read as the floor itself.
        text = f"{words}: {_yes_no(fired)}" + ("" if value is None else f" (value {figure(value)})")
        code = _LEVEL6_CRITERION_CODES[name][fired]
        params = params if value is None else {**params, "value": value}
        checks.append(RuleCheck(f"{LEVEL6}.{name}", fired, text, rule.source, code, params))
    return checks


def _income_floor_text(rule: Level6Rule, thresholds: Thresholds, floor: float) -> str:
    """The criterion with its floor itself (`floor`: the multiple times the minimum), so that
    one subsistence minimum is not read as the floor."""
    multiple = f"{rule.min_income_subsistence_minimums:g}"
    return (
        f"per-capita income above {multiple} subsistence minimums ({figure(floor)} KZT: "
        f"{multiple} x {figure(thresholds.subsistence_minimum_kzt)}, {thresholds.year})"
    )


def _combine(values: list[bool | None], how: str) -> bool | None:
    if how == "any":
        if any(v is True for v in values):
            return True
        return None if any(v is None for v in values) else False
    if any(v is False for v in values):
        return False
    return None if any(v is None for v in values) else True


def _level6_text(fired: bool | None, met: list[str], how: str) -> str:
    if fired is None:
        return f"level-6 rule ({how} of the criteria) cannot be checked: inputs are missing"
    names = ", ".join(met) or "none"
    verdict = "fired" if fired else "did not fire"
    return f"level-6 rule ({how} of the criteria) {verdict}; criteria met: {names}"


def _income_test(record: FamilyRecord, thresholds: Thresholds, rules: RulesConfig) -> RuleCheck:
    income = record.number("per_capita_income_kzt")
    line = thresholds.poverty_line_kzt
    source = rules.asp_income_test.source
    if income is None:
        text = "ASP income test cannot be checked: per-capita income is missing"
        return RuleCheck(INCOME_TEST, None, text, source, _INCOME_TEST_CODES[None], {})
    under = income < line
    relation = "under" if under else "at or above"
    text = (
        f"declared per-capita income {figure(income)} KZT is {relation} the poverty line "
        f"{figure(line)} KZT ({thresholds.year})"
    )
    params: dict[str, Param] = {
        "income_kzt": income,
        "poverty_line_kzt": line,
        "year": thresholds.year,
        "poverty_line_source": thresholds.poverty_line_source,
    }
    return RuleCheck(INCOME_TEST, under, text, source, _INCOME_TEST_CODES[under], params)


def _yes_no(value: bool | None) -> str:
    return {True: "yes", False: "no", None: "unknown (missing)"}[value]
