"""Page fixtures: an app with users of every role (TestClient), signed-in browser clients, apps
with a small body limit or a model that says no photo is a home, and a real browser."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.serving.helpers import PASSWORD, Service, started
from tests.web import live
from tests.web.helpers import sign_in
from tests.web.too_large_helpers import LIMIT


def _cheap_hasher() -> Any:
    from argon2 import PasswordHasher

    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 at its lowest cost in tests (production keeps the library's defaults)."""
    from serving.core import security

    monkeypatch.setattr(security, "_HASHER", _cheap_hasher())


@pytest.fixture
def web(tmp_path: Path) -> Iterator[Service]:
    """A started app on SQLite with one user per role in two regions (no photo model)."""
    with started(tmp_path) as service:
        yield service


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[Service]:
    """A started app whose body limit is too_large_helpers.LIMIT."""
    with started(tmp_path, max_body_bytes=LIMIT) as service:
        yield service


@pytest.fixture(scope="module")
def not_home_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model whose room head says not_dwelling for every photo (the engine abstains)."""
    from shanyraq.taxonomy import get_taxonomy
    from tests.vision.engine_fixtures import make_artifact

    taxonomy = get_taxonomy()
    folder = tmp_path_factory.mktemp("model")
    return make_artifact(folder, taxonomy, room_bias={taxonomy.not_dwelling: 10.0}, seed=4)


@pytest.fixture
def not_home_service(tmp_path: Path, not_home_model: Path) -> Iterator[Service]:
    """A started app scoring with `not_home_model`."""
    with started(tmp_path, model_dir=not_home_model) as service:
        yield service


@pytest.fixture
def browser_for(web: Service) -> Callable[[str], Any]:
    """Factory: a fresh client (its own cookie jar) signed in through the form as `username`."""
    from fastapi.testclient import TestClient

    def factory(username: str) -> Any:
        client = TestClient(web.app, base_url="http://127.0.0.1")  # shares the started app
        answer = sign_in(client, username, PASSWORD)
        assert answer.status_code == 303, answer.text
        return client

    return factory


# --- a real browser (Debian's Chromium through Playwright), one per test session ----------
# Playwright's sync API allows one instance per thread, so every file that drives a browser
# shares this one.


@pytest.fixture(scope="session")
def chromium() -> str:
    problem = live.ensure_chromium()
    if problem:
        pytest.skip(problem)
    return str(live.CHROMIUM)


@pytest.fixture(scope="session")
def browser(chromium: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    # launch() gives every run a fresh, throw-away user-data dir (never the user's profile).
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=live.CHROMIUM_ARGS
        )
        yield instance
        instance.close()
