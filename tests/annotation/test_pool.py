"""The experiment's pool: rendered synthetic photos, scored by a real exported model, cached."""

from __future__ import annotations

import numpy as np
import pytest

from annotation.pool import NO_GRADE, build_pool
from annotation.select import hash_distance

engine_fixtures = pytest.importorskip("tests.vision.engine_fixtures")


@pytest.mark.slow
def test_pool_holds_scores_hashes_labels_and_edited_copies(tmp_path, taxonomy):
    model = engine_fixtures.make_artifact(tmp_path / "model", taxonomy)
    pool = build_pool(
        16, seed=3, model_dir=model, work_dir=tmp_path / "work", taxonomy=taxonomy, size=96,
        duplicate_share=0.5,
    )  # fmt: skip
    assert len(pool) == 24 and pool.features.shape[0] == 24
    assert np.allclose(pool.model_room.sum(axis=1), 1, atol=1e-4)
    originals, copies = (
        np.flatnonzero(pool.duplicate_of < 0),
        np.flatnonzero(pool.duplicate_of >= 0),
    )
    assert len(originals) == 16 and len(copies) == 8
    source = pool.duplicate_of[copies]
    assert (pool.room[copies] == pool.room[source]).all()
    assert (pool.family[copies] == pool.family[source]).all()
    not_home = pool.room == taxonomy.room_names.index(taxonomy.not_dwelling)
    assert (pool.condition[not_home] == NO_GRADE).all() and (pool.condition[~not_home] >= 0).all()
    hashes = np.stack([pool.phash, pool.dhash], axis=1)
    copy_dist = [
        hash_distance(hashes[[c]], hashes[s])[0] for c, s in zip(copies, source, strict=True)
    ]
    other_dist = [
        hash_distance(hashes[[a]], hashes[b])[0] for a in originals for b in originals if a < b
    ]
    assert np.median(copy_dist) < np.median(other_dist) / 2
    cached = list((tmp_path / "work").glob("pool-*.npz"))
    assert len(cached) == 1
    again = build_pool(
        16, seed=3, model_dir=model, work_dir=tmp_path / "work", taxonomy=taxonomy, size=96,
        duplicate_share=0.5,
    )  # fmt: skip
    assert (again.features == pool.features).all()
