"""Helpers of the photo-store read tests: a SQLite database (a fixture its modules borrow: it
overrides the folder's for them), a photo filed, its store-damage error logged once, and a
signed-in browser (the photo store is the `store` fixture of tests/serving/conftest.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.serving.helpers import PASSWORD, Service, jpeg
from tests.web.helpers import sign_in

CODE = "photo_store_damaged"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: nothing here depends on the database (the filing is tested elsewhere)."""
    return f"sqlite:///{tmp_path / 'service.db'}"


def file_one_photo(service: Service, seed: int) -> tuple[int, str]:
    service.create_family("F1")
    answer = service.upload("F1", jpeg(seed))
    assert answer.status_code == 201, answer.text
    body = answer.json()
    return body["photo_id"], body["sha256"]


def logged_once(caplog: pytest.LogCaptureFixture, sha256: str) -> None:
    records = [r for r in caplog.records if sha256 in r.getMessage()]
    assert len(records) == 1, [r.getMessage() for r in records]
    assert f"originals/{sha256[:2]}/{sha256}" in records[0].getMessage()
    assert records[0].exc_info is None  # no traceback, in the log or the answer
    assert "Traceback" not in caplog.text


def signed_in_browser(service: Service, who: str) -> Any:
    client = TestClient(service.app, base_url="http://127.0.0.1")
    assert sign_in(client, who, PASSWORD).status_code == 303
    return client
