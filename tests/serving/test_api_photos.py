"""Uploads: durable filing, one photo per content, idempotent retries, bad files, limits."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.serving.helpers import jpeg, photo_rows, stored_files
from tests.serving.upload_helpers import BAD_FILES


def test_upload_answers_quality_reuse_and_id_at_once(service):
    service.create_family("F1")
    data = jpeg(1)
    response = service.upload("F1", data, data={"room_hint": "kitchen"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["photo_id"] > 0 and body["room_hint"] == "kitchen"
    assert (
        body["quality"]["status"] in ("pass", "warn", "fail") and "retake_hint" in body["quality"]
    )
    assert body["reuse"] == {"reused": False, "matches": 0, "details": []}
    assert body["score"] is None and body["score_status"] == "model_unavailable"  # no model here
    assert service.services.store.read(body["sha256"]) == data


def test_same_bytes_make_one_photo(service):
    service.create_family("F1")
    first = service.upload("F1", jpeg(2))
    again = service.upload("F1", jpeg(2))
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["duplicate"] and again.json()["photo_id"] == first.json()["photo_id"]
    assert photo_rows(service) == 1 and len(stored_files(service)) == 1


def test_idempotency_key_replays_and_refuses_reuse_for_other_bytes(service):
    service.create_family("F1")
    key = {"Idempotency-Key": "retry-1"}
    first = service.upload("F1", jpeg(3), headers=key)
    retry = service.upload("F1", jpeg(3), headers=key)
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    other = service.upload("F1", jpeg(4), headers=key)
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    assert photo_rows(service) == 1


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_file_corpus_refused_and_nothing_stored(service, name):
    service.create_family("F1")
    data, status, code = BAD_FILES[name]
    response = service.upload("F1", data)
    assert response.status_code == status, response.text
    assert response.json()["code"] == code and response.json()["message"]
    assert photo_rows(service) == 0 and stored_files(service) == []


def test_body_over_limit_is_413_before_decoding(make_service, monkeypatch):
    service = make_service(max_body_bytes=50_000)
    service.create_family("F1")
    import serving.pipeline as pipeline

    def never(*args, **kwargs):
        raise AssertionError("decoded a body over the limit")

    monkeypatch.setattr(pipeline, "decode_image", never)
    big = b"\xff\xd8\xff" + b"\x00" * 60_000
    declared = service.upload("F1", big)
    assert declared.status_code == 413 and declared.json()["code"] == "body_too_large"

    def chunks():  # no Content-Length: counted as it streams
        yield b"x" * 30_000
        yield b"x" * 30_000

    streamed = service.client.post(
        "/families/F1/photos", content=chunks(),
        headers={**service.headers("inspector"), "Content-Type": "multipart/form-data; boundary=b"},
    )  # fmt: skip
    assert streamed.status_code == 413
    assert photo_rows(service) == 0


def test_rate_limits_on_login_and_upload(make_service):
    service = make_service(rate_limits={"login_per_minute": 3, "upload_per_minute": 2})
    for _ in range(3):
        bad = service.client.post("/auth/token", data={"username": "inspector", "password": "nope"})
        assert bad.status_code == 401
    limited = service.client.post("/auth/token", data={"username": "inspector", "password": "x"})
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    service.create_family("F1")
    assert [service.upload("F1", jpeg(i)).status_code for i in range(3)] == [201, 201, 429]


def test_served_image_has_no_metadata(service):
    service.create_family("F1")
    exif = Image.Exif()
    exif.get_ifd(0x8825).update({1: "N", 2: (43.0, 15.0, 0.0), 3: "E", 4: (76.0, 57.0, 0.0)})
    photo = service.upload("F1", jpeg(7, exif=exif)).json()
    assert photo["has_gps"]
    image = service.client.get(
        f"/photos/{photo['photo_id']}/image", headers=service.headers("commission")
    )
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    assert not Image.open(io.BytesIO(image.content)).getexif()


def test_reused_photo_flagged_with_ids_only_for_allowed_roles(service):
    service.create_family("F1")
    service.create_family("F2")
    data = jpeg(8)
    first = service.upload("F1", data).json()
    second = service.upload("F2", data)
    assert second.status_code == 201
    reuse = second.json()["reuse"]
    assert reuse["reused"] and reuse["matches"] == 1 and reuse["details"] == []  # inspector
    seen = service.client.get(
        f"/photos/{second.json()['photo_id']}", headers=service.headers("commission")
    )
    assert seen.json()["reuse"]["details"] == [
        {"photo_id": first["photo_id"], "family_id": "F1", "distance": 0}
    ]


def test_unknown_room_hint_refused(service):
    service.create_family("F1")
    response = service.upload("F1", jpeg(9), data={"room_hint": "garage"})
    assert response.status_code == 422 and "garage" in response.json()["message"]


def test_health_and_metrics(service):
    health = service.client.get("/health").json()
    assert health["database"] == "ok" and health["store"] == "ok"
    assert health["status"] == "degraded" and health["model_version"] is None
    assert any("model_dir" in p for p in health["problems"])
    service.client.get("/families", headers=service.headers("inspector"))
    assert service.client.get("/ui/static/style.css").status_code == 200
    metrics = service.client.get("/metrics").text
    assert 'shanyraq_http_requests_total{method="GET",route="/families",status="200"}' in metrics
    # Review 22: the static files under their mount's template, not "unmatched" (404s' label).
    static = 'shanyraq_http_requests_total{method="GET",route="/ui/static/{path}",status="200"}'
    assert static in metrics
