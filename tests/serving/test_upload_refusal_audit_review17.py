"""A refused upload is audited (`photo_refused`): who, which family, which code, and the sha256
and size of what was received; never the bytes, never a 5xx for a failed audit write."""

from __future__ import annotations

import hashlib
import logging

import pytest
from typer.testing import CliRunner

from serving.audit_cli import app as audit_app
from serving.db.session import session_scope
from tests.serving.helpers import audit_entries, jpeg, serving_yaml, started
from tests.serving.upload_helpers import BAD_FILES


def _verified_by_cli(tmp_path) -> None:
    config = serving_yaml(
        tmp_path / "serving.yaml", tmp_path, f"sqlite:///{tmp_path / 'web.db'}", fusion_dir=""
    )
    result = CliRunner().invoke(audit_app, ["verify", "--config", str(config)])
    assert result.exit_code == 0 and "intact" in result.output, result.output


@pytest.mark.parametrize("name", ["text", "truncated_jpeg", "pixel_bomb", "empty"])
def test_bad_bytes_leave_a_refusal_entry_with_their_digest(tmp_path, name):
    data, status, code = BAD_FILES[name]
    with started(tmp_path) as service:
        service.create_family("F1")
        response = service.upload("F1", data)
        assert (response.status_code, response.json()["code"]) == (status, code)
        [entry] = audit_entries(service, "photo_refused")
        assert (entry.actor, entry.target) == ("inspector", "family:F1")
        assert entry.details == {
            "family_id": "F1", "code": code, "status": status,
            "sha256": hashlib.sha256(data).hexdigest(), "size_bytes": len(data),
        }  # fmt: skip
    _verified_by_cli(tmp_path)


def test_refusals_before_the_bytes_are_read_and_by_idempotency_key(tmp_path):
    with started(tmp_path) as service:
        service.create_family("F1")
        hint = service.upload("F1", jpeg(1), data={"room_hint": "garage"})
        assert hint.status_code == 422
        key = {"Idempotency-Key": "k1"}
        assert service.upload("F1", jpeg(2), headers=key).status_code == 201
        other = service.upload("F1", jpeg(3), headers=key)
        assert other.json()["code"] == "idempotency_key_reused"
        first, second = audit_entries(service, "photo_refused")
        assert first.details == {"family_id": "F1", "code": "record_invalid", "status": 422}
        assert second.details["code"] == "idempotency_key_reused"
        assert second.details["sha256"] == hashlib.sha256(jpeg(3)).hexdigest()
        assert len(audit_entries(service, "photo_uploaded")) == 1


def test_photo_over_the_size_limit_inside_the_route_is_audited(tmp_path, max_bytes):
    max_bytes(5000)  # the body limit lets it in; the route refuses it
    data = jpeg(4)
    with started(tmp_path) as service:
        service.create_family("F1")
        response = service.upload("F1", data)
        assert (response.status_code, response.json()["code"]) == (413, "body_too_large")
        [entry] = audit_entries(service, "photo_refused")
        assert entry.details["size_bytes"] == len(data) > 5000


def test_rate_limited_uploads_audited_once_a_window(tmp_path):
    with started(tmp_path, rate_limits={"upload_per_minute": 1}) as service:
        service.create_family("F1")
        codes = [service.upload("F1", jpeg(i)).status_code for i in range(4)]
        assert codes == [201, 429, 429, 429]
        # a flood of refusals must not grow the log at its rate
        [entry] = audit_entries(service, "photo_refused")
        assert entry.details["code"] == "rate_limited" and entry.details["limit"] == 1


def test_requests_refused_before_the_route_write_no_refusal(tmp_path):
    with started(tmp_path) as service:
        service.create_family("F1")
        service.create_family("F9", region="astana")
        answers = [
            service.client.post("/families/F1/photos", files={"file": ("a.jpg", jpeg(1))}),
            service.upload("F1", jpeg(1), who="commission"),
            service.upload("NOPE", jpeg(1)),
            service.upload("F9", jpeg(1)),
        ]
        assert [a.status_code for a in answers] == [401, 403, 404, 404]
        assert audit_entries(service, "photo_refused") == []


def test_a_failed_audit_write_keeps_the_users_error_and_is_logged(tmp_path, monkeypatch, caplog):
    from serving import audit

    real_append = audit.append

    def failing(session, key, **kw):
        if kw["action"] == "photo_refused":
            raise RuntimeError("database gone")
        return real_append(session, key, **kw)

    with started(tmp_path) as service:
        service.create_family("F1")
        monkeypatch.setattr(audit, "append", failing)
        with caplog.at_level(logging.ERROR):
            response = service.upload("F1", b"not a photo")
        assert (response.status_code, response.json()["code"]) == (415, "image_unsupported_format")
        assert "photo_refused" in caplog.text and "F1" in caplog.text
        monkeypatch.setattr(audit, "append", real_append)
        assert audit_entries(service, "photo_refused") == []
        assert service.upload("F1", jpeg(5)).status_code == 201  # the chain goes on
    _verified_by_cli(tmp_path)


def test_refusal_entries_keep_the_chain_intact_on_each_database(service):
    from serving import audit

    service.create_family("F1")
    assert service.upload("F1", b"%PDF-1.4\n").status_code == 415
    assert service.upload("F1", jpeg(6)).status_code == 201
    assert [e.details["code"] for e in audit_entries(service, "photo_refused")] == [
        "image_unsupported_format"
    ]
    with session_scope(service.services.sessions) as session:
        result = audit.verify(session, service.services.signing_key)
    assert result.ok, result.problems
