"""The heat-map route refuses a sign the model gave no number for (p512).

The family page shows such a sign with a dash and offers no heat-map button beside it
(test_heatmap_toggle_review25.py); opened directly, its URL drew a map all the same, evidence
beside no score. Now it is refused as the other heat maps that explain nothing shown are:
409 with a code of its own, in the reader's words under /ui, and no view audited.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from serving.api.errors import error_response
from serving.web import heatmaps
from serving.web.i18n import translator
from tests.serving.helpers import PASSWORD, jpeg
from tests.web.helpers import sign_in
from tests.web.not_home_helpers import make_a_home, stored_photo

SIGN = "damp_mould"
MISSING = object()  # the sign left out of the stored score altogether


def _store(service: Any, photo_id: int, stored: Any) -> str:
    """Store `stored` as SIGN's number on the photo; another sign that keeps its number."""
    from serving.db.models import Photo
    from serving.db.session import session_scope

    with session_scope(service.services.sessions) as session:
        photo = session.get_one(Photo, photo_id)
        signs = dict(photo.score["signs"])
        if stored is MISSING:
            del signs[SIGN]
        else:
            signs[SIGN] = stored
        photo.score = {**photo.score, "signs": signs}
        return sorted(set(signs) - {SIGN})[0]


@pytest.mark.parametrize(
    "stored",
    [None, math.nan, math.inf, -math.inf, MISSING],
    ids=["null", "nan", "inf", "-inf", "missing"],
)
def test_a_sign_without_a_number_has_its_heat_map_refused(not_home_service, stored):
    # Before: 200 with a PNG, and a heatmap_viewed entry for a map of no score shown.
    from serving.db.models import AuditEntry

    not_home_service.create_family("F1")
    photo_id = not_home_service.upload("F1", jpeg(2)).json()["photo_id"]
    make_a_home(not_home_service, photo_id)
    other = _store(not_home_service, photo_id, stored)
    browser = TestClient(not_home_service.app, base_url="http://127.0.0.1")
    assert sign_in(browser, "commission", PASSWORD).status_code == 303

    url = f"/ui/photos/{photo_id}/heatmap/{SIGN}"
    for lang in ("en", "ru", "kk"):
        refused = browser.get(f"{url}?lang={lang}")
        assert refused.status_code == 409, refused.text
        assert refused.headers["content-type"].startswith("text/html")
        assert translator(lang)("error_reason.heatmap_no_number") in refused.text, lang
    with pytest.raises(heatmaps.HeatmapNoNumberError) as caught:
        heatmaps.check_sign_scored(stored_photo(not_home_service, photo_id), SIGN)
    error = caught.value
    assert (error.code, error.http_status) == ("heatmap_no_number", 409)
    assert "\n" not in error.message and "no number" in error.message
    answer = error_response(error.http_status, error.code, error.message)
    assert answer.status_code == 409 and b'"code":"heatmap_no_number"' in answer.body

    # The control: a sign of the same photo with a number still has its map.
    shown = browser.get(f"/ui/photos/{photo_id}/heatmap/{other}")
    assert shown.status_code == 200 and shown.headers["content-type"] == "image/png"
    with not_home_service.services.sessions() as session:
        viewed = session.execute(
            select(AuditEntry.details).where(AuditEntry.action == "heatmap_viewed")
        ).scalars()
        assert [d["label"] for d in viewed] == [other]  # the refused one was seen by nobody


def test_the_other_refusals_come_first(not_home_service):
    """A photo said not a home keeps its own reason, number or none: its signs are not read."""
    not_home_service.create_family("F1")
    photo_id = not_home_service.upload("F1", jpeg(1)).json()["photo_id"]  # the model: not a home
    _store(not_home_service, photo_id, None)
    browser = TestClient(not_home_service.app, base_url="http://127.0.0.1")
    assert sign_in(browser, "commission", PASSWORD).status_code == 303
    refused = browser.get(f"/ui/photos/{photo_id}/heatmap/{SIGN}?lang=en")
    assert refused.status_code == 409
    assert translator("en")("error_reason.heatmap_not_a_home") in refused.text
