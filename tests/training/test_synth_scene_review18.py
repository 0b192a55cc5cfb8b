"""Review of the synthetic drawing primitives: crack masks are the pixels the cracks drew,
the cracks around a hole included."""

from __future__ import annotations

import numpy as np
import pytest

from training.synth import signs
from training.synth.scene import Canvas

_WALL = (180, 170, 160)
_QUAD = np.array([[10.0, 12.0], [118.0, 8.0], [120.0, 116.0], [8.0, 120.0]])


def _wall() -> Canvas:
    """A 128 px canvas painted one plain wall colour."""
    canvas = Canvas.blank(128)
    canvas.image[:] = _WALL
    return canvas


@pytest.mark.parametrize("seed", range(20))
def test_a_crack_mask_is_exactly_the_pixels_the_crack_drew(seed):
    canvas = _wall()
    before = canvas.image.copy()
    signs.draw_cracks(canvas, _QUAD, np.random.default_rng(seed))
    drawn = np.any(canvas.image != before, axis=2)
    mask = canvas.masks[signs.DAMAGE]
    assert drawn.any()
    assert int((mask & ~drawn).sum()) == 0, "undrawn wall marked as a crack"
    assert np.array_equal(mask, drawn)


@pytest.mark.parametrize("seed", range(20))
def test_the_cracks_around_a_hole_are_marked_as_damage(seed, monkeypatch):
    real = signs.draw_cracks
    cracked: list[np.ndarray] = []

    def recording(canvas, quad, rng, **kwargs):
        before = canvas.image.copy()
        real(canvas, quad, rng, **kwargs)
        cracked.append(np.any(canvas.image != before, axis=2))

    monkeypatch.setattr(signs, "draw_cracks", recording)
    canvas = _wall()
    signs.draw_hole(canvas, _QUAD, np.random.default_rng(seed))
    assert len(cracked) == 1 and cracked[0].any()
    unmarked = cracked[0] & ~canvas.masks[signs.DAMAGE]
    assert int(unmarked.sum()) == 0, "the hole's cracks left out of the damage mask"


def test_crack_masks_do_not_change_what_is_drawn():
    # Marking is bookkeeping: the same seed draws the same pixels with or without a sign.
    marked, unmarked = _wall(), _wall()
    signs.draw_cracks(marked, _QUAD, np.random.default_rng(3))
    signs.draw_cracks(unmarked, _QUAD, np.random.default_rng(3), sign=None)
    assert np.array_equal(marked.image, unmarked.image)
    assert unmarked.masks == {}
