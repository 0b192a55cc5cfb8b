"""Interface texts: every Russian and Kazakh text fills the placeholders of its English one.

A page fills a text with `t("key", name=value)`; a translation that names another placeholder
(or drops one) renders its English fallback, or says less than the English does, and a text
whose braces do not balance cannot be formatted at all. Checked over the whole catalogue, with
every problem reported at once.
"""

from __future__ import annotations

import string

from serving.web.i18n import FALLBACK, LANGUAGES, load_catalogues


def _fields(text: str) -> set[str]:
    """The names of `text`'s format fields, nested ones in a format spec too ("{{" and "}}"
    are literal braces, no field); ValueError when its braces do not balance."""
    names: set[str] = set()
    for _, name, spec, _ in string.Formatter().parse(text):
        if name is not None:
            names.add(name)
            names |= _fields(spec or "")
    return names


def placeholder_problems(catalogues: dict[str, dict[str, str]]) -> list[str]:
    """Every text that cannot be formatted by name, and every translated text whose
    placeholders are not its English text's: one line each, with key and language."""
    problems: list[str] = []
    fields: dict[str, dict[str, set[str]]] = {}
    for language in LANGUAGES:
        for key, text in sorted(catalogues[language].items()):
            try:
                found = _fields(text)
            except ValueError as exc:  # a lone "{" or "}"
                problems.append(f"{key} ({language}): braces do not balance: {exc}")
                continue
            positional = sorted(n for n in found if not n or n[0].isdigit())
            if positional:  # pages pass names only: "{}" or "{0}" is never filled
                problems.append(f"{key} ({language}): positional fields {positional}")
            fields.setdefault(key, {})[language] = found
    english = {key: found[FALLBACK] for key, found in fields.items() if FALLBACK in found}
    for key, by_language in sorted(fields.items()):
        if key not in english:  # no English text to compare with (reported above if unbalanced)
            continue
        for language, found in sorted(by_language.items()):
            if language != FALLBACK and found != english[key]:
                problems.append(
                    f"{key} ({language} against {FALLBACK}): missing "
                    f"{sorted(english[key] - found)}, extra {sorted(found - english[key])}"
                )
    return problems


def test_every_translation_has_the_placeholders_of_its_english_text():
    catalogues = load_catalogues()
    assert sum("{" in text for text in catalogues[FALLBACK].values()) > 50  # the check bites
    problems = placeholder_problems(catalogues)
    assert not problems, "\n".join(problems)


def test_a_renamed_placeholder_and_an_unbalanced_brace_are_each_reported():
    """The check itself: a copy of the real catalogues with one Russian placeholder renamed,
    one Kazakh placeholder dropped and one English brace left open names all three."""
    catalogues = {language: dict(texts) for language, texts in load_catalogues().items()}
    english = catalogues[FALLBACK]
    renamed, dropped, opened = [key for key in sorted(english) if "{" in english[key]][:3]
    field = sorted(_fields(english[renamed]))[0]
    catalogues["ru"][renamed] = catalogues["ru"][renamed].replace(f"{{{field}}}", "{renamed}")
    catalogues["kk"][dropped] = "".join(
        literal for literal, *_ in string.Formatter().parse(catalogues["kk"][dropped])
    )
    catalogues[FALLBACK][opened] = english[opened] + " {"

    new = sorted(
        set(placeholder_problems(catalogues)) - set(placeholder_problems(load_catalogues()))
    )
    assert len(new) == 3, new
    assert any(p.startswith(f"{renamed} (ru against en)") and "'renamed'" in p for p in new)
    assert any(p.startswith(f"{dropped} (kk against en): missing [") for p in new)
    assert any(p.startswith(f"{opened} (en): braces do not balance") for p in new)


def test_literal_braces_are_no_placeholders():
    assert _fields("{{not a field}} {name} {n:{width}}") == {"name", "n", "width"}
