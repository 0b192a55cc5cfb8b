"""Augmentation pipelines: every registered one builds strictly, is seeded, keeps the size."""

from __future__ import annotations

import numpy as np
import pytest

from shanyraq.config import get_settings
from shanyraq.errors import ConfigError
from training.augment import NO_AUGMENT, build_pipeline, list_pipelines


@pytest.mark.parametrize("name", [n for n in list_pipelines() if n != NO_AUGMENT])
def test_pipeline_builds_is_seeded_and_keeps_shape(name):
    rgb = np.random.default_rng(0).integers(0, 256, size=(40, 40, 3), dtype=np.uint8)
    pipeline = build_pipeline(name, seed=1)
    assert pipeline is not None
    outs = []
    for _ in range(2):
        pipeline.set_seed(7)
        outs.append([pipeline(rgb) for _ in range(4)])
    assert all(np.array_equal(a, b) for a, b in zip(*outs, strict=True))
    assert all(o.shape == rgb.shape and o.dtype == np.uint8 for o in outs[0])
    assert any(not np.array_equal(o, rgb) for o in outs[0])


def test_each_transform_draws_from_its_own_seed():
    # albumentations' set_random_seed gives every transform the same seed; ours must not.
    pipeline = build_pipeline("phone", seed=0)
    assert pipeline is not None
    pipeline.set_seed(11)
    firsts = [t.py_random.random() for t in pipeline.compose.transforms]
    assert len(set(firsts)) == len(firsts) > 1


def test_none_means_no_augmentation():
    assert build_pipeline(NO_AUGMENT) is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("  - name: GaussNoise\n    params: {stdrange: [0.1, 0.2]}\n", "not valid"),
        ("  - name: NoSuchThing\n", "not an albumentations transform"),
    ],
)
def test_bad_pipeline_fails_when_built(tmp_path, monkeypatch, body, message):
    (tmp_path / "augment").mkdir()
    (tmp_path / "augment" / "bad.yaml").write_text(f"name: bad\ntransforms:\n{body}")
    monkeypatch.setenv("SHANYRAQ_CONFIGS_DIR", str(tmp_path))
    get_settings.cache_clear()
    with pytest.raises(ConfigError, match=message):
        build_pipeline("bad")
    with pytest.raises(ConfigError, match="unknown augmentation pipeline"):
        build_pipeline("missing")
    get_settings.cache_clear()
