"""Reports (review): drift compares one photo model's scores at a time, reads no shift from an
empty side, counts the median grade and none for non-dwelling photos, and the oversight page
shows the API's figures; a decision sent again is counted once. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
import shutil
from typing import Any

import pytest

from tests.serving.helpers import OTHER_REGION, REGION
from tests.serving.report_helpers import drift_report, drift_table, file_scores, photo_score

# A grade distribution whose most probable grade (5) is not its median grade (2).
TWO_PEAKS = {1: 0.3, 2: 0.25, 3: 0.0, 4: 0.0, 5: 0.45}
OVERRIDE = {"kind": "override", "level": 2, "reason_code": "income_evidence",
            "reason": "employer letter shows wage arrears"}  # fmt: skip


def _psi_cells(service: Any) -> list[str]:
    """The PSI column of the oversight page's drift table."""
    return re.findall(r'<th scope="row">[^<]+</th><td>([^<]*)</td>', drift_table(service))


def test_drift_compares_the_scores_of_one_model_not_a_change_of_model(service):
    """Without a photo model, the model that scored most photos is compared with itself:
    two photos left on an older model (a promotion could not re-score them) would
    otherwise fill the reference half and read the change of model as a shift."""
    service.create_family("F1")
    service.create_family("F2", region=OTHER_REGION)
    file_scores(
        service,
        "F1",
        [photo_score("model-a", "kitchen")] * 2 + [photo_score("model-b", "bedroom")] * 6,
    )
    file_scores(service, "F2", [photo_score("model-c", "bathroom")] * 9)  # another region's photos

    ours = service.client.get("/reports/drift", headers=service.headers("admin")).json()
    assert ours["heads"]["room"]["psi"] == pytest.approx(0.0)
    assert (
        ours["heads"]["room"]["reference"] == ours["heads"]["room"]["current"] == {"bedroom": 1.0}
    )
    assert (ours["model_version"], ours["photos"], ours["photos_other_models"]) == (
        "model-b", 3, 2,
    )  # fmt: skip
    national = drift_report(service)  # model-c scored most photos across the regions
    assert (national["model_version"], national["photos_other_models"]) == ("model-c", 8)


def test_a_side_without_photos_reads_as_no_figure_not_a_shift(service):
    """One scored photo: the earlier half is empty, so there is nothing to compare it with;
    every bin of an empty side read as a near-zero share gave a PSI of about 9 (a 'shift')."""
    service.create_family("F1")
    file_scores(service, "F1", [photo_score("model-a", "kitchen")])
    drift = drift_report(service)
    assert drift["photos"] == 1 and drift["heads"]["room"]["reference"] == {}
    assert drift["heads"]["room"]["psi"] is None and drift["heads"]["condition"]["psi"] is None
    assert _psi_cells(service) == ["—", "—"]


def test_non_dwelling_photos_have_no_grade_in_the_condition_distribution(service):
    """A photo the model calls a non-dwelling has no condition (vision.score.PhotoScore): its
    grade probabilities are not counted, nor are a photo's that are not numbers (NaN)."""
    from vision.score import ABSTAIN_LOW_CONFIDENCE, ABSTAIN_NOT_DWELLING

    service.create_family("F1")
    not_home = photo_score(
        "model-a", "not_dwelling", condition=dict(enumerate([0.8, 0.05, 0.05, 0.05, 0.05], 1)),
        abstain_reasons=(ABSTAIN_NOT_DWELLING,),
    )  # fmt: skip
    unsure = photo_score("model-a", "kitchen", abstain_reasons=(ABSTAIN_LOW_CONFIDENCE,))
    nan = photo_score("model-a", "kitchen", nan=True)
    file_scores(service, "F1", [photo_score("model-a", "kitchen")] * 2 + [unsure, not_home, nan])

    drift = drift_report(service)
    condition, room = drift["heads"]["condition"], drift["heads"]["room"]
    assert condition["current"] == {"3": 1.0} and condition["photos"] == 1  # `unsure` only
    assert condition["psi"] == pytest.approx(0.0)
    assert room["current"] == {"kitchen": 0.5, "not_dwelling": 0.5} and room["photos"] == 2
    assert room["psi"] > drift["alert_psi"]  # more photos of no home is a shift, of rooms


def test_the_grade_counted_is_the_median_grade_the_model_reports(service):
    service.create_family("F1")
    file_scores(service, "F1", [photo_score("model-a", "kitchen", condition=TWO_PEAKS)] * 2)
    condition = drift_report(service)["heads"]["condition"]
    assert condition["reference"] == condition["current"] == {"2": 1.0}


