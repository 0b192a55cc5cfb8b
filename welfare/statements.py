"""Statements: what welfare tells a reader (a reason, a doubt, a rule), as a code with parameters.

Every sentence an `Assessment` carries is kept three ways: a stable `code`, its `params`
(numbers, feature and criterion names, levels; never formatted strings) and the English
`text`. Readers in other languages get the sentence from the web catalogues, keyed by the
code, with the parameters formatted for their locale; the English text stays for the API,
the audit trail and anything stored before codes existed.

Parameter names mean the same in every statement, so a renderer can read them without
knowing the code: `feature`, `criterion`, `criteria` and `met` name features or criteria,
`level` a welfare level, `combine` how the level-6 criteria combine, `year` a year;
booleans are yes/no answers and `None` a missing value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

Param = bool | int | float | str | list[str] | None


class Code(StrEnum):
    """Every statement welfare can make; each has a text per language in the web catalogues."""

    # Top reasons (welfare.explain): one feature's push on the outcome.
    REASON_ASP_TOWARDS = "reason.asp_towards"
    REASON_ASP_AWAY = "reason.asp_away"
    REASON_LEVEL_SUPPORTS = "reason.level_supports"
    REASON_LEVEL_AGAINST = "reason.level_against"
    # The same, for a tally with inputs missing: its figure is a lower bound (`criteria`: the
    # missing inputs), never shown as if complete.
    REASON_ASP_TOWARDS_PARTIAL = "reason.asp_towards_partial"
    REASON_ASP_AWAY_PARTIAL = "reason.asp_away_partial"
    REASON_LEVEL_SUPPORTS_PARTIAL = "reason.level_supports_partial"
    REASON_LEVEL_AGAINST_PARTIAL = "reason.level_against_partial"
    REASON_MISSING_CRITERIA = "reason.missing_criteria"
    # The level comes from the level-6 rule, not from the model (welfare.assess).
    REASON_LEVEL_FROM_RULE = "reason.level_from_rule"
    # Doubts that send a recommendation to review (welfare.assess).
    DOUBT_MISSING_CRITERION = "doubt.missing_criterion"
    DOUBT_INCOME_NOT_CHECKABLE = "doubt.income_not_checkable"
    DOUBT_TOO_FEW_PHOTOS = "doubt.too_few_photos"
    DOUBT_FLAGGED_PHOTOS = "doubt.flagged_photos"
    DOUBT_REUSED_PHOTOS = "doubt.reused_photos"
    DOUBT_NO_MODEL = "doubt.no_model"
    DOUBT_HIDDEN_INCOME = "doubt.hidden_income"
    DOUBT_MODEL_ELIGIBLE_HIGH_LEVEL = "doubt.model_eligible_high_level"
    DOUBT_NEAR_BOUNDARY = "doubt.near_boundary"
    DOUBT_UNDER_LINE_MODEL_DISAGREES = "doubt.under_line_model_disagrees"
    DOUBT_ABOVE_LINE_MODEL_DISAGREES = "doubt.above_line_model_disagrees"
    DOUBT_LEVEL6_IN_NEED = "doubt.level6_in_need"
    DOUBT_RULE_OVERRIDES_MODEL_LEVEL = "doubt.rule_overrides_model_level"
    DOUBT_ABOVE_LINE_NO_MODEL = "doubt.above_line_no_model"
    DOUBT_ABOVE_LINE_LEVEL_IN_NEED = "doubt.above_line_level_in_need"
    DOUBT_ABOVE_LINE_NEED_LIKELY = "doubt.above_line_need_likely"
    DOUBT_MANY_MISSING_CRITERIA = "doubt.many_missing_criteria"
    DOUBT_HIDDEN_INCOME_MONEY = "doubt.hidden_income_money"
    # Hard rules (welfare.rules): each level-6 criterion met, not met or not checkable ...
    RULE_DWELLINGS_MET = "rule.dwellings.met"
    RULE_DWELLINGS_NOT_MET = "rule.dwellings.not_met"
    RULE_DWELLINGS_UNKNOWN = "rule.dwellings.unknown"
    RULE_VEHICLES_MET = "rule.vehicles.met"
    RULE_VEHICLES_NOT_MET = "rule.vehicles.not_met"
    RULE_VEHICLES_UNKNOWN = "rule.vehicles.unknown"
    RULE_HIGH_INCOME_MET = "rule.high_income.met"
    RULE_HIGH_INCOME_NOT_MET = "rule.high_income.not_met"
    RULE_HIGH_INCOME_UNKNOWN = "rule.high_income.unknown"
    RULE_LEGAL_ENTITY_MET = "rule.legal_entity.met"
    RULE_LEGAL_ENTITY_NOT_MET = "rule.legal_entity.not_met"
    RULE_LEGAL_ENTITY_UNKNOWN = "rule.legal_entity.unknown"
    # ... the level-6 rule as a whole, and the ASP income test.
    RULE_LEVEL6_FIRED = "rule.level6.fired"
    RULE_LEVEL6_NOT_FIRED = "rule.level6.not_fired"
    RULE_LEVEL6_UNKNOWN = "rule.level6.unknown"
    RULE_INCOME_UNDER_LINE = "rule.income_test.under_line"
    RULE_INCOME_AT_OR_ABOVE_LINE = "rule.income_test.at_or_above_line"
    RULE_INCOME_UNKNOWN = "rule.income_test.unknown"


@dataclass(frozen=True)
class Statement:
    """One sentence: its code and parameters for any language, and its English text."""

    code: Code
    text: str
    params: dict[str, Param] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code.value, "params": dict(self.params), "text": self.text}


def number(value: float | None) -> float | None:
    """A figure as a parameter: NaN (missing) becomes None, so it survives JSON."""
    return None if value is None or math.isnan(value) else float(value)


def figure(value: float) -> str:
    """A figure in English: up to two decimals, digits grouped by commas (12,345.5).

    Other languages swap the marks (serving.web.i18n); the digits stay these.
    """
    return f"{value:,.2f}".rstrip("0").rstrip(".")
