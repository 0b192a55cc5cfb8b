"""Interface texts: complete catalogues, no words in templates, English fallback, contrast."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from serving.web.i18n import FALLBACK, LANGUAGES, Translator, load_catalogues, negotiate
from shanyraq.taxonomy import get_taxonomy

WEB = Path(__file__).resolve().parents[2] / "serving" / "web"
TEMPLATES = sorted((WEB / "templates").glob("*.html"))
_KEY_CALL = re.compile(r"""\bt\(\s*["']([a-z_.]+)["']""")
_LABEL_CALL = re.compile(r"""\bt\.label\(\s*["']([a-z_]+)["']""")


def test_russian_and_kazakh_cover_every_english_text():
    catalogues = load_catalogues()
    for language in ("ru", "kk"):
        missing = set(catalogues[FALLBACK]) - set(catalogues[language])
        extra = set(catalogues[language]) - set(catalogues[FALLBACK])
        assert not missing and not extra, (language, sorted(missing), sorted(extra))


def test_every_key_a_template_or_page_uses_exists_in_english():
    english = load_catalogues()[FALLBACK]
    sources = TEMPLATES + sorted((WEB / "routes").glob("*.py"))
    used = {key for path in sources for key in _KEY_CALL.findall(path.read_text())}
    assert len(used) > 100
    assert not sorted(k for k in used if k not in english and not k.endswith("."))


def test_taxonomy_and_config_labels_are_translated():
    catalogues = load_catalogues()
    taxonomy = get_taxonomy()
    wanted = [f"room.{r}" for r in taxonomy.room_names] + [f"sign.{s}" for s in taxonomy.sign_names]
    wanted += [f"condition.{c}" for c in taxonomy.condition_values]
    from serving.core.config import load_serving_settings
    from welfare.criteria import get_welfare_config

    wanted += [f"region.{r}" for r in get_welfare_config().regions]
    wanted += [f"reason_code.{c}" for c in load_serving_settings().override_reasons]
    for language in LANGUAGES:
        assert not [k for k in wanted if k not in catalogues[language]], language


def _visible_words(template: str) -> list[str]:
    text = re.sub(r"\{#.*?#\}|\{%.*?%\}|\{\{.*?\}\}", " ", template, flags=re.S)
    text = re.sub(r"<[^>]*>", " ", text, flags=re.S)  # tags and their attributes
    return re.findall(r"[^\W\d_]{2,}", text)


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_templates_hold_no_words_of_their_own(template):
    allowed = {"UTC", "PSI"}  # units and measures, the same in every language
    assert [w for w in _visible_words(template.read_text()) if w not in allowed] == []
    attributes = re.findall(
        r'\b(?:alt|title|aria-label|placeholder)="([^"{]+)"', template.read_text()
    )
    assert attributes == []


def test_missing_text_falls_back_to_english_then_to_the_key():
    t = Translator("kk", {"kk": {"a": "қаз"}, "en": {"a": "en-a", "b": "en-b {n}"}})
    assert t("a") == "қаз" and t("b", n=2) == "en-b 2" and t("zzz") == "zzz"
    assert t.label("room", "living_room") == "living room"  # an untranslated code still reads


@pytest.mark.parametrize(
    ("requested", "cookie", "header", "expected"),
    [
        ("kk", "ru", "en", "kk"),
        (None, "ru", "kk", "ru"),
        (None, None, "ru-RU,ru;q=0.9,en;q=0.8", "ru"),
        (None, "xx", "de-DE,kk;q=0.5", "kk"),
        ("fr", None, None, "en"),
    ],
)
def test_language_choice(requested, cookie, header, expected):
    assert negotiate(requested=requested, cookie=cookie, accept_language=header) == expected


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_text_colours_meet_wcag_aa_contrast():
    css = (WEB / "static" / "style.css").read_text()
    colours = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-f]{6})", css))
    pairs = [
        ("ink", "paper"),
        ("muted", "paper"),
        ("muted", "panel"),
        ("brand", "paper"),
        ("ok", "ok-bg"),
        ("warn", "warn-bg"),
        ("bad", "bad-bg"),
        ("ink", "info-bg"),
        ("brand", "panel"),
    ]
    low = {f"{a}/{b}": round(_contrast(colours[a], colours[b]), 2) for a, b in pairs}
    assert all(ratio >= 4.5 for ratio in low.values()), low
    assert _contrast("#ffffff", colours["brand"]) >= 4.5  # header and button text
