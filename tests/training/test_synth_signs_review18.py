"""Review of the synthetic sign labels: a labelled sign is one a viewer can see in the photo."""

from __future__ import annotations

import numpy as np
import pytest

from training.synth import signs
from training.synth.photos import render_photo
from training.synth.scene import Canvas
from training.synth.spec import PhotoSpec

_SIZE = 128
_MIN_PIXELS = 24 * (_SIZE / 256) ** 2  # the generator's own visibility rule at this size


def _window(seed: int, *, broken: bool) -> Canvas:
    canvas = Canvas.blank(_SIZE)
    canvas.image[:] = (180, 170, 160)  # a plain wall
    quad = np.array([[30.0, 30.0], [100.0, 34.0], [98.0, 90.0], [32.0, 94.0]])
    signs.draw_window(
        canvas,
        quad,
        np.random.default_rng(seed),
        frame=(235, 235, 230),
        broken=broken,
        curtains=None,
    )
    return canvas


@pytest.mark.parametrize("seed", range(12))
def test_the_broken_window_mask_is_the_break_not_the_whole_pane(seed):
    # The same generator state draws the same window; only the break differs.
    intact, broken = _window(seed, broken=False), _window(seed, broken=True)
    changed = np.any(intact.image != broken.image, axis=2)
    mask = broken.masks[signs.WINDOW]
    assert changed.any()
    assert not (mask & ~changed).any(), "intact glass marked as the broken window"
    assert (mask == changed).all()


@pytest.mark.parametrize("room", ["kitchen", "bedroom", "living_room", "exterior"])
def test_a_labelled_broken_window_shows_its_break_in_the_final_photo(room, monkeypatch):
    """Furniture drawn later (a kitchen's wall cabinets) may hide the break: the label then
    needs another drawing, not a glimpse of intact glass from the same pane."""
    real = signs._break_pane
    drawn: list[np.ndarray] = []

    def recording(canvas, pane, rng):
        before = canvas.image.copy()
        real(canvas, pane, rng)
        drawn.append(np.any(canvas.image != before, axis=2))

    monkeypatch.setattr(signs, "_break_pane", recording)
    for i in range(80):
        drawn.clear()
        spec = PhotoSpec(
            room=room, condition=3, signs=frozenset({"broken_window"}), style=i % 16, wear=0.3
        )
        photo = render_photo(spec, size=_SIZE, rng=np.random.default_rng([7, i]))
        visible_break = drawn[-1] & photo.sign_masks["broken_window"]
        assert visible_break.sum() >= _MIN_PIXELS, (room, i)


def test_sign_masks_are_the_same_for_the_same_seed():
    spec = PhotoSpec(
        room="kitchen",
        condition=2,
        signs=frozenset({"broken_window", "structural_damage", "damp_mould"}),
        style=5,
        wear=0.6,
    )
    a = render_photo(spec, size=_SIZE, rng=np.random.default_rng(21))
    b = render_photo(spec, size=_SIZE, rng=np.random.default_rng(21))
    assert np.array_equal(a.image, b.image)
    assert a.sign_masks.keys() == b.sign_masks.keys()
    assert all(np.array_equal(a.sign_masks[k], b.sign_masks[k]) for k in a.sign_masks)
