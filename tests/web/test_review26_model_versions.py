"""The family page names the models an assessment was made with in the reader's words: the
fusion model and the photo model by what they are, and a model not used (the assessment's
"none") as not used, never as the codes "fusion", "vision" and "none"."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from serving.web.i18n import LANGUAGES, Translator, translator
from tests.serving.helpers import PASSWORD, small_fusion_model, started
from tests.web.helpers import sign_in


def _models_line(page: str, t: Translator) -> str:
    """The text of the page's line of model versions (`family.models`)."""
    start = re.escape(html.escape(t("family.models", versions="")))
    lines = re.findall(rf"<p[^>]*>({start}.*?)</p>", page, flags=re.S)
    assert len(lines) == 1, "the page has no line of model versions"
    return html.unescape(lines[0])


@pytest.mark.parametrize("language", LANGUAGES)
def test_models_not_used_are_said_so_in_the_readers_words(web, browser_for, language):
    assert web.services.pipeline.engine is None  # no photo model; no fusion model either
    web.create_family("F1")
    page = browser_for("commission").get(f"/ui/families/F1?lang={language}")
    assert page.status_code == 200
    t = translator(language)
    not_used = t("family.model_not_used")
    shown = [f"{t.label('model', kind)}: {not_used}" for kind in ("fusion", "vision")]
    line = _models_line(page.text, t)
    assert line == t("family.models", versions=", ".join(shown))
    assert not re.search(r"\b(fusion|vision): |: none\b", line), line  # not the codes


def test_a_model_used_is_named_with_its_version(tmp_path: Path):
    from fastapi.testclient import TestClient

    fusion = small_fusion_model(tmp_path / "fusion", "lgbm_tabular")
    with started(tmp_path, fusion_dir=fusion) as web:
        web.create_family("F1")
        client = TestClient(web.app, base_url="http://127.0.0.1")
        assert sign_in(client, "commission", PASSWORD).status_code == 303
        page = client.get("/ui/families/F1?lang=ru")
        assert page.status_code == 200
        latest = web.client.get(
            "/families/F1/assessments/latest", headers=web.headers("commission")
        ).json()
        version = latest["result"]["model_versions"]["fusion"]
        assert version not in ("", "none")
        t = translator("ru")
        shown = [
            f"{t.label('model', 'fusion')}: {version}",
            f"{t.label('model', 'vision')}: {t('family.model_not_used')}",
        ]
        assert _models_line(page.text, t) == t("family.models", versions=", ".join(shown))
