"""A live server for one test module's browser tests, and pages signed in through its form."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.serving.helpers import PASSWORD, make_settings, small_fusion_model
from tests.web import live

# A browser context's locale for each page language.
LOCALES = {"en": "en-GB", "ru": "ru-RU", "kk": "kk-KZ"}


@contextmanager
def live_server(root: Path, *, models: bool = False, **overrides: Any) -> Iterator[live.LiveServer]:
    """A started server on SQLite in `root`, stopped afterwards.

    `models`: a tiny photo model (signs, heat maps) and a small fusion model, with the
    families of `live.seed`. Sign-in through the form is not rate limited here: the tests
    of the limits are in tests/serving/test_ratelimit.py.
    """
    if models:
        from shanyraq.taxonomy import get_taxonomy
        from tests.vision.engine_fixtures import make_artifact

        overrides = {
            "model_dir": make_artifact(root / "model", get_taxonomy(), seed=3),
            "fusion_dir": small_fusion_model(root / "fusion", "lgbm_fused"),
            **overrides,
        }
    overrides.setdefault("rate_limits", {"login_per_minute": 600})
    running = live.start(make_settings(root, f"sqlite:///{root / 'web.db'}", **overrides))
    try:
        if models:
            running.seeded = live.seed(running)
        yield running
    finally:
        running.stop()


def signed_in_page(context: Any, server: live.LiveServer, username: str) -> Any:
    """A new page of `context`, signed in as `username` through the sign-in form."""
    return sign_in(context.new_page(), server, username)


def sign_in(page: Any, server: live.LiveServer, username: str) -> Any:
    """`page`, signed in as `username` through the sign-in form (the keyboard submits it)."""
    page.goto(f"{server.url}/ui/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")
    page.wait_for_load_state()
    assert "/ui/login" not in page.url, f"{username} could not sign in"
    return page


def measured(
    browser: Any,
    server: live.LiveServer,
    path: str,
    *,
    language: str,
    viewport: dict[str, int],
    scripts: list[Any],
    username: str = "admin_national",
) -> list[Any]:
    """What each of `scripts` (JavaScript, or a (JavaScript, argument) pair) returns on `path`
    in `language`, opened by `username` in a new context of `viewport` and the language's
    locale; the context is closed afterwards."""
    context = browser.new_context(viewport=viewport, locale=LOCALES[language])
    try:
        page = signed_in_page(context, server, username)
        page.goto(f"{server.url}{path}?lang={language}")
        return [page.evaluate(*s) if isinstance(s, tuple) else page.evaluate(s) for s in scripts]
    finally:
        context.close()
