"""Page fixtures: an app with users of every role (TestClient), signed-in browser clients, apps
with a small body limit or a model that says no photo is a home, a real browser, and the live
servers that browser tests of more than one module share."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.serving.helpers import (
    PASSWORD,
    ROOT,
    Service,
    cheap_hasher,
    family_body,
    make_settings,
    small_fusion_model,
    started,
)
from tests.web import live
from tests.web.helpers import sign_in
from tests.web.live_module import live_server
from tests.web.live_module import sign_in as sign_in_page
from tests.web.too_large_helpers import LIMIT
from tests.web.upload_repeats_helpers import FAMILIES


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 at its lowest cost in tests (production keeps the library's defaults)."""
    from serving.core import security

    monkeypatch.setattr(security, "_HASHER", cheap_hasher())


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


# --- live servers that browser tests of more than one module share, one per module ---------


@pytest.fixture(scope="module")
def seeded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[live.LiveServer]:
    """A uvicorn server (tiny exported photo model with model.pt, small fusion model, SQLite)
    with the families of `live.seed` (F-101 to F-103), one per test module: a module's
    decisions stay in its own."""
    from serving.core import security
    from shanyraq.taxonomy import get_taxonomy
    from tests.vision.engine_fixtures import make_artifact

    root = tmp_path_factory.mktemp("web-live")
    settings = make_settings(
        root,
        f"sqlite:///{root / 'web.db'}",
        model_dir=make_artifact(root / "model", get_taxonomy(), seed=3),
        fusion_dir=small_fusion_model(root / "fusion", "lgbm_fused"),
        # Every test signs in through the form from 127.0.0.1, more than the shipped 10 a
        # minute; the login limits themselves are tested in tests/serving/test_ratelimit.py.
        rate_limits={"login_per_minute": 600},
    )
    with pytest.MonkeyPatch.context() as patch:  # argon2 at its lowest cost in tests
        patch.setattr(security, "_HASHER", cheap_hasher())
        running = live.start(settings)
        try:
            running.seeded = live.seed(running)
            yield running
        finally:
            running.stop()


@pytest.fixture
def seeded_signed_in(browser: Any, seeded_server: live.LiveServer) -> Iterator[Callable[..., Any]]:
    """Factory: a page of `seeded_server` in a fresh context, signed in through the form
    (keyboard only); the test fails if a page had a script error or a CSP violation."""
    contexts: list[Any] = []
    script_errors: list[str] = []  # CSP violations and script errors; failed loads are expected

    def factory(username: str, *, phone: bool = False) -> Any:
        size = {"width": 390, "height": 844} if phone else {"width": 1280, "height": 900}
        context = browser.new_context(
            viewport=size, is_mobile=phone, has_touch=phone, locale="en-GB"
        )
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: script_errors.append(str(error)))
        page.on(
            "console",
            lambda m: (
                script_errors.append(m.text)
                if m.type == "error" and "Failed to load resource" not in m.text
                else None
            ),
        )
        return sign_in_page(page, seeded_server, username)

    yield factory
    for context in contexts:
        context.close()
    assert script_errors == []


@pytest.fixture(scope="module")
def repeats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[live.LiveServer]:
    """A live server with the tiny photo model, its room head saying kitchen whatever the
    pixels, and the condition-confidence abstain off (the tiny model's condition head is
    flat): the photos it scores are usable, so a copy of one is a repeat. The families of
    upload_repeats_helpers.FAMILIES are filed; one server per test module."""
    import shutil

    import yaml

    from shanyraq.taxonomy import get_taxonomy
    from tests.vision.engine_fixtures import make_artifact
    from vision.engine import get_engine_config

    root = tmp_path_factory.mktemp("upload-repeats")
    configs = root / "configs"
    shutil.copytree(ROOT / "configs", configs)
    engine = yaml.safe_load((configs / "engine.yaml").read_text(encoding="utf-8"))
    engine["abstain"]["min_condition_probability"] = 0.0
    (configs / "engine.yaml").write_text(yaml.safe_dump(engine, sort_keys=False), "utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SHANYRAQ_CONFIGS_DIR", str(configs))
        get_engine_config.cache_clear()
        try:
            model = make_artifact(
                root / "photo", get_taxonomy(), seed=5, room_bias={"kitchen": 8.0}
            )
            with live_server(root, model_dir=model) as running:
                for family_id in FAMILIES.values():
                    created = running.api("inspector").post(
                        "/families", json=family_body(family_id)
                    )
                    assert created.status_code == 201, created.text
                yield running
        finally:
            patch.undo()
            get_engine_config.cache_clear()
