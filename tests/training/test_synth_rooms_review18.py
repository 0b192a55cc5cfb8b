"""Review of the synthetic room drawing: every room keeps the cues that tell it apart."""

from __future__ import annotations

import numpy as np
import pytest

from training.synth import furniture as fx
from training.synth import rooms
from training.synth.config import get_synth_config
from training.synth.scene import Canvas
from training.synth.styles import make_style

_SIZE = 192
_CUE = "living_room_cue"  # a pseudo sign: pixels of the living room's own furniture


def _marking(draw):
    """Wrap a furniture drawer so that the pixels it changes are marked as a cue.

    Whatever is drawn later over them (beds, mattresses) unmarks them, as for a sign.
    """

    def wrapped(canvas: Canvas, *args, **kwargs):
        before = canvas.image.copy()
        out = draw(canvas, *args, **kwargs)
        canvas.mark(_CUE, np.any(canvas.image != before, axis=2))
        return out

    return wrapped


def _living_room_cue_share(monkeypatch, signs: frozenset[str], seeds: range) -> np.ndarray:
    """For each seed, the share of the frame where the sofa, TV or cabinets stay in sight."""
    for name in ("sofa", "tv", "cabinet"):
        monkeypatch.setattr(rooms.fx, name, _marking(getattr(fx, name)))
    camera = get_synth_config().camera
    shares = []
    for seed in seeds:
        canvas = Canvas.blank(_SIZE)
        rooms.draw_interior(
            canvas,
            room="living_room",
            signs=signs,
            style=make_style(seed % 16),
            wear=0.3,
            camera=camera,
            distract=False,
            rng=np.random.default_rng(seed),
        )
        assert signs <= set(canvas.masks), "a sign was not drawn at all"
        cue = canvas.masks.get(_CUE, np.zeros((1, 1), bool))
        shares.append(cue.sum() / _SIZE**2)
    return np.asarray(shares)


@pytest.mark.parametrize("signs", [frozenset(), frozenset({"overcrowding"})])
def test_a_living_room_shows_its_own_furniture_even_when_crowded(monkeypatch, signs):
    # Crowding used to replace the sofa with rows of beds that also hid the TV stand: four
    # in ten crowded living rooms showed under 1% living-room furniture and could not be
    # told from a crowded bedroom.
    shares = _living_room_cue_share(monkeypatch, signs, range(24))
    assert np.mean(shares < 0.01) <= 0.1, np.round(np.sort(shares), 3)
    assert np.median(shares) >= 0.012, np.round(np.sort(shares), 3)  # was 0.005 when crowded


def test_a_crowded_living_room_still_draws_crowding_visibly():
    camera = get_synth_config().camera
    sizes = []
    for seed in range(16):
        canvas = Canvas.blank(_SIZE)
        rooms.draw_interior(
            canvas,
            room="living_room",
            signs=frozenset({"overcrowding"}),
            style=make_style(seed % 16),
            wear=0.3,
            camera=camera,
            distract=False,
            rng=np.random.default_rng(seed),
        )
        sizes.append(int(canvas.masks["overcrowding"].sum()))
    # At least two sleeping places' worth of pixels, in every render (24 px at 256 is the
    # renderer's own minimum; crowding should be far above it).
    assert min(sizes) >= 0.02 * _SIZE**2, sizes
