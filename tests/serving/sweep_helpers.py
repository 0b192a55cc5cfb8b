"""Helpers of the store-sweep tests: files aged as if written hours ago, and the commands'
serving.yaml (a fixture, on the database of the module that takes it)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.serving.helpers import serving_yaml

HOUR_NS = 3600 * 10**9


def age(path: Path, hours: float) -> None:
    then = time.time_ns() - int(hours * HOUR_NS)
    os.utime(path, ns=(then, then))


@pytest.fixture
def config(tmp_path: Path, database_url: str) -> Path:
    """serving.yaml for the commands, on the data folder and database of `service`."""
    return serving_yaml(tmp_path / "serving.yaml", tmp_path, database_url, fusion_dir="")
