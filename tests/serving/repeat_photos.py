"""Helpers of the tests of a family's photo sent again: copies of a photo with other bytes, a
photo of a room, the service with a photo model that finds every photo usable (fixtures), and
a photo's view."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.serving.helpers import Service


def encoded(pixels: np.ndarray, *, quality: int = 90, kind: str = "JPEG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(
        buffer, format=kind, **({"quality": quality} if kind == "JPEG" else {})
    )
    return buffer.getvalue()


def decoded(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def _half(pixels: np.ndarray) -> np.ndarray:
    height, width = pixels.shape[:2]
    return np.asarray(Image.fromarray(pixels).resize((width // 2, height // 2), Image.LANCZOS))


# The photo as first sent (JPEG, quality 90) -> the copy sent later: other bytes, one photo.
COPIES: dict[str, Callable[[bytes], bytes]] = {
    "re-encoded": lambda sent: encoded(decoded(sent), quality=60),
    "resized": lambda sent: encoded(_half(decoded(sent)), quality=80),
    "screenshot": lambda sent: encoded(decoded(sent), kind="PNG"),
}


def photo_view(service: Service, photo_id: int, who: str = "commission") -> dict[str, Any]:
    """GET /photos/{photo_id} as the test user of role `who` (it answers 200)."""
    answer = service.client.get(f"/photos/{photo_id}", headers=service.headers(who))
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


@pytest.fixture(scope="module")
def room() -> bytes:
    """A photo of a room (a rendered scene, 1024 px wide), as first sent."""
    from benchmarks.quality_curves import scenes

    return encoded(scenes(1, seed=21, width=1024)[0])


@pytest.fixture(scope="module")
def photo_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny photo model, its room head saying kitchen whatever the pixels: the photos it
    scores are usable ones, so a copy of one is a repeat."""
    from shanyraq.taxonomy import get_taxonomy
    from tests.vision.engine_fixtures import make_artifact

    root = tmp_path_factory.mktemp("models")
    return make_artifact(root / "photo", get_taxonomy(), seed=5, room_bias={"kitchen": 8.0})


@pytest.fixture
def scored(make_service: Any, photo_model: Path, edit_config: Any) -> Iterator[Service]:
    """The service with the photo model, the condition-confidence abstain off (configs/
    engine.yaml allows 0: the tiny model's condition head is flat), so its photos are used."""
    from vision.engine import get_engine_config

    edit_config("engine.yaml", lambda d: d["abstain"].update(min_condition_probability=0.0))
    get_engine_config.cache_clear()
    yield make_service(model_dir=photo_model)
    get_engine_config.cache_clear()
