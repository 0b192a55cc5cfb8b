"""What welfare says (reasons, doubts, rules) in the reader's language, from codes and params.

The catalogues must label every feature and criterion the current configs produce and word
every code welfare can emit, in en, ru and kk; pages render the stored codes with numbers in
the reader's format, and an assessment stored before codes still shows its English text.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from serving.web.i18n import LANGUAGES, PARAM_LABELS, load_catalogues, translator
from shanyraq.taxonomy import get_taxonomy
from tests.serving.helpers import Service, started
from welfare.criteria import Level6Rule, get_welfare_config
from welfare.features import feature_space
from welfare.statements import Code

NBSP = "\u00a0"
_LIST_ITEMS = re.compile(r"<li>(.*?)</li>", re.S)


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def _wanted_labels() -> list[str]:
    config = get_welfare_config()
    space = feature_space(config, get_taxonomy())
    names = space.names(with_visual=True) + [c.name for c in config.criteria]
    return [f"feature.{name}" for name in names]


def test_every_feature_and_criterion_has_a_label_in_every_language():
    catalogues = load_catalogues()
    wanted = _wanted_labels()
    assert len(wanted) > 90  # 69 model features and 23 criteria today
    for language in LANGUAGES:
        assert [k for k in wanted if k not in catalogues[language]] == [], language


def test_every_code_welfare_can_emit_has_a_text_in_every_language():
    catalogues = load_catalogues()
    combine = Level6Rule.model_fields["combine"].annotation.__args__  # type: ignore[union-attr]
    wanted = [code.value for code in Code] + [f"combine.{how}" for how in combine]
    wanted += ["value.yes", "value.no", "value.missing", "value.none"]
    for language in LANGUAGES:
        assert [k for k in wanted if k not in catalogues[language]] == [], language
    for code in Code:
        english = _placeholders(catalogues["en"][code])
        for language in ("ru", "kk"):
            assert _placeholders(catalogues[language][code]) == english, (code, language)


@pytest.mark.parametrize("language", ["ru", "kk"])
def test_russian_and_kazakh_statements_and_labels_are_in_cyrillic(language):
    catalogues = load_catalogues()
    keys = [code.value for code in Code] + _wanted_labels()
    for key in keys:
        text = re.sub(r"\{[a-z_]+\}", "", catalogues[language][key])
        assert re.search(r"[а-яёәғқңөұүһі]", text, re.I), key
        assert not re.search(r"[A-Za-z]", text), (key, text)  # no English left behind


def test_statement_reads_in_the_readers_language_with_its_number_format():
    income = {
        "code": "rule.income_test.under_line",
        "params": {"income_kzt": 25000.0, "poverty_line_kzt": 32360.0, "year": 2025},
        "text": "declared per-capita income 25,000 KZT is under the poverty line ...",
    }
    assert translator("ru").statement(income) == (
        f"Заявленный доход на человека 25{NBSP}000 тенге ниже черты бедности "
        f"32{NBSP}360 тенге (2025)"
    )
    assert translator("en").statement(income) == (
        "Declared per-capita income 25,000 KZT is under the poverty line 32,360 KZT (2025)"
    )
    boundary = {"code": "doubt.near_boundary", "params": {"probability": 0.4567}, "text": "-"}
    assert translator("kk").statement(boundary) == "АӘК құқығының ықтималдығы 0,46 — шекараға жақын"
    photos = {"code": "doubt.too_few_photos", "params": {"usable": 1, "required": 3}, "text": "-"}
    assert translator("ru").statement(photos) == "Пригодных фото: 1, а нужно не меньше 3"


def test_percentages_and_fixed_figures_follow_the_reader():
    assert translator("en").percent(0.456) == "46%"
    assert translator("ru").percent(0.456) == f"46{NBSP}%"  # Russian puts a space before %
    assert translator("kk").percent(1.0) == "100%"
    assert translator("ru").percent(None) == "—"
    assert translator("en").fixed(1234.5) == "1,234.50"
    assert translator("ru").fixed(1234.5) == f"1{NBSP}234,50"
    assert translator("kk").fixed(None) == "—"


def test_names_in_a_statement_read_as_labels():
    t = translator("ru")
    reason = {
        "code": "reason.level_supports",
        "params": {"feature": "has_legal_entity", "value": True, "level": 5},
        "text": "-",
    }
    assert t.statement(reason) == (
        "Член семьи учредил юридическое лицо или владеет им: да — "
        "говорит в пользу уровня «5 — обеспеченный»"
    )
    missing = {"code": "reason.asp_away", "params": {"feature": "rural", "value": None}}
    assert t.statement(missing) == (
        "Живёт в сельской местности: нет данных — говорит против права на АСП"
    )
    level6 = {
        "code": "rule.level6.fired",
        "params": {"combine": "all", "met": ["dwellings_owned", "vehicles_owned"]},
        "text": "-",
    }
    assert translator("kk").statement(level6) == (
        "6-деңгей ережесі (барлық критерий қажет) іске қосылды; орындалған критерийлер: "
        "Отбасы мүшелеріне тіркелген тұрғын үйлер; Отбасы мүшелеріне тіркелген көлік құралдары"
    )
    assert set(PARAM_LABELS) >= {"feature", "criterion", "criteria", "met", "level"}


def test_without_a_code_or_its_text_the_stored_english_shows():
    t = translator("ru")
    assert t.statement({"text": "2 usable photo(s); at least 3 needed"}) == (
        "2 usable photo(s); at least 3 needed"
    )
    unknown = {"code": "doubt.not_yet_translated", "params": {}, "text": "New doubt"}
    assert t.statement(unknown) == "New doubt"
    misfit = {"code": "doubt.too_few_photos", "params": {"usable": 1}, "text": "as stored"}
    assert t.statement(misfit) == "as stored"  # a parameter the text needs is absent


# --- the family page --------------------------------------------------------------------------


@pytest.fixture
def web(tmp_path: Path, fusion_dir: Path) -> Iterator[Service]:
    """The page tests' app (conftest `web`, which `browser_for` signs in to), with the model
    (`fusion_dir`, tests/web/fusion_model_fixtures.py)."""
    with started(tmp_path, fusion_dir=fusion_dir) as service:
        yield service


def _items(html: str, css_class: str) -> list[str]:
    block = re.search(rf'<(?:ol|ul) class="{css_class}">(.*?)</(?:ol|ul)>', html, re.S)
    assert block, css_class
    return [item.replace("&#34;", '"').strip() for item in _LIST_ITEMS.findall(block.group(1))]


_RULES = re.compile(r'<li(?: class="fired")?>(.*?)(?:<ul>(.*?)</ul>)?</li>', re.S)


def _rules(html: str) -> list[str]:
    """The rules checked, top level only (a rule's criteria are its nested list)."""
    block = re.search(r'<ul class="rules">(.*?)</ul>\s*</div>', html, re.S)
    assert block, "rules"
    return [text.replace("&#34;", '"').strip() for text, _ in _RULES.findall(block.group(1))]


def _latest(web: Service) -> Any:
    from serving.db.models import Assessment

    with web.services.sessions() as session:
        return session.execute(select(Assessment).order_by(Assessment.id.desc())).scalar()


def test_family_page_in_russian_shows_reasons_doubts_and_rules_in_russian(web, browser_for):
    web.create_family("F1")
    commission = browser_for("commission")
    page = commission.get("/ui/families/F1?lang=ru").text
    result = _latest(web).result
    ru = load_catalogues()["ru"]

    doubts = _items(page, "doubts")
    assert "Пригодных фото: 0, а нужно не меньше 1" in doubts  # no photos filed
    rules = _rules(page)
    assert (
        f"Заявленный доход на человека 25{NBSP}000 тенге ниже черты бедности "
        f"32{NBSP}360 тенге (2025)"
    ) in rules
    reasons = _items(page, "reasons")
    assert len(reasons) == len(result["reasons"]) > 2
    model_said = [s for s in result["reason_statements"] if s["code"].startswith("reason.asp")]
    assert model_said  # the fusion model's top reasons
    for said in model_said:
        label = ru[f"feature.{said['params']['feature']}"]
        direction = "в пользу" if said["code"] == Code.REASON_ASP_TOWARDS else "против"
        assert any(r.startswith(f"{label}: ") and direction in r for r in reasons), label
    missing = [r for r in reasons if r.startswith("В карте семьи нет данных: ")]
    assert missing and ru["feature.bank_deposits_kzt"] in missing[0]
    for english in ("points towards", "points away", "supports level", "usable photo", "KZT"):
        assert english not in page
    share = round(100 * result["asp_probability"])
    assert f"Вероятность права на АСП: {share}{NBSP}%" in page  # the Russian percent form
    api = web.client.get("/families/F1/assessments/latest", headers=web.headers("commission"))
    served = api.json()["result"]
    assert served["reason_statements"] == result["reason_statements"]
    assert served["review_statements"][0] == {
        "code": "doubt.too_few_photos",
        "params": {"usable": 0, "required": 1},
        "text": "0 usable photos; at least 1 needed",
    }


def test_an_assessment_stored_before_codes_shows_its_english_text(web, browser_for):
    from serving.db.models import Assessment

    web.create_family("F1")
    commission = browser_for("commission")
    commission.get("/ui/families/F1")  # assessed and stored
    with web.services.sessions() as session:
        row = session.execute(select(Assessment)).scalar_one()
        old = dict(row.result)
        for key in ("review_statements", "reason_statements"):
            del old[key]
        old["rule_checks"] = [
            {k: v for k, v in c.items() if k not in ("code", "params")} for c in old["rule_checks"]
        ]
        row.result = old
        session.commit()
    page = commission.get("/ui/families/F1?lang=ru").text
    assert _latest(web).version == 1  # shown as stored, not assessed again
    assert _items(page, "doubts") == old["review_reasons"]
    assert _items(page, "reasons") == old["reasons"]
    top = [c for c in old["rule_checks"] if "." not in c["name"]]
    top.sort(key=lambda c: c["name"] != "asp_income_test")  # the legal ground first
    assert top and _rules(page) == [c["text"] for c in top]
    assert "Только рекомендация." in page  # the rest of the page is still Russian
    api = web.client.get("/families/F1/assessments/latest", headers=web.headers("commission"))
    assert api.status_code == 200, api.text  # the API still serves it
    result = api.json()["result"]
    assert result["review_statements"] is None and result["reason_statements"] is None
    assert result["review_reasons"] == old["review_reasons"]
    assert [c["code"] for c in result["rule_checks"]] == [None] * len(old["rule_checks"])
