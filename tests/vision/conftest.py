"""Fixtures shared by the vision tests."""

from __future__ import annotations

import pytest

from vision import providers


@pytest.fixture
def fresh_probe():
    """The provider probe and device count measured anew for the test, and after it."""
    providers.probe.cache_clear()
    providers.cuda_device_count.cache_clear()
    yield
    providers.probe.cache_clear()
    providers.cuda_device_count.cache_clear()
