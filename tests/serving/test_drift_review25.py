"""Drift (review 25): the compared model's own photos whose score has no numbers (NaN: a broken
model, an fp16 overflow) or cannot be read are counted and named, not silently dropped, so a
model giving none on many photos does not read as calm figures over the rest. On SQLite and
PostgreSQL."""

from __future__ import annotations

from serving.web.i18n import translator
from tests.serving.decision_helpers import oversight_page
from tests.serving.helpers import OTHER_REGION
from tests.serving.report_helpers import drift_report, file_scores, photo_score


def test_the_models_photos_without_numbers_are_counted_apart(service):
    service.create_family("F1")
    service.create_family("F2", region=OTHER_REGION)
    unreadable = {"photo_sha256": "0" * 64, "model_version": "model-a", "room": {}}
    nan = photo_score("model-a", "kitchen", nan=True)
    file_scores(service, "F1", [photo_score("model-a", "kitchen")] * 4 + [nan] * 3 + [unreadable])
    file_scores(service, "F2", [nan] * 5)  # another region's

    ours = service.client.get("/reports/drift", headers=service.headers("admin")).json()
    assert ours["model_version"] == "model-a" and ours["photos"] == 2  # the later half of 4
    assert ours["photos_without_numbers"] == 4  # 3 NaN, 1 unreadable; none of F2's
    assert "4 of its own whose score has no numbers" in ours["note"]

    national = drift_report(service)
    assert national["photos_without_numbers"] == 9
    for lang in ("en", "ru", "kk"):  # the oversight page (the region's admin) says so too
        assert translator(lang)("oversight.drift_without_numbers", n=4) in oversight_page(
            service, lang
        )


def test_a_model_with_all_its_scores_numeric_counts_none_without(service):
    service.create_family("F1")
    file_scores(
        service, "F1", [photo_score("model-a", "bedroom")] * 2 + [photo_score("model-b", "kitchen")]
    )
    drift = drift_report(service)
    assert drift["photos_without_numbers"] == 0 and drift["photos_other_models"] == 1
    assert translator("en")("oversight.drift_without_numbers", n=0) not in oversight_page(service)