def test_the_training_reference_is_compared_with_the_serving_models_scores(
    make_service, trained_model, tmp_path
):
    """The reference in the serving model's artifact describes that model's scores: photos
    still on an older model (filed before the model changed) are left out, and counted."""
    model = tmp_path / "model"
    shutil.copytree(trained_model, model)
    meta = json.loads((model / "model.json").read_text(encoding="utf-8"))
    meta["metrics"]["score_reference"] = {"room": {"kitchen": 1.0}, "condition": {"3": 1.0}}
    (model / "model.json").write_text(json.dumps(meta), encoding="utf-8")
    service = make_service(model_dir=model)
    serving = service.services.pipeline.engine.model_version
    service.create_family("F1")
    file_scores(
        service, "F1", [photo_score("older", "bedroom")] * 5 + [photo_score(serving, "kitchen")] * 2
    )

    drift = drift_report(service, "admin")
    assert drift["reference_code"] == "training_data"
    assert drift["heads"]["room"]["psi"] == pytest.approx(0.0)
    assert drift["heads"]["condition"]["psi"] == pytest.approx(0.0)
    assert drift["model_version"] == serving
    assert (drift["photos"], drift["photos_other_models"]) == (2, 5)
    assert _psi_cells(service) == ["0.00", "0.00"]


def test_a_decision_sent_again_is_counted_once(service):
    """An API client that does not send seen_decision_id records its retry of a decision as
    a second one (tests/serving/test_api_decisions.py); the reports count the override once,
    as record_decision would have with seen_decision_id. A member's other decision counts
    among the decisions; the override figures count the family once (its latest decision)."""
    service.create_family("F1")
    made = service.client.post("/families/F1/assessments", headers=service.headers("commission"))
    assert made.status_code == 201, made.text
    address = f"/assessments/{made.json()['assessment_id']}/decisions"
    for body in (OVERRIDE, OVERRIDE):
        sent = service.client.post(address, json=body, headers=service.headers("commission"))
        assert sent.status_code == 201, sent.text
    decisions = service.client.get("/families/F1/decisions", headers=service.headers("admin"))
    assert len(decisions.json()) == 2  # both recorded, as the family page lists them

    def reports() -> tuple[dict[str, Any], dict[str, Any]]:
        get = service.client.get
        return (
            get("/reports/overrides", headers=service.headers("admin")).json(),
            get("/reports/fairness", headers=service.headers("admin")).json()["groupings"],
        )

    overrides, fairness = reports()
    assert (overrides["decisions"], overrides["overrides"]) == (1, 1)
    assert overrides["by_reason"] == {"income_evidence": 1}
    assert fairness["head_gender"]["groups"]["female"]["decisions"] == 1

    level = next(n for n in (1, 3, 4) if n != made.json()["level"])
    other = {**OVERRIDE, "level": level, "reason": "the home has no heating at all"}
    sent = service.client.post(address, json=other, headers=service.headers("commission"))
    assert sent.status_code == 201, sent.text
    overrides, fairness = reports()
    assert (overrides["decisions"], overrides["families"], overrides["overrides"]) == (2, 1, 1)
    female = fairness["head_gender"]["groups"]["female"]
    assert (female["decisions"], female["families"]) == (2, 1)


def test_a_promotions_score_shift_counts_no_room_or_sign_from_a_score_without_numbers():
    """A new score the model gave as NaN (stored as null) abstains; its top room would be the
    first room label, and its signs made every sign's mean NaN ('nan' in the dry run)."""
    from serving.score_shift import ShiftTally, shift_lines

    tally = ShiftTally()
    tally.add(photo_score("old", "bedroom"), photo_score("new", "bedroom", nan=True))
    tally.add(photo_score("old", "bedroom"), photo_score("new", "bedroom"))
    shift = tally.result()
    assert shift.room_changed == 0
    assert shift.new.top_rooms == {"bedroom": 1} and shift.new.abstain_rate == 0.5
    assert shift.new.mean_signs == pytest.approx(dict.fromkeys(shift.old.mean_signs, 0.1))
    assert shift.new.without_numbers == 1 and shift.old.without_numbers == 0
    lines = "\n".join(shift_lines(shift))
    assert "nan" not in lines and "scores without numbers" in lines


def test_a_regional_members_reports_hold_nothing_of_another_region(service):
    cases = (("F1", REGION, "commission"), ("F2", OTHER_REGION, "commission_other"))
    for family, region, who in cases:
        service.create_family(family, region=region)
        made = service.client.post(f"/families/{family}/assessments", headers=service.headers(who))
        address = f"/assessments/{made.json()['assessment_id']}/decisions"
        sent = service.client.post(address, json=OVERRIDE, headers=service.headers(who))
        assert sent.status_code == 201, sent.text
    file_scores(service, "F2", [photo_score("model-c", "bathroom")] * 3)

    get = service.client.get
    overrides = get("/reports/overrides", headers=service.headers("commission")).json()
    assert overrides["decisions"] == 1 and list(overrides["by_region"]) == [REGION]
    fairness = get("/reports/fairness", headers=service.headers("commission")).json()
    assert fairness["decisions"] == 1
    for block in fairness["groupings"].values():
        assert sum(group["decisions"] for group in block["groups"].values()) == 1
    assert list(fairness["groupings"]["region"]["groups"]) == [REGION]
    drift = get("/reports/drift", headers=service.headers("commission")).json()
    assert (drift["photos"], drift["photos_other_models"], drift["model_version"]) == (0, 0, None)
