"""The small real fusion model that the statements tests in tests/web and the family-page tests
in tests/serving assess with (registered for both by tests/conftest.py); each folder's `web`
serves it where its tests need it."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def fusion_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small real fusion model (LightGBM, 40 trees, 400 generated families)."""
    from tests.serving.helpers import small_fusion_model

    return small_fusion_model(tmp_path_factory.mktemp("fusion"))
