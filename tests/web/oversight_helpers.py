"""A family assessed and its recommendation overridden by the commission (of another region
where one is named), for the tests of the oversight page."""

from __future__ import annotations

OVERRIDE = {"kind": "override", "level": 2, "reason_code": "income_evidence",
            "reason": "employer letter shows wage arrears"}  # fmt: skip


def decide_family(web, family_id: str, *, region: str | None = None) -> None:
    web.create_family(family_id, **({"region": region} if region else {}))
    who = "commission_other" if region else "commission"
    made = web.client.post(f"/families/{family_id}/assessments", headers=web.headers(who))
    assert made.status_code == 201, made.text
    decided = web.client.post(
        f"/assessments/{made.json()['assessment_id']}/decisions",
        json=OVERRIDE,
        headers=web.headers(who),
    )
    assert decided.status_code == 201, decided.text
