"""Reports (review 15): override and fairness figures count each family once, by its latest
decision, and say so; the drift report and page name the photo model compared and how many
stored photos another model scored. On SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from tests.serving.decision_helpers import (
    ACCEPT,
    OVERRIDE,
    assess_and_decide,
    oversight_page,
    read_report,
)
from tests.serving.helpers import REGION, jpeg

_SEEDS = itertools.count(1)  # each new photo another picture


def _decide_again_after_new_photo(service: Any, family_id: str, body: dict[str, Any]) -> None:
    """A new photo puts the family's assessment out of date; the commission decides again."""
    answer = service.upload(family_id, jpeg(next(_SEEDS)))
    assert answer.status_code == 201, answer.text
    assess_and_decide(service, family_id, body)


def _family_decided_three_times(service: Any) -> None:
    """F1 overridden on three assessments (two made after new photos); F2 accepted once."""
    service.create_family("F1")
    service.create_family("F2")
    assess_and_decide(service, "F1", OVERRIDE)
    _decide_again_after_new_photo(service, "F1", OVERRIDE)
    _decide_again_after_new_photo(service, "F1", OVERRIDE)
    assess_and_decide(service, "F2", ACCEPT)


def test_a_family_decided_three_times_weighs_once_in_the_override_rate(service):
    """Three overrides of one family (decided again each time new photos put its assessment
    out of date) and one accepted family: an override rate of 50 % of families, not 75 % of
    decisions; every decision is still counted apart."""
    _family_decided_three_times(service)

    overrides = read_report(service, "overrides")
    assert overrides["unit"] == "family_latest_decision"
    assert (overrides["decisions"], overrides["families"]) == (4, 2)
    assert (overrides["overrides"], overrides["override_rate"]) == (1, 0.5)
    assert overrides["by_reason"] == {"income_evidence": 1}
    assert overrides["by_region"] == {
        REGION: {"families": 2, "overrides": 1, "override_rate": 0.5, "decisions": 4}
    }
    assert "latest decision" in overrides["note"]

    fairness = read_report(service, "fairness")
    assert fairness["unit"] == "family_latest_decision" and "latest decision" in fairness["note"]
    assert (fairness["decisions"], fairness["families"]) == (4, 2)
    female = fairness["groupings"]["head_gender"]["groups"]["female"]
    assert (female["decisions"], female["families"]) == (4, 2)
    assert (female["override_rate"], female["agreement"]) == (0.5, 0.5)
    assert female["mean_decided_level"] == (2 + 3) / 2


def test_a_family_counts_by_its_latest_decision(service):
    """Overridden, then accepted on its next assessment: the family is no override now. The
    level its first assessment had stays listed, with its decision and no family."""
    service.create_family("F1")
    assess_and_decide(service, "F1", OVERRIDE)
    _decide_again_after_new_photo(service, "F1", ACCEPT)

    overrides = read_report(service, "overrides")
    assert (overrides["decisions"], overrides["families"], overrides["overrides"]) == (2, 1, 0)
    assert overrides["override_rate"] == 0.0 and overrides["by_reason"] == {}
    assert overrides["by_level"] == {
        "3": {"families": 1, "overrides": 0, "override_rate": 0.0, "decisions": 1},
        "none": {"families": 0, "overrides": 0, "override_rate": None, "decisions": 1},
    }
    fairness = read_report(service, "fairness")["groupings"]["region"]["groups"][REGION]
    assert (fairness["override_rate"], fairness["agreement"]) == (0.0, 1.0)
    assert fairness["mean_decided_level"] == 3


def test_the_oversight_page_says_what_its_figures_count(service):
    from serving.web.i18n import translator

    _family_decided_three_times(service)
    for lang in ("en", "ru", "kk"):
        t = translator(lang)
        page = oversight_page(service, lang)
        summary = t(
            "oversight.summary_families", families=2, overrides=1, rate=t.percent(0.5),
            decisions=4,
        )  # fmt: skip
        assert summary in page, lang
        assert t("oversight.unit") in page, lang
        assert t("oversight.fairness_unit", n=0) in page, lang
    region = oversight_page(service).split('id="cap-by-region"')[1].split("</table>")[0]
    assert '<th scope="col">Families</th>' in region
    assert "<td>2</td><td>1</td><td>50%</td><td>4</td>" in region.replace("\u00a0", "")


def _file(service: Any, family_id: str, models: list[str]) -> None:
    """Photo rows of `family_id`, each scored (top room: kitchen) by the model named."""
    from sqlalchemy import select

    from serving.db.models import Photo, User
    from serving.db.session import session_scope
    from shanyraq.taxonomy import get_taxonomy
    from vision.score import PhotoScore

    taxonomy = get_taxonomy()
    rooms = {name: 0.9 if name == "kitchen" else 0.02 for name in taxonomy.room_names}
    grades = {1: 0.05, 2: 0.05, 3: 0.8, 4: 0.05, 5: 0.05}
    with session_scope(service.services.sessions) as session:
        uploaded_by = session.execute(select(User.id).where(User.username == "inspector"))
        inspector = uploaded_by.scalar_one()
        for n, model in enumerate(models):
            score = PhotoScore(
                photo_sha256="0" * 64, model_version=model, room=rooms, condition=grades,
                signs=dict.fromkeys(taxonomy.sign_names, 0.1),
                embedding=np.zeros(0, dtype=np.float32), abstain=False, abstain_reasons=(),
            ).to_dict()  # fmt: skip
            session.add(
                Photo(
                    family_id=family_id, sha256=f"{family_id}-{n:06d}".ljust(64, "0"),
                    format="jpeg", width=640, height=480, size_bytes=1000, uploaded_by=inspector,
                    score=score, model_version=model,
                )
            )  # fmt: skip


def test_the_drift_report_and_page_name_the_model_and_the_photos_left_out(service):
    from serving.web.i18n import translator

    service.create_family("F1")
    _file(service, "F1", ["model-a"] * 2 + ["model-b"] * 6)

    drift = read_report(service, "drift")
    assert (drift["model_version"], drift["reference_model_version"]) == ("model-b", "model-b")
    assert drift["photos_other_models"] == 2
    assert "photo model model-b" in drift["note"] and "2 stored photos" in drift["note"]
    for lang in ("en", "ru", "kk"):
        t = translator(lang)
        page = oversight_page(service, lang)
        assert t("oversight.drift_model", model="model-b") in page, lang
        assert t("oversight.drift_other_models", n=2) in page, lang
        assert t("oversight.drift_no_model") not in page, lang


def test_the_drift_page_says_when_no_photo_model_has_scored_a_photo(service):
    from serving.web.i18n import translator

    drift = read_report(service, "drift")
    assert drift["model_version"] is None and drift["reference_model_version"] is None
    assert "no photo model" in drift["note"]
    t = translator("en")
    page = oversight_page(service)
    assert t("oversight.drift_no_model") in page
    assert t("oversight.drift_other_models", n=0) in page
