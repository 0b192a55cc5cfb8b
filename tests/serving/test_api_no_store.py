"""API answers carry personal data and tokens: no browser or proxy may store them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serving.helpers import PASSWORD, Service, make_settings, seed_users


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Service]:
    from fastapi.testclient import TestClient

    from serving.app import create_app

    app = create_app(make_settings(tmp_path, f"sqlite:///{tmp_path / 'api.db'}"))
    with TestClient(app) as client:
        yield Service(client=client, app=app, tokens=seed_users(app))


def _assert_private(answer, what: str) -> None:
    assert answer.headers.get_list("cache-control") == ["no-store"], what
    assert answer.headers.get_list("x-content-type-options") == ["nosniff"], what


def test_the_token_answer_is_not_stored(api):
    answer = api.client.post("/auth/token", data={"username": "commission", "password": PASSWORD})
    assert answer.status_code == 200 and "access_token" in answer.json()
    _assert_private(answer, "POST /auth/token")  # RFC 6749 section 5.1


def test_answers_with_personal_data_and_errors_are_not_stored(api):
    api.create_family("F1")
    commission = api.headers("commission")
    for path in ("/auth/me", "/families", "/families/F1", "/families/F1/decisions"):
        answer = api.client.get(path, headers=commission)
        assert answer.status_code == 200, (path, answer.text)
        _assert_private(answer, path)
    for path, status in (("/families/F9", 404), ("/families", 401)):
        headers = commission if status != 401 else {}
        answer = api.client.get(path, headers=headers)
        assert answer.status_code == status, path
        _assert_private(answer, f"{path} {status}")


def test_service_routes_are_not_stored_either(api):
    for path in ("/health", "/metrics", "/openapi.json"):
        answer = api.client.get(path)
        assert answer.status_code == 200, path
        _assert_private(answer, path)
