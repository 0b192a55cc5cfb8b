"""Shared fixtures: the taxonomy, and small images the tests make themselves."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")


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
