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


# --- answers given outside PrivateByDefault's old place: the body limit's 413, the 500s ----

LIMIT_BYTES = 4096


@pytest.fixture
def failing(tmp_path: Path) -> Iterator[Service]:
    """An app with a small body limit and two test-only routes that fail unexpectedly (one
    for the API, one under the pages' prefix); its 500s come back as answers."""
    from fastapi.testclient import TestClient

    from serving.app import create_app

    url = f"sqlite:///{tmp_path / 'api.db'}"
    app = create_app(make_settings(tmp_path, url, max_body_bytes=LIMIT_BYTES))

    def fail() -> None:
        raise RuntimeError("an unexpected failure (test)")

    for path in ("/test-only/fail", "/ui/test-only/fail"):
        app.add_api_route(path, fail, include_in_schema=False)
    with TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False) as client:
        yield Service(client=client, app=app, tokens=seed_users(app))


def _chunks(size: int) -> Iterator[bytes]:
    """A body with no Content-Length (sent chunked): counted as it streams."""
    for _ in range(size // 1024):
        yield b"x" * 1024


def test_a_body_over_the_limit_is_refused_privately(failing):
    inspector = failing.headers("inspector")
    oversized = b"{" + b" " * (2 * LIMIT_BYTES) + b"}"
    declared = failing.client.post(
        "/families", content=oversized, headers={**inspector, "content-type": "application/json"}
    )
    streamed = failing.client.post(
        "/families",
        content=_chunks(4 * LIMIT_BYTES),
        headers={**inspector, "content-type": "application/json"},
    )
    for answer, what in ((declared, "declared length"), (streamed, "chunked")):
        assert answer.status_code == 413, (what, answer.text)
        assert answer.json()["code"] == "body_too_large", what
        _assert_private(answer, f"JSON 413, {what}")
    page = failing.client.post("/ui/upload", content=oversized)
    assert page.status_code == 413 and page.headers["content-type"].startswith("text/html")
    _assert_private(page, "page 413")


def test_an_unexpected_failure_is_answered_privately(failing):
    api = failing.client.get("/test-only/fail")
    assert api.status_code == 500 and api.json()["code"] == "internal_error"
    assert "unexpected failure" not in api.text  # the failure stays in the log
    _assert_private(api, "JSON 500")
    page = failing.client.get("/ui/test-only/fail")
    assert page.status_code == 500 and page.headers["content-type"].startswith("text/html")
    _assert_private(page, "page 500")
