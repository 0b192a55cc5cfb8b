"""Review 16: a photo the model said is not a home lists no sign probabilities on the family
page (its signs are never read: such photos train the room head only, and the family's
aggregation leaves them out); one line in the reader's words says why."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape

from serving.web import heatmaps
from serving.web.i18n import translator
from shanyraq.taxonomy import get_taxonomy
from tests.serving.helpers import PASSWORD, jpeg
from tests.web.helpers import sign_in
from tests.web.not_home_helpers import make_a_home
from vision.score import ABSTAIN_NOT_DWELLING


def _figure(page: str, photo_id: int) -> str:
    """The photo's card on the family page."""
    found = re.search(
        rf'<figure class="photo" aria-labelledby="ph-{photo_id}".*?</figure>', page, re.S
    )
    assert found, photo_id
    return found.group(0)


@pytest.mark.parametrize("with_heatmaps", [True, False], ids=["heatmaps", "no_heatmaps"])
def test_a_photo_said_not_a_home_lists_no_sign_probabilities(
    not_home_service, monkeypatch, with_heatmaps
):
    not_home_service.create_family("F1")
    outside = not_home_service.upload("F1", jpeg(1)).json()
    home = not_home_service.upload("F1", jpeg(2)).json()
    assert ABSTAIN_NOT_DWELLING in outside["score"]["abstain_reasons"]
    assert outside["score"]["signs"]  # the model did give numbers: the page leaves them out
    make_a_home(not_home_service, home["photo_id"])
    if not with_heatmaps:  # an ONNX-only model: the line stands without the heat-map one
        monkeypatch.setattr(heatmaps, "available", lambda services: False)
    browser = TestClient(not_home_service.app, base_url="http://127.0.0.1")
    assert sign_in(browser, "commission", PASSWORD).status_code == 303
    signs = get_taxonomy().sign_names
    for lang in ("en", "ru", "kk"):
        t = translator(lang)
        page = browser.get(f"/ui/families/F1?lang={lang}").text
        card, control = _figure(page, outside["photo_id"]), _figure(page, home["photo_id"])
        assert 'class="probs signs"' not in card, lang
        assert not any(escape(t.label("sign", sign)) in card for sign in signs), lang
        assert 'class="probs signs"' in control and t("photo.signs") in control, lang
        assert all(escape(t.label("sign", sign)) in control for sign in signs), lang
        # One line says why: with heat maps it follows the heat-map line, in the same line.
        if with_heatmaps:
            both = (t("photo.heat_not_a_home"), t("photo.sign_probabilities_not_a_home_too"))
            why = str(escape(" ".join(both)))
            assert card.count(why) == 1, lang
        else:
            why = str(escape(t("photo.sign_probabilities_not_a_home")))
            assert card.count(why) == 1 and escape(t("photo.heat_not_a_home")) not in card, lang
        assert why not in control, lang
        # The room head's word stays: it is what the photo was read for.
        assert t("photo.room") in card, lang
