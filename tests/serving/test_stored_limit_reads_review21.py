"""Review 21: reads of stored originals other than the image and heat-map routes decode them
under the stored-photo limit (io.stored_max_pixels, serving.storage.stored_limit), not
today's upload limit. A photo filed under a higher io.max_pixels is re-scored by a Ray actor,
and verified on its pixels by the reuse index built at start-up, after the limit is lowered."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import update

from benchmarks.quality_curves import scenes
from serving.db.models import Photo
from serving.db.session import session_scope
from serving.rescore_ray_actor import ScoreBatch
from tests.serving.rescore_ray_helpers import actor_kwargs, stored_batch
from tests.serving.rescore_store_helpers import photo_outcomes, rescore_stored, stored_service

LOWERED = 5_000  # below the 96 x 72 photos the re-scoring fixtures file


def test_a_ray_actor_scores_a_photo_filed_under_a_higher_limit(tmp_path: Path, model: Path):
    """The driver hands its actors today's io.max_pixels. Before: each photo filed under the
    old limit was recorded as failed, 'too large', though the evidence is fine."""
    batch = stored_batch(tmp_path, 2)  # 96 x 72: filed under the default limit
    actor = ScoreBatch(**actor_kwargs(tmp_path, model, "cpu") | {"max_pixels": LOWERED})
    rows = actor(batch)
    assert rows["photo_id"] == [10, 11]
    assert rows["error"] == [None, None], rows["error"]
    assert all(score is not None for score in rows["score"])


def _jpeg(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_reuse_index_verifies_photos_filed_under_a_higher_limit(
    service, restart, lower_pixel_limit
):
    """F1 and F2 filed two different rooms whose reuse hashes read the same (forced below), so
    only the pixels tell them apart. After the limit is lowered and the service restarted, the
    index built at start-up could no longer read the stored pixels: the hash alone decided and
    flagged F1's photo as F2's."""
    rooms = scenes(2, seed=3, width=640)  # 0.3 MP each (tests/vision/test_reuse.py)
    service.create_family("F1")
    service.create_family("F2")
    ids = []
    for family, room in zip(("F1", "F2"), rooms, strict=True):
        answer = service.upload(family, _jpeg(room))
        assert answer.status_code == 201, answer.text
        assert not answer.json()["reuse"]["reused"], answer.text
        ids.append(answer.json()["photo_id"])
    with session_scope(service.services.sessions) as session:
        first = session.get(Photo, ids[0])
        assert first is not None and first.perceptual_hash
        session.execute(
            update(Photo).where(Photo.id == ids[1]).values(perceptual_hash=first.perceptual_hash)
        )

    lower_pixel_limit(100_000)  # 0.1 MP: new uploads of such photos are refused
    again = restart(service)
    assert again.services.reuse is not None and len(again.services.reuse) == 2
    shown = again.client.get(f"/photos/{ids[0]}", headers=again.headers("commission"))
    assert shown.status_code == 200, shown.text
    assert shown.json()["reuse"]["reused"] is False, shown.json()["reuse"]


def test_rescore_scores_photos_filed_under_a_higher_limit(
    tmp_path: Path, model: Path, lower_pixel_limit
):
    """`shanyraq rescore` after io.max_pixels was lowered. Before: every photo filed under the
    old limit got the outcome failed, 'over the limit ...; send a smaller photo'."""
    config, stored = stored_service(tmp_path, 3)  # 96 x 72 photos
    lower_pixel_limit(LOWERED)
    result = rescore_stored(model, config)
    assert result.exit_code == 0, result.output
    outcomes = photo_outcomes(stored.url)
    assert outcomes == {i: (True, None) for i in stored.ids}, outcomes
