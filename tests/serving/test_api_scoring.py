"""With a real (tiny) exported model: uploads come back scored, through the micro-batcher."""

from __future__ import annotations

import pytest

from tests.serving.helpers import jpeg


def test_upload_is_scored_and_health_names_the_model(make_service, model_dir):
    service = make_service(model_dir=model_dir)
    health = service.client.get("/health").json()
    assert health["model_version"] == "test-3" and health["inference_provider"] == "cpu"
    service.create_family("F1")
    body = service.upload("F1", jpeg(1), data={"room_hint": "bedroom"}).json()
    score = body["score"]
    assert body["score_status"] == "scored" and score["model_version"] == "test-3"
    assert score["photo_sha256"] == body["sha256"]
    assert abs(sum(score["room"].values()) - 1) < 1e-4
    assert set(score["condition"]) == {"1", "2", "3", "4", "5"}
    assert service.services.pipeline.batch_sizes == [1]  # went through the micro-batcher
    assessment = service.client.post(
        "/families/F1/assessments", headers=service.headers("commission")
    )
    result = assessment.json()
    assert result["photo_ids"] == [body["photo_id"]] and result["result"]["unscored_photos"] == 0
    drift = service.client.get("/reports/drift", headers=service.headers("admin")).json()
    assert drift["heads"]["room"]["current"]


def test_mismatched_model_stops_start_up(tmp_path, database_url, model_dir):
    import json
    import shutil

    from fastapi.testclient import TestClient

    from serving.app import create_app
    from shanyraq.errors import ModelMismatchError
    from tests.serving.helpers import make_settings

    broken = tmp_path / "model"
    shutil.copytree(model_dir, broken)
    meta = json.loads((broken / "model.json").read_text())
    meta["taxonomy_fingerprint"] = "0" * 64
    (broken / "model.json").write_text(json.dumps(meta))
    app = create_app(make_settings(tmp_path, database_url, model_dir=broken))
    with pytest.raises(ModelMismatchError), TestClient(app):
        pass


def test_an_upload_that_meets_a_shut_down_batcher_is_a_503_and_stores_nothing(
    make_service, model_dir
):
    """While the service shuts down, the batcher refuses new photos: the inspector is told to
    send the photo again (503), not shown an unexplained server error, and nothing is filed."""
    service = make_service(model_dir=model_dir)
    service.create_family("F1")
    batcher = service.services.pipeline._batcher
    assert batcher is not None
    batcher._closed = True  # as aclose leaves it, on the service's own event loop
    answer = service.upload("F1", jpeg(2))
    assert answer.status_code == 503, answer.text
    assert answer.json()["code"] == "unavailable"
    assert "send it again" in answer.json()["message"]
    photos = service.client.get("/families/F1/photos", headers=service.headers("commission"))
    assert photos.status_code == 200 and photos.json() == []


def test_heat_maps_explain_only_the_scores_of_the_loaded_model(make_service, model_dir):
    """After the service switched models and before the re-scores are promoted, a photo still
    shows the old model's scores: the loaded model's evidence would explain other scores, so
    the page offers no heat map for it and says why, and the overlay is refused."""
    from fastapi.testclient import TestClient

    from serving.db.models import Photo
    from serving.db.session import session_scope
    from tests.serving.helpers import PASSWORD
    from tests.web.helpers import sign_in

    service = make_service(model_dir=model_dir)
    service.create_family("F1")
    now = service.upload("F1", jpeg(1)).json()
    before = service.upload("F1", jpeg(2)).json()
    with session_scope(service.services.sessions) as session:
        session.get_one(Photo, before["photo_id"]).model_version = "old-1"
    browser = TestClient(service.app, base_url="http://127.0.0.1")
    assert sign_in(browser, "commission", PASSWORD).status_code == 303
    page = browser.get("/ui/families/F1").text
    assert f"/ui/photos/{now['photo_id']}/heatmap/" in page
    assert f"/ui/photos/{before['photo_id']}/heatmap/" not in page
    assert "from the photo model old-1, not the one loaded now" in page
    sign = next(iter(now["score"]["signs"]))
    shown = browser.get(f"/ui/photos/{now['photo_id']}/heatmap/{sign}")
    assert shown.status_code == 200 and shown.headers["content-type"] == "image/png"
    refused = browser.get(f"/ui/photos/{before['photo_id']}/heatmap/{sign}")
    assert refused.status_code == 409, refused.text
    assert "old-1" in refused.text and "test-3" in refused.text
