"""The families list flags missing photos as the assessment counts them: a photo stored without
a score (uploaded while the service had no photo model) is present, but not a usable one; its
family page says it is not used, and why."""

from __future__ import annotations

from serving.web.i18n import translator
from tests.web.helpers import home_photo


def _row(page: str, family_id: str) -> str:
    return page.split(f">{family_id}</a>")[1].split("</tr>")[0]


def test_a_family_with_only_unscored_photos_is_flagged_as_missing_usable_ones(web, browser_for):
    assert web.services.pipeline.engine is None  # uploads are stored, not scored
    web.create_family("F1")
    web.create_family("F2")
    answer = web.upload("F1", home_photo(3))
    assert answer.status_code == 201, answer.text
    assert answer.json()["quality"]["status"] == "pass"
    assert answer.json()["score_status"] == "model_unavailable"
    commission = browser_for("commission")
    assert commission.get("/ui/families/F1").status_code == 200  # its assessment made
    page = commission.get("/ui/families").text
    flag = translator("en")("flag.missing_photos")
    assert flag in _row(page, "F1")
    assert flag in _row(page, "F2")  # no photo at all: flagged as before
    # The list and the assessment agree: the family is sent to review for too few photos.
    latest = web.client.get("/families/F1/assessments/latest", headers=web.headers("commission"))
    doubts = {d["code"] for d in latest.json()["result"]["review_statements"]}
    assert "doubt.too_few_photos" in doubts


def test_the_family_page_says_an_unscored_photo_is_not_used(web, browser_for):
    web.create_family("F1")
    assert web.upload("F1", home_photo(4)).status_code == 201
    commission = browser_for("commission")
    for language in ("en", "ru", "kk"):
        page = commission.get(f"/ui/families/F1?lang={language}")
        assert page.status_code == 200
        assert translator(language)("photo.unscored_stored") in page.text
