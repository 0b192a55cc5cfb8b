"""p489: texts a commission reads say what the checks test.

A family exactly at the poverty line fails the income test (it is "strictly under"), so the
no-model doubt says "at or above"; the level-6 income criterion names the floor itself
(multiple x subsistence minimum, from the config), not one subsistence minimum.
"""

from __future__ import annotations

from serving.web.i18n import translator
from tests.welfare.assess_helpers import inputs
from tests.welfare.families_helpers import family
from welfare.assess import recommend
from welfare.rules import LEVEL6, evaluate_rules
from welfare.schema import parse_family
from welfare.statements import Code, figure

HIGH_INCOME = f"{LEVEL6}.per_capita_income_kzt"


def _stored(statement) -> dict:
    return {"code": statement.code.value, "params": statement.params, "text": statement.text}


def test_no_model_doubt_at_the_line_says_at_or_above(welfare_config, taxonomy):
    line = welfare_config.thresholds.poverty_line_kzt
    given = inputs(welfare_config, taxonomy, None, photos=3, per_capita_income_kzt=line)
    assert given["rules"].income_test is False  # at the line: not under it
    _, doubts = recommend(**given)
    doubt = next(d for d in doubts if d.code == Code.DOUBT_ABOVE_LINE_NO_MODEL)
    assert doubt.text == "declared income is at or above the poverty line; no model to weigh it"
    assert translator("en").statement(_stored(doubt)) == (
        "Declared income is at or above the poverty line; no model to weigh it"
    )


def _high_income_check(config, thresholds, income):
    record = parse_family(family(config, per_capita_income_kzt=income), config=config)
    result = evaluate_rules(record, rules=config.rules, thresholds=thresholds)
    return next(c for c in result.checks if c.name == HIGH_INCOME)


def test_level6_income_text_gives_the_floor_from_the_config(welfare_config):
    t, multiple = (
        welfare_config.thresholds,
        welfare_config.rules.level6.min_income_subsistence_minimums,
    )
    check = _high_income_check(welfare_config, t, 10_000)
    floor = multiple * t.subsistence_minimum_kzt
    assert check.text == (
        f"per-capita income above {multiple:g} subsistence minimums ({figure(floor)} KZT: "
        f"{multiple:g} x {figure(t.subsistence_minimum_kzt)}, {t.year}): no (value 10,000)"
    )
    # The shipped figures (configs/welfare.yaml): 4 x 46,228 KZT.
    assert "(184,912 KZT: 4 x 46,228, 2025)" in check.text
    # Another minimum, another floor: computed, never typed in.
    other = t.model_copy(update={"subsistence_minimum_kzt": 50_000.0, "year": 2026})
    assert "(200,000 KZT: 4 x 50,000, 2026)" in _high_income_check(welfare_config, other, 1).text


def test_level6_income_text_on_the_page_is_not_one_minimum_read_as_the_floor(welfare_config):
    t = welfare_config.thresholds
    check = _high_income_check(welfare_config, t, 190_000)
    stored = _stored(check.statement)
    assert translator("en").statement(stored) == (
        "Per-capita income above 4 subsistence minimums (4 × 46,228 KZT, 2025): yes "
        "(value 190,000 KZT)"
    )
    nbsp = "\u00a0"
    assert translator("ru").statement(stored) == (
        f"Доход на человека выше 4 прожиточных минимумов (4 × 46{nbsp}228 тенге, 2025): да "
        f"(значение 190{nbsp}000 тенге)"
    )
    assert f"(4 × 46{nbsp}228 теңге, 2025)" in translator("kk").statement(stored)
    assert translator("kk").statement(stored).endswith(f"(мәні 190{nbsp}000 теңге)")
