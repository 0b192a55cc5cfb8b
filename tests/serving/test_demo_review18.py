"""The demo after its models were rebuilt under the same folders: what its next start shows."""

from __future__ import annotations

import shutil

import pytest
from fastapi.testclient import TestClient

from serving.demo import DEMO_PASSWORD, demo_accounts, seed_demo
from shanyraq.taxonomy import get_taxonomy
from tests.serving.helpers import make_settings, small_fusion_model


@pytest.mark.slow
def test_a_rebuilt_model_never_passes_the_seeded_scores_off_as_its_own(tmp_path, caplog):
    """Seeded with photo model test-3 and one fusion model, restarted after both were rebuilt
    in place: the fusion model's change makes the seeded assessments stale, so reading one
    recomputes it with the new fusion model; the photos keep test-3's scores (a new photo
    model re-scores only through `rescore` + `rescore promote`), and the assessment and the
    page name test-3 as the model that scored them, never the loaded test-4."""
    from serving.app import create_app
    from tests.vision.engine_fixtures import make_artifact
    from tests.web.helpers import sign_in

    model = make_artifact(tmp_path / "model", get_taxonomy(), seed=3)
    fusion = small_fusion_model(tmp_path / "fusion", seed=0)
    settings = make_settings(tmp_path, "", model_dir=model, fusion_dir=fusion)
    assert seed_demo(settings, n_families=4, seed=1) > 0

    shutil.rmtree(model)
    make_artifact(model, get_taxonomy(), seed=4)  # rebuilt: model version test-4
    shutil.rmtree(fusion)
    small_fusion_model(tmp_path / "fusion", seed=1)  # rebuilt: another fusion version
    with caplog.at_level("WARNING", logger="serving.demo"):
        assert seed_demo(settings, n_families=4, seed=1) == 0  # the next start: not reseeded
    # The start says the seeded photos carry another model's scores and how to re-score them.
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "test-3" in said and "test-4" in said and "rescore" in said

    commission = next(a for a in demo_accounts() if a.role == "commission")
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        health = client.get("/health").json()
        loaded_fusion = health["fusion_model_version"]
        assert health["model_version"] == "test-4"
        token = client.post(
            "/auth/token", data={"username": commission.username, "password": DEMO_PASSWORD}
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        family_id = client.get("/families", headers=headers).json()[0]["family_id"]
        photos = client.get(f"/families/{family_id}/photos", headers=headers).json()
        assert photos and {p["score"]["model_version"] for p in photos} == {"test-3"}

        latest = client.get(f"/families/{family_id}/assessments/latest", headers=headers)
        assert latest.status_code == 200, latest.text
        body = latest.json()
        assert body["version"] == 2  # the seeded one was stale (fusion model) and recomputed
        assert body["model_versions"]["fusion"] == loaded_fusion
        assert body["model_versions"]["vision"] == "test-3"  # whose scores it read, named

        assert sign_in(client, commission.username, DEMO_PASSWORD).status_code == 303
        page = client.get(f"/ui/families/{family_id}").text
        assert "photo model: test-3" in page
        assert "from the photo model test-3, not the one loaded now" in page
