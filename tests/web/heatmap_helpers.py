"""Helpers of the heat-map cache tests: a photo's SHA-256, the few services a cache path needs,
and an overlay file written where a test wants one."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

SHA = "ab" * 32


def cache_services(data_dir: Path, model_version: str | None = "v2") -> Any:
    """What serving.web.heatmaps reads of the services: the data folder, and the served photo
    model's version (None: no model), with no model folder and no engine."""
    return SimpleNamespace(
        settings=SimpleNamespace(model_dir=None, data_dir=data_dir),
        pipeline=SimpleNamespace(engine=None, model_version=model_version),
    )


def overlay(path: Path) -> Path:
    """A cached overlay (PNG-looking bytes) at `path`, its folders made; the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG an overlay of a family's home")
    return path
