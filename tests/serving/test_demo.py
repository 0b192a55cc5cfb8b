"""The demo seeding: accounts sign in, synthetic families arrive through the API, scored."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from serving.demo import DEMO_PASSWORD, demo_accounts, demo_regions, seed_demo
from shanyraq.taxonomy import get_taxonomy
from tests.serving.helpers import make_settings


@pytest.mark.slow
def test_seed_demo_through_the_api(tmp_path):
    from serving.app import create_app
    from tests.vision.engine_fixtures import make_artifact

    model = make_artifact(tmp_path / "model", get_taxonomy(), seed=3)
    settings = make_settings(tmp_path, "", model_dir=model)
    uploaded = seed_demo(settings, n_families=8, seed=1)
    assert uploaded > 0
    assert seed_demo(settings, n_families=8, seed=1) == 0  # seeded once, not twice

    with TestClient(create_app(settings)) as client:
        for account in demo_accounts():
            token = client.post(
                "/auth/token", data={"username": account.username, "password": DEMO_PASSWORD}
            )
            assert token.status_code == 200, account
        commission = next(a for a in demo_accounts() if a.role == "commission")
        token = client.post(
            "/auth/token", data={"username": commission.username, "password": DEMO_PASSWORD}
        ).json()["access_token"]
        families = client.get("/families", headers={"Authorization": f"Bearer {token}"}).json()
        assert families and {f["region"] for f in families} == {commission.region}
        assert commission.region in demo_regions()
        photos = client.get(
            f"/families/{families[0]['family_id']}/photos",
            headers={"Authorization": f"Bearer {token}"},
        ).json()
        assert photos and all(p["score"] is not None for p in photos)
        latest = client.get(
            f"/families/{families[0]['family_id']}/assessments/latest",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert latest.status_code == 200  # assessed at seeding, before anyone opened it
