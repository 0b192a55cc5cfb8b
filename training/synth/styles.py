"""Visual styles: a style id fixes palettes, materials and furniture shapes for every room.

A style is a deterministic function of its id (never of the signs), so a model cannot read
a sign from the style, and a held-out style measures how well it generalises.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np

from training.synth.textures import FLOOR_MATERIALS, WALL_MATERIALS, WET_WALL_MATERIALS, Colour

_STYLE_SEED = 7_700


@dataclass(frozen=True)
class Style:
    """What a style decides; per-photo jitter is added on top by the renderer."""

    ident: int
    wall_material: str
    wet_wall_material: str
    floor_material: str
    wall_colour: Colour
    accent_colour: Colour
    floor_colour: Colour
    ceiling_colour: Colour
    wood_colour: Colour
    fabric_colour: Colour
    metal_colour: Colour
    facade_colour: Colour
    roof_colour: Colour
    rounded: bool  # furniture with round details (legs, knobs) vs boxy
    light_warmth: float  # -1 cool .. 1 warm


def _hsv(h: float, s: float, v: float) -> Colour:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0.0), 1.0), min(max(v, 0.0), 1.0))
    return (r * 255.0, g * 255.0, b * 255.0)


def make_style(ident: int) -> Style:
    rng = np.random.default_rng(_STYLE_SEED + ident)
    hue = (ident * 0.61803 + rng.uniform(0, 0.1)) % 1.0  # styles spread over the colour wheel
    pick = lambda names: str(rng.choice(sorted(names)))  # noqa: E731
    return Style(
        ident=ident,
        wall_material=pick(WALL_MATERIALS),
        wet_wall_material=pick(WET_WALL_MATERIALS),
        floor_material=pick(FLOOR_MATERIALS),
        wall_colour=_hsv(hue, rng.uniform(0.05, 0.45), rng.uniform(0.62, 0.95)),
        accent_colour=_hsv(
            hue + rng.uniform(0.3, 0.7), rng.uniform(0.1, 0.6), rng.uniform(0.3, 0.85)
        ),
        floor_colour=_hsv(rng.uniform(0.02, 0.12), rng.uniform(0.2, 0.7), rng.uniform(0.3, 0.75)),
        ceiling_colour=_hsv(hue, rng.uniform(0.0, 0.08), rng.uniform(0.85, 0.98)),
        wood_colour=_hsv(rng.uniform(0.04, 0.11), rng.uniform(0.3, 0.75), rng.uniform(0.25, 0.8)),
        fabric_colour=_hsv(rng.uniform(0, 1), rng.uniform(0.15, 0.7), rng.uniform(0.3, 0.85)),
        metal_colour=_hsv(0.6, rng.uniform(0.0, 0.08), rng.uniform(0.7, 0.95)),
        facade_colour=_hsv(rng.uniform(0, 1), rng.uniform(0.05, 0.35), rng.uniform(0.55, 0.92)),
        roof_colour=_hsv(
            rng.choice([0.0, 0.33, 0.6, 0.08]), rng.uniform(0.1, 0.6), rng.uniform(0.25, 0.6)
        ),
        rounded=bool(rng.random() < 0.5),
        light_warmth=float(rng.uniform(-1, 1)),
    )


def jitter(colour: Colour, rng: np.random.Generator, amount: float = 14.0) -> Colour:
    """The same style in another home: colours move a little."""
    shift = rng.uniform(-amount, amount, 3)
    return (
        float(np.clip(colour[0] + shift[0], 0, 255)),
        float(np.clip(colour[1] + shift[1], 0, 255)),
        float(np.clip(colour[2] + shift[2], 0, 255)),
    )
