"""Interface texts: Russian, Kazakh and English YAML catalogues; English fills any gap.

Templates never hold words of their own: they call `t("key", name=value)`. A catalogue is a
flat mapping of dotted keys to texts with `{name}` placeholders. Labels of the taxonomy and
configs (rooms, signs, reasons) are looked up as `room.<code>`, `sign.<code>`, ... and fall
back to the code itself, so a new label shows, untranslated, rather than breaking a page.

What welfare says (reasons, doubts, rules: welfare.statements) comes as a code with parameters;
the catalogues hold one text per code, and `Translator.statement` fills it in with names as
labels (`feature.<name>`, `level.<n>`) and numbers in the reader's format (`number.group`,
`number.decimal`). An assessment stored before codes, or a code no catalogue has, shows its
stored English text.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from shanyraq.config import read_yaml
from shanyraq.errors import ConfigError
from welfare.statements import figure

logger = logging.getLogger(__name__)

CATALOGUE_DIR = Path(__file__).parent / "i18n"
LANGUAGES = ("ru", "kk", "en")
FALLBACK = "en"
# Names shown in the language switcher, each in its own language (not translated).
LANGUAGE_NAMES = {"ru": "Русский", "kk": "Қазақша", "en": "English"}
# Statement parameters that name something: the label kind they are looked up as.
PARAM_LABELS = {
    "feature": "feature",
    "criterion": "feature",
    "criteria": "feature",
    "met": "feature",
    "level": "level",
    "combine": "combine",
}
PLAIN_PARAMS = frozenset({"year"})  # numbers shown as they are, without digit grouping
LIST_SEPARATOR = "; "  # some labels hold commas


@lru_cache(maxsize=4)
def load_catalogues(folder: Path = CATALOGUE_DIR) -> dict[str, dict[str, str]]:
    """Every language's catalogue; a missing or malformed file fails here, at start-up."""
    catalogues: dict[str, dict[str, str]] = {}
    for language in LANGUAGES:
        path = folder / f"{language}.yaml"
        data = read_yaml(path)
        if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in data.items()
        ):
            raise ConfigError(f"{path}: expected a flat mapping of keys to texts")
        catalogues[language] = data
    return catalogues


def negotiate(*, requested: str | None, cookie: str | None, accept_language: str | None) -> str:
    """The page language: ?lang=, then the remembered choice, then the browser's, then English."""
    for choice in (requested, cookie):
        if choice in LANGUAGES:
            return choice
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return FALLBACK


@dataclass(frozen=True)
class Translator:
    """`t("key", n=3)` in the chosen language, else English, else the key itself."""

    language: str
    catalogues: dict[str, dict[str, str]]

    def __call__(self, key: str, **values: object) -> str:
        text = self.catalogues[self.language].get(key)
        if text is None:
            text = self.catalogues[FALLBACK].get(key)
        if text is None:
            logger.warning("no interface text for %r", key)
            return key
        try:
            return text.format(**values) if values else text
        except (KeyError, IndexError, ValueError):
            logger.warning("interface text %r (%s) does not fit its values", key, self.language)
            return self.catalogues[FALLBACK].get(key, key)

    def text(self, key: str, default: str) -> str:
        """`key` in the chosen language or English; `default` (e.g. a service message) if none."""
        for language in (self.language, FALLBACK):
            if key in self.catalogues[language]:
                return self.catalogues[language][key]
        return default

    def label(self, kind: str, code: object) -> str:
        """A configured label (room, sign, reason code ...) in words; its code if untranslated."""
        key = f"{kind}.{code}"
        for language in (self.language, FALLBACK):
            if key in self.catalogues[language]:
                return self.catalogues[language][key]
        return str(code).replace("_", " ")

    def number(self, value: float) -> str:
        """A figure with up to two decimals, grouped and pointed as the reader writes it."""
        return self._pointed(figure(value))

    def percent(self, share: float | None) -> str:
        """A share 0..1 as a whole percentage in the reader's form ("45%", "45 %" in Russian)."""
        if share is None:
            return "—"
        return self("number.percent", value=f"{100 * float(share):.0f}")

    def fixed(self, value: float | None, digits: int = 2) -> str:
        """A figure with exactly `digits` decimals, grouped and pointed as the reader writes it."""
        if value is None:
            return "—"
        return self._pointed(f"{float(value):,.{digits}f}")

    def _pointed(self, shown: str) -> str:
        """An English-formatted figure ("1,234.5") with the reader's group and decimal marks."""
        marks = {ord(","): self("number.group"), ord("."): self("number.decimal")}
        return shown.translate(marks)

    def statement(self, item: Mapping[str, Any]) -> str:
        """A welfare statement (`code`, `params`, `text`) in the chosen language.

        Its stored English `text` when it has no code (stored before codes) or the chosen
        language has no text for the code.
        """
        stored = str(item.get("text", ""))
        code = item.get("code")
        template = self.catalogues[self.language].get(code) if isinstance(code, str) else None
        if template is None:
            return stored
        params = item.get("params") or {}
        try:
            return template.format(**{k: self._param(k, v) for k, v in params.items()})
        except (KeyError, IndexError, ValueError):
            logger.warning("text of %r (%s) does not fit its parameters", code, self.language)
            return stored

    def _param(self, name: str, value: Any) -> str:
        if isinstance(value, list):
            return LIST_SEPARATOR.join(self._param(name, v) for v in value) or self("value.none")
        if value is None:
            return self("value.missing")
        if isinstance(value, bool):
            return self("value.yes" if value else "value.no")
        if name in PARAM_LABELS:
            return self.label(PARAM_LABELS[name], value)
        if isinstance(value, int | float) and name not in PLAIN_PARAMS:
            return self.number(value)
        return str(value)


def translator(language: str) -> Translator:
    return Translator(language if language in LANGUAGES else FALLBACK, load_catalogues())
