"""Oversight reports (review): the drift report holds the training reference to
configs/serving.yaml `drift_min_photos` too (the artifact records its test photo count: a tiny
test split gave a PSI alert nobody should trust) and says which side is too small; a group
without an override rate draws no bar (a zero-height one read as 0 %). On SQLite and
PostgreSQL."""

from __future__ import annotations

import json
import shutil
from typing import Any

import pytest

from tests.serving.report_helpers import (
    drift_readings,
    drift_report,
    file_scores,
    photo_score,
)

ALL_KITCHENS = {"room": {"kitchen": 1.0}, "condition": {"3": 1.0}}


def _serving_with_reference(make_service: Any, model_dir: Any, tmp_path: Any, photos: int) -> Any:
    """A service whose model's training reference is all kitchens, from `photos` test photos
    a head, judging drift from 5 photos a side."""
    model = tmp_path / "model"
    shutil.copytree(model_dir, model)
    meta = json.loads((model / "model.json").read_text(encoding="utf-8"))
    reference = {**ALL_KITCHENS, "photos": {"room": photos, "condition": photos}, "split": "test"}
    meta["metrics"]["score_reference"] = reference
    (model / "model.json").write_text(json.dumps(meta), encoding="utf-8")
    service = make_service(model_dir=model)
    service.services.settings.drift_min_photos = 5
    return service


def test_a_training_reference_of_too_few_test_photos_raises_no_alert(
    make_service, trained_model, tmp_path
):
    """A model tested on 3 photos: 10 bedrooms against its all-kitchen reference give a PSI
    far above the alert, but 3 photos are too few to judge, in the API and on the page."""
    from serving.web.i18n import translator

    service = _serving_with_reference(make_service, trained_model, tmp_path, photos=3)
    serving = service.services.pipeline.engine.model_version
    service.create_family("F1")
    file_scores(service, "F1", [photo_score(serving, "bedroom")] * 10)

    drift = drift_report(service)
    room = drift["heads"]["room"]
    assert drift["reference_code"] == "training_data" and room["psi"] > drift["alert_psi"]
    assert (room["photos"], room["reference_photos"]) == (10, 3)
    assert (room["judged"], room["reason_code"], room["shift"]) == (False, "too_few_photos", None)
    assert room["too_few_on"] == "reference"
    en = translator("en")
    readings = drift_readings(service)
    assert en("oversight.not_judged") in readings[0], readings
    assert not any(en("oversight.shift") in cell for cell in readings)


def test_a_training_reference_of_enough_test_photos_still_shows_the_shift(
    make_service, trained_model, tmp_path
):
    service = _serving_with_reference(make_service, trained_model, tmp_path, photos=5)
    serving = service.services.pipeline.engine.model_version
    service.create_family("F1")
    file_scores(service, "F1", [photo_score(serving, "bedroom")] * 5)
    room = drift_report(service)["heads"]["room"]
    assert (room["photos"], room["reference_photos"]) == (5, 5)
    assert (room["judged"], room["too_few_on"], room["shift"]) == (True, None, True)


def test_the_report_says_which_side_is_too_small(service):
    """Current side, reference side, both, neither: each named, with either reference."""
    from serving import reports

    service.create_family("F1")
    file_scores(service, "F1", [photo_score("model-a", "bedroom")] * 4)

    def side(min_photos: int, reference_photos: int | None) -> str | None:
        reference: dict[str, Any] = dict(ALL_KITCHENS)
        if reference_photos is not None:
            reference["photos"] = {"room": reference_photos, "condition": reference_photos}
        with service.services.sessions() as session:
            room = reports.drift(
                session, None, model_version="model-a", reference=reference, alert_psi=0.25,
                min_photos=min_photos,
            )["heads"]["room"]  # fmt: skip
        assert room["judged"] is (room["too_few_on"] is None)
        return room["too_few_on"]

    assert side(4, 4) is None
    assert side(5, 9) == "current"
    assert side(4, 3) == "reference"
    assert side(5, 3) == "both"
    # An artifact that does not record its count cannot be shown to reach the minimum.
    assert side(4, None) == "reference"
    # The earlier-half reference: 3 kitchens, then 4 bedrooms (the later, larger half).
    service.create_family("F2")
    file_scores(
        service,
        "F2",
        [photo_score("model-b", "kitchen")] * 3 + [photo_score("model-b", "bedroom")] * 4,
    )
    with service.services.sessions() as session:
        room = reports.drift(
            session, None, model_version="model-b", reference=None, alert_psi=0.25, min_photos=4
        )["heads"]["room"]
    assert (room["photos"], room["reference_photos"], room["too_few_on"]) == (4, 3, "reference")


@pytest.mark.parametrize("code", ["current", "reference", "both"])
def test_every_side_is_worded_in_every_language(code):
    from serving.reports import TOO_FEW_SIDES
    from serving.web.i18n import translator

    assert code in TOO_FEW_SIDES
    worded = {translator(language).label("drift_too_few", code) for language in ("en", "ru", "kk")}
    assert len(worded) == 3 and code not in worded


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The figures the plots draw, kept instead of encoded."""
    from serving.web import plots

    figures: list[Any] = []
    monkeypatch.setattr(plots, "_encode", lambda figure: figures.append(figure) or "data:,")
    return figures


def test_a_value_without_data_draws_no_bar_but_says_so(drawn):
    """A rate of 0 is a bar of height 0 at its place; no rate at all is no bar, and the
    plot's words for "no data" stand at its place instead."""
    from serving.web.plots import bar_plot

    bar_plot(["a", "b", "c"], [0.5, None, 0.0], title="t", ylabel="y", alt="a", no_data="none")
    (axes,) = drawn[0].axes
    bars = {round(bar.get_x() + bar.get_width() / 2): bar.get_height() for bar in axes.patches}
    assert bars == {0: 0.5, 2: 0.0}
    marks = [(text.get_position()[0], text.get_text()) for text in axes.texts]
    assert marks == [(1, "none")]


def test_a_group_without_an_override_rate_is_no_data_not_zero(drawn):
    """The oversight page's rate plot: its text alternative says "no data" for the group
    without a rate, and 0 % only for the group that has one of 0."""
    from serving.web.i18n import translator
    from serving.web.routes.oversight import _rate_plot

    en = translator("en")
    table = {"female": {"override_rate": None}, "male": {"override_rate": 0.0}}
    plot = _rate_plot(en, table, kind="head_gender", title="Override rate")
    female, male = (en.label("head_gender", k) for k in table)
    assert f"{female}: {en('oversight.no_data')}" in plot.alt
    assert f"{male}: {en.percent(0.0)}" in plot.alt
    (axes,) = drawn[0].axes
    assert len(axes.patches) == 1
    # The words, wrapped into short lines upright at the bar's place.
    assert [" ".join(text.get_text().split()) for text in axes.texts] == [en("oversight.no_data")]
