"""The upload page sends a photo again after a lost answer, with no Idempotency-Key: a photo
the family already has is shown as filed (already filed for this family), not refused, also
once photo scoring has stopped. It went through the model first and was refused with "nothing
was stored" although it was filed. On SQLite and PostgreSQL."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from serving.db.models import AuditEntry
from serving.db.session import session_scope
from serving.web.i18n import load_catalogues
from tests.serving.helpers import PASSWORD, jpeg
from tests.serving.upload_helpers import stop_scoring
from tests.web.helpers import csrf_from, sign_in

EN = load_catalogues()["en"]
OUTCOME = re.compile(r'<article class="result[^"]*" data-outcome="([a-z]+)"[^>]*>')


def _send(browser: Any, token: str, photo: bytes) -> Any:
    return browser.post(
        "/ui/upload",
        data={"csrf_token": token, "family_id": "F1"},
        files=[("files", ("p.jpg", photo, "image/jpeg"))],
        headers={"X-Requested-With": "fetch"},  # as the page's script sends it
    )


def test_the_page_shows_a_photo_sent_again_as_filed_once_scoring_has_stopped(
    make_service,
    model_dir,
    monkeypatch,
):
    service = make_service(model_dir=model_dir)
    service.create_family("F1")
    browser = TestClient(service.app, base_url="http://127.0.0.1")
    assert sign_in(browser, "inspector", PASSWORD).status_code == 303
    token = csrf_from(browser.get("/ui/upload").text)
    photo = jpeg(61)
    first = _send(browser, token, photo)
    assert OUTCOME.findall(first.text) == ["usable"], first.text
    assert EN["upload.duplicate"] not in first.text
    stop_scoring(service, monkeypatch)

    again = _send(browser, token, photo)
    assert again.status_code == 200
    assert OUTCOME.findall(again.text) == ["usable"], again.text
    assert EN["upload.duplicate"] in again.text
    with session_scope(service.services.sessions) as session:
        entries = session.execute(
            select(AuditEntry).where(AuditEntry.action == "photo_upload_duplicate")
        ).scalars()
        assert [e.actor for e in entries] == ["inspector"]
