"""Helpers for the photo reuse tests: look-alike homes that only their pixels tell apart."""

from __future__ import annotations

import numpy as np

from training.synth.photos import render_photo
from training.synth.spec import PhotoSpec

# Bathrooms of one style: same layout, tiles and fittings. Seeds 6 and 27 are hash candidates
# of each other and agree on a similarity transform: only the pixels tell them apart.
LOOK_ALIKE = PhotoSpec(room="bathroom", condition=4, signs=frozenset(), style=8)


def look_alike(seed: int) -> np.ndarray:
    """A 480-pixel photo of the look-alike bathroom, rendered with `seed`."""
    return render_photo(LOOK_ALIKE, size=480, rng=np.random.default_rng(seed)).image
