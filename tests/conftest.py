"""Shared fixtures: the taxonomy, and small images the tests make themselves."""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image

from tests.library_once_helpers import (
    alembic_scripts_read_once,
    fastapi_signatures_read_once,
    fastapi_type_adapters_made_once,
    typer_parameters_read_once,
)
from tests.local_zone_helpers import host_time_zone
from tests.playwright_leftovers_helpers import playwright_leftovers_unlogged
from tests.plots_once_helpers import no_data_plots_drawn_once
from tests.unordered_rows_helpers import unordered_rows_reversed

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

# Fixtures that test modules of more than one folder share (pytest reads this list only here,
# in the conftest.py at the top of the tests).
pytest_plugins = [
    "tests.serving.database_fixtures",
    # Fixtures of several modules of tests/serving (a conftest.py below this one cannot register
    # a module); a module that defines a fixture of the same name still has its own.
    "tests.serving.audit_fixtures",
    "tests.serving.backup_helpers",
    "tests.serving.family_flag_helpers",
    "tests.serving.openapi_fixtures",
    "tests.serving.refresh_scene",
    "tests.serving.repeat_photos",  # before repeat_helpers, which imports it
    "tests.serving.repeat_helpers",
    "tests.serving.report_helpers",
    "tests.serving.rescore_fixtures",  # before the next three, which import it
    "tests.serving.rescore_helpers",  # before rescore_store_helpers, which imports it
    "tests.serving.promote_helpers",
    "tests.serving.rescore_store_helpers",
    "tests.serving.sweep_helpers",
    "tests.web.heatmap_model_fixtures",
    "tests.web.fusion_model_fixtures",
    # TEST_ORDER_SEED=SEED: files and their tests in an order drawn from SEED (opt-in).
    "tests.shuffled_order",
]


# Library internals the tests would otherwise redo for every app they start or command they run.
fastapi_signatures_read_once()
fastapi_type_adapters_made_once()
alembic_scripts_read_once()
typer_parameters_read_once()
# The oversight page's "no data" plot, drawn once per process for the same title, words, size.
no_data_plots_drawn_once()
# Unordered queries' rows come back reversed on SQLite: no listing may lean on the row order.
unordered_rows_reversed()
# Local time far from UTC and the display zone: no time may come from the host's clock.
host_time_zone()
# asyncio's reports of Playwright tasks destroyed while pending stay out of the tests' logs.
playwright_leftovers_unlogged()


@pytest.fixture(autouse=True)
def _no_browser_loop_outside_browser_tests(request: pytest.FixtureRequest) -> Iterator[None]:
    """Hide the browser's event loop from tests that do not drive the browser.

    The session's Playwright instance (tests/web/conftest.py `browser`) keeps its event loop
    marked running on the main thread for the rest of the session: its sync API suspends the
    loop's run inside a greenlet. A later test of the same process that runs a loop of its own
    (asyncio.run) was refused with "cannot be called from a running event loop", depending on
    the order tests were dealt to the process. Such a test runs with no loop marked running;
    the browser's is marked again after it, for the browser tests to come."""
    browser_loop = asyncio.events._get_running_loop()
    if browser_loop is None or "browser" in request.fixturenames:
        yield
        return
    asyncio.events._set_running_loop(None)
    try:
        yield
    finally:
        asyncio.events._set_running_loop(browser_loop)


@pytest.fixture(scope="session")
def taxonomy():
    from shanyraq.taxonomy import load_taxonomy

    return load_taxonomy()


def image_bytes(
    fmt: str = "JPEG", size: tuple[int, int] = (64, 48), seed: int = 0, **save
) -> bytes:
    """A small textured RGB image encoded as `fmt` (so decoders have real work to do)."""
    rng = np.random.default_rng(seed)
    width, height = size
    gradient = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    noise = rng.integers(0, 40, size=(height, width, 3)).astype(np.float32)
    pixels = np.clip(gradient + noise, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt, **save)
    return buffer.getvalue()


@pytest.fixture
def make_image():
    return image_bytes


@pytest.fixture
def max_bytes(monkeypatch):
    """Sets io.max_bytes through its env override for one test; returns the setter."""
    from shanyraq.config import get_settings

    def set_limit(limit: int) -> None:
        monkeypatch.setenv("SHANYRAQ_IO__MAX_BYTES", str(limit))
        get_settings.cache_clear()

    yield set_limit
    get_settings.cache_clear()  # monkeypatch (torn down after this) restores the env


@pytest.fixture
def record_fsyncs(monkeypatch):
    """Records every os.fsync from now on: record(moved) -> the list of (the flushed file or
    folder, what moved() said then) it fills, each fsync still done."""
    import os

    def record(moved):
        synced: list[tuple[str, bool]] = []
        fsync = os.fsync

        def recording(fd: int) -> None:
            synced.append((os.readlink(f"/proc/self/fd/{fd}"), moved()))
            fsync(fd)

        monkeypatch.setattr(os, "fsync", recording)
        return synced

    return record
