"""Region scoping: another region's family, photo or assessment is a 404; lists are filtered."""

from __future__ import annotations

from tests.serving.helpers import OTHER_REGION, REGION, family_body, jpeg


def test_other_region_is_invisible(service):
    service.create_family("HOME")
    service.create_family("AWAY", region=OTHER_REGION)
    away_photo = service.upload("AWAY", jpeg(3), who="inspector_other").json()["photo_id"]
    away_assessment = service.client.post(
        "/families/AWAY/assessments", headers=service.headers("inspector_other")
    ).json()["assessment_id"]
    for who in ("inspector", "commission"):
        h = service.headers(who)
        for url in ("/families/AWAY", "/families/AWAY/photos", f"/photos/{away_photo}",
                    f"/photos/{away_photo}/image", f"/assessments/{away_assessment}",
                    "/families/AWAY/assessments/latest"):  # fmt: skip
            response = service.client.get(url, headers=h)
            assert response.status_code == 404, (who, url, response.status_code)
            assert response.json()["code"] == "not_found"
        listed = [f["family_id"] for f in service.client.get("/families", headers=h).json()]
        assert listed == ["HOME"]
    forbidden_decision = service.client.post(
        f"/assessments/{away_assessment}/decisions", json={"kind": "accept"},
        headers=service.headers("commission"),
    )  # fmt: skip
    assert forbidden_decision.status_code == 404
    # The same 404 as for an id that does not exist: existence is not revealed.
    missing = service.client.get("/families/NOPE", headers=service.headers("inspector"))
    assert missing.status_code == 404


def test_national_admin_sees_all_regions_regional_admin_one(service):
    service.create_family("HOME")
    service.create_family("AWAY", region=OTHER_REGION)
    national = service.client.get("/families", headers=service.headers("admin_national")).json()
    assert sorted(f["family_id"] for f in national) == ["AWAY", "HOME"]
    regional = service.client.get("/families", headers=service.headers("admin")).json()
    assert [f["family_id"] for f in regional] == ["HOME"]


def test_cannot_file_a_family_in_another_region(service):
    response = service.client.post(
        "/families", json=family_body("X", OTHER_REGION), headers=service.headers("inspector")
    )
    assert response.status_code == 403
    assert service.client.get("/families", headers=service.headers("admin_national")).json() == []


def test_reports_are_scoped(service):
    service.create_family("HOME")
    service.create_family("AWAY", region=OTHER_REGION)
    cases = (("HOME", "inspector", "commission"), ("AWAY", "inspector_other", "commission_other"))
    for family, inspector, commission in cases:
        assessment = service.client.post(
            f"/families/{family}/assessments", headers=service.headers(inspector)
        ).json()
        decided = service.client.post(
            f"/assessments/{assessment['assessment_id']}/decisions",
            json={"kind": "override", "level": 2, "reason_code": "income_evidence",
                  "reason": "employer letter shows wage arrears"},
            headers=service.headers(commission),
        )  # fmt: skip
        assert decided.status_code == 201, decided.text
    mine = service.client.get("/reports/overrides", headers=service.headers("commission")).json()
    assert mine["decisions"] == 1 and list(mine["by_region"]) == [REGION]
    everyone = service.client.get("/reports/overrides", headers=service.headers("admin_national"))
    assert everyone.json()["decisions"] == 2
