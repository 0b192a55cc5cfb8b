"""Drift (review): a head with fewer photos than configs/serving.yaml `drift_min_photos` on a
side is too few to judge: its PSI is given, but neither the API nor the oversight page reads
it as a shift; one with enough photos still shows a real shift. On SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from tests.serving.report_helpers import (
    drift_readings,
    drift_report,
    file_scores,
    photo_score,
)


def _shifted(service: Any, n: int) -> None:
    """`n` photos of kitchens, then `n` of bedrooms: the later half is all another room."""
    service.create_family("F1")
    file_scores(
        service,
        "F1",
        [photo_score("model-a", "kitchen")] * n + [photo_score("model-a", "bedroom")] * n,
    )


def test_the_shipped_minimum_is_the_settings_default(tmp_path):
    from shanyraq.config import read_yaml
    from tests.serving.helpers import ROOT, make_settings

    shipped = read_yaml(ROOT / "configs" / "serving.yaml")["drift_min_photos"]
    assert make_settings(tmp_path, "").drift_min_photos == shipped


def test_a_handful_of_photos_gives_a_psi_but_no_alert(service):
    """5 kitchens then 5 bedrooms: a PSI of about 18, from 5 photos a side (the shipped
    minimum is far more), is too few photos to judge, in the API and on the page."""
    from serving.web.i18n import translator

    _shifted(service, 5)
    drift = drift_report(service)
    room = drift["heads"]["room"]
    assert room["psi"] > drift["alert_psi"] and (room["photos"], room["reference_photos"]) == (5, 5)
    assert (room["judged"], room["reason_code"], room["shift"]) == (False, "too_few_photos", None)
    assert drift["min_photos"] > 5 and f"fewer than {drift['min_photos']} photos" in drift["note"]
    en = translator("en")
    readings = drift_readings(service)
    assert all(en("oversight.not_judged") in cell for cell in readings), readings
    assert not any(en("oversight.shift") in cell for cell in readings)


def test_enough_photos_on_both_sides_still_show_a_real_shift(service):
    from serving.web.i18n import translator

    minimum = service.services.settings.drift_min_photos
    _shifted(service, minimum)
    heads = drift_report(service)["heads"]
    room, condition = heads["room"], heads["condition"]  # the same grade on both sides
    assert (room["judged"], room["reason_code"], room["shift"]) == (True, None, True)
    assert (condition["judged"], condition["shift"]) == (True, False)
    en = translator("en")
    shift, stable = (f">{en(key)}</span>" for key in ("oversight.shift", "oversight.stable"))
    readings = drift_readings(service)
    assert shift in readings[0] and stable in readings[1], readings


def test_the_earlier_half_needs_the_minimum_too(service):
    """With the earlier-half reference, one photo short on the earlier side is too few."""
    minimum = service.services.settings.drift_min_photos
    service.create_family("F1")
    later = [photo_score("model-a", "bedroom")] * minimum
    file_scores(service, "F1", [photo_score("model-a", "kitchen")] * (minimum - 1) + later)
    room = drift_report(service)["heads"]["room"]
    assert (room["photos"], room["reference_photos"]) == (minimum, minimum - 1)
    assert (room["judged"], room["shift"]) == (False, None)


def test_the_page_and_the_api_read_the_configured_minimum(service):
    """Both judge with the service's setting: 5 photos a side suffice at 5."""
    from serving.web.i18n import translator

    service.services.settings.drift_min_photos = 5
    _shifted(service, 5)
    readings = drift_readings(service)
    assert translator("en")("oversight.shift") in readings[0], readings
    drift = drift_report(service)
    assert drift["min_photos"] == 5 and drift["heads"]["room"]["shift"] is True


def test_a_training_reference_counts_both_sides(service):
    """Against the model's test photos (metrics.score_reference) the photos scored here and
    the test photos the artifact records (its `photos`) are both counted: a tiny test split
    is as noisy a side as a handful of photos scored here (review 16)."""
    from serving import reports

    service.create_family("F1")
    file_scores(service, "F1", [photo_score("model-a", "bedroom")] * 4)
    reference = {
        "room": {"kitchen": 1.0}, "condition": {"3": 1.0}, "photos": {"room": 6, "condition": 6}
    }  # fmt: skip
    with service.services.sessions() as session:

        def judged(min_photos: int) -> tuple[int, bool, bool | None]:
            room = reports.drift(
                session, None, model_version="model-a", reference=reference, alert_psi=0.25,
                min_photos=min_photos,
            )["heads"]["room"]  # fmt: skip
            return room["reference_photos"], room["judged"], room["shift"]

        assert judged(5) == (6, False, None)  # the current side is short
        assert judged(4) == (6, True, True)
        reference["photos"] = {"room": 3, "condition": 3}
        assert judged(4) == (3, False, None)  # the reference side is short
