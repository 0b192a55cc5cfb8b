"""Reports: fairness gaps leave out groups too small to compare; one drift alert threshold."""

from __future__ import annotations

from tests.serving.helpers import OTHER_REGION, REGION

OVERRIDE = {"kind": "override", "level": 2, "reason_code": "income_evidence",
            "reason": "employer letter shows wage arrears"}  # fmt: skip


def _decide(service, family, body, *, inspector, commission, level=None):
    from serving.db.models import Assessment
    from serving.db.session import session_scope

    made = service.client.post(
        f"/families/{family}/assessments", headers=service.headers(inspector)
    )
    assert made.status_code == 201, made.text
    aid = made.json()["assessment_id"]
    if level is not None:  # a model that gave a level, so the commission may accept it
        with session_scope(service.services.sessions) as session:
            session.get_one(Assessment, aid).level = level
    decided = service.client.post(
        f"/assessments/{aid}/decisions", json=body, headers=service.headers(commission)
    )
    assert decided.status_code == 201, decided.text


def _minimum(n):
    def change(data):
        data["fairness"]["min_families_per_group"] = n

    return change


def test_fairness_gap_leaves_out_groups_under_the_configured_minimum(service, edit_config):
    for family, region in (("F1", REGION), ("F2", REGION), ("F3", OTHER_REGION)):
        service.create_family(family, region=region)
    ours, theirs = {"inspector": "inspector", "commission": "commission"}, {
        "inspector": "inspector_other", "commission": "commission_other",
    }  # fmt: skip
    _decide(service, "F1", OVERRIDE, **ours)
    _decide(service, "F2", {"kind": "accept"}, **ours, level=3)
    _decide(service, "F3", OVERRIDE, **theirs)

    edit_config("welfare.yaml", _minimum(2))
    report = service.client.get("/reports/fairness", headers=service.headers("admin_national"))
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["min_families_per_group"] == 2
    regions = body["groupings"]["region"]
    ours_row, theirs_row = regions["groups"][REGION], regions["groups"][OTHER_REGION]
    assert (ours_row["families"], ours_row["too_small"]) == (2, False)
    assert ours_row["override_rate"] == 0.5
    assert (theirs_row["families"], theirs_row["too_small"]) == (1, True)
    assert theirs_row["override_rate"] == 1.0  # shown, but left out of the gap
    assert regions["override_rate_gap"] is None

    edit_config("welfare.yaml", _minimum(1))
    report = service.client.get("/reports/fairness", headers=service.headers("admin_national"))
    assert report.json()["groupings"]["region"]["override_rate_gap"] == 0.5


def test_the_drift_alert_threshold_is_the_configured_one(make_service, tmp_path):
    from shanyraq.config import read_yaml
    from tests.serving.helpers import ROOT, make_settings

    shipped = read_yaml(ROOT / "configs" / "serving.yaml")["drift_alert_psi"]
    assert make_settings(tmp_path, "").drift_alert_psi == shipped
    service = make_service(drift_alert_psi=0.125)
    drift = service.client.get("/reports/drift", headers=service.headers("admin")).json()
    assert drift["alert_psi"] == 0.125 and "PSI above 0.125" in drift["note"]


def test_drift_counts_only_scored_photos(make_service):
    """Photos stored without a score (no photo model) are no evidence of a shift: they are
    neither counted nor read as an empty share of the distribution."""
    from tests.serving.helpers import jpeg

    service = make_service()
    assert service.services.pipeline.engine is None
    service.create_family("F1")
    for seed in (1, 2, 3, 4):
        answer = service.upload("F1", jpeg(seed))
        assert answer.status_code == 201 and answer.json()["score_status"] == "model_unavailable"
    drift = service.client.get("/reports/drift", headers=service.headers("admin")).json()
    assert drift["photos"] == 0
    assert drift["heads"]["room"]["psi"] is None and drift["heads"]["room"]["current"] == {}
