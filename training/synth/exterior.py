"""Exteriors: sky, ground, a house front with roof, windows and door, a fence and the yard."""

from __future__ import annotations

import numpy as np

from training.synth.scene import Canvas, face_point, shade, sub_quad
from training.synth.signs import apply_wear, draw_damage, draw_mould, draw_window
from training.synth.styles import Style, jitter
from training.synth.textures import BARE_MATERIALS, WALL_MATERIALS, noise, planks


def _sky_and_ground(canvas: Canvas, rng: np.random.Generator, horizon: int) -> None:
    s = canvas.size
    top = rng.uniform([90, 140, 200], [170, 200, 250])
    bottom = top * 0.6 + 255 * 0.4
    ramp = np.linspace(0, 1, horizon, dtype=np.float32)[:, None, None]
    canvas.image[:horizon] = (top * (1 - ramp) + bottom * ramp).astype(np.uint8)
    ground = [(95, 130, 60), (120, 105, 80), (225, 228, 232), (140, 125, 95)]
    colour = np.asarray(ground[int(rng.integers(len(ground)))], np.float32)
    tex = colour * (1 + 0.12 * noise(rng, s - horizon, s, smooth=False))[..., None]
    canvas.image[horizon:] = np.clip(tex, 0, 255).astype(np.uint8)


def _front(rng: np.random.Generator, s: int, horizon: int) -> np.ndarray:
    x0 = rng.uniform(0.05, 0.3) * s
    x1 = x0 + rng.uniform(0.5, 0.75) * s
    y1 = horizon + rng.uniform(0.05, 0.15) * s
    y0 = y1 - rng.uniform(0.35, 0.5) * s
    skew = rng.uniform(-0.08, 0.08) * s  # a slightly oblique view
    return np.array(
        [[x0, y0 - skew * 0.3], [x1, y0 + skew * 0.3], [x1, y1 + skew * 0.2], [x0, y1 - skew * 0.2]]
    )


def draw_exterior(
    canvas: Canvas,
    *,
    signs: frozenset[str],
    style: Style,
    wear: float,
    distract: bool,
    rng: np.random.Generator,
) -> None:
    horizon = int(canvas.size * rng.uniform(0.5, 0.68))
    _sky_and_ground(canvas, rng, horizon)
    front = _front(rng, canvas.size, horizon)
    roof = _facade(canvas, front, style, rng, wear=wear, bare="unfinished_surfaces" in signs)
    if "damp_mould" in signs:
        draw_mould(canvas, {"front": front}, rng)
    if "structural_damage" in signs:
        draw_damage(canvas, {"front": front}, rng, sub_quad(front, 0, 0.9, 1, 1.1))
    _openings(canvas, front, style, rng, broken="broken_window" in signs)
    _wall_units(
        canvas, front, rng, air_conditioners="premium_appliances" in signs, distract=distract
    )
    if "solid_fuel_stove" in signs:
        _chimney(canvas, front, roof, rng)
    _fence(canvas, style, rng, horizon)


def _facade(
    canvas: Canvas,
    front: np.ndarray,
    style: Style,
    rng: np.random.Generator,
    *,
    wear: float,
    bare: bool,
) -> np.ndarray:
    """The house front (bare masonry when unfinished) and its roof; returns the roof."""
    s, n = canvas.size, max(48, canvas.size // 2)
    if bare:
        name = str(rng.choice(sorted(BARE_MATERIALS)))
        tex = BARE_MATERIALS[name](rng, n, n, (0, 0, 0), (0, 0, 0))
    else:
        tex = WALL_MATERIALS[str(rng.choice(["paint", "plaster"]))](
            rng, n, n, jitter(style.facade_colour, rng), style.accent_colour
        )
        if rng.random() < 0.3:  # siding: horizontal boards
            tex = planks(rng, n, n, jitter(style.facade_colour, rng), style.accent_colour)
            tex = np.ascontiguousarray(np.transpose(tex, (1, 0, 2)))
    canvas.paste_texture(apply_wear(tex, wear, rng, wall=True), front)
    if bare:
        canvas.mark("unfinished_surfaces", canvas.poly_mask(front))
    overhang = s * rng.uniform(0.02, 0.06)
    peak = front[0] + (front[1] - front[0]) * rng.uniform(0.4, 0.6)
    peak = peak - np.array([0, s * rng.uniform(0.1, 0.2)])
    roof = np.array([front[0] + [-overhang, 0], peak, front[1] + [overhang, 0]])
    canvas.poly(roof, jitter(style.roof_colour, rng))
    return roof


def _openings(
    canvas: Canvas, front: np.ndarray, style: Style, rng: np.random.Generator, *, broken: bool
) -> None:
    windows = int(rng.integers(1, 4))
    broken_at = int(rng.integers(windows)) if broken else -1
    door_at = float(rng.uniform(0.05, 0.85))
    frame = jitter((235, 235, 230) if rng.random() < 0.6 else style.wood_colour, rng)
    for i in range(windows):
        a0 = (i + 0.2) / windows
        quad = sub_quad(front, a0, 0.25, a0 + 0.55 / windows, 0.65)
        draw_window(canvas, quad, rng, frame=frame, broken=i == broken_at, curtains=None)
    canvas.poly(sub_quad(front, door_at, 0.45, door_at + 0.1, 1.0), jitter(style.wood_colour, rng))


def _wall_units(
    canvas: Canvas,
    front: np.ndarray,
    rng: np.random.Generator,
    *,
    air_conditioners: bool,
    distract: bool,
) -> None:
    """Air-conditioner units (premium appliances) or, as a look-alike, a satellite dish."""
    s = canvas.size
    if air_conditioners:
        for _ in range(int(rng.integers(1, 3))):
            a, b = rng.uniform(0.05, 0.8), rng.uniform(0.05, 0.2)
            unit = sub_quad(front, a, b, a + 0.14, b + 0.14)
            canvas.poly(unit, (232, 234, 236), sign="premium_appliances")
            centre = face_point(unit, 0.4, 0.5)
            canvas.ellipse(centre, (s * 0.018, s * 0.018), (90, 90, 95), sign="premium_appliances")
    elif distract:
        p = face_point(front, rng.uniform(0.1, 0.9), 0.15)
        canvas.ellipse(p, (s * 0.03, s * 0.035), (200, 200, 205))


def _chimney(canvas: Canvas, front: np.ndarray, roof: np.ndarray, rng: np.random.Generator) -> None:
    """A stove pipe out of the wall or roof, smoke, and a heap of coal or logs in the yard."""
    s = canvas.size
    x = float(rng.uniform(front[0][0] + 0.1 * s, front[1][0] - 0.1 * s))
    base_y = float(front[0][1] + (front[1][1] - front[0][1]) * 0.5 - rng.uniform(0, 0.08) * s)
    w = s * 0.02
    pipe = np.array(
        [[x - w, base_y - s * 0.2], [x + w, base_y - s * 0.2], [x + w, base_y], [x - w, base_y]]
    )
    canvas.poly(pipe, (float(rng.uniform(40, 110)),) * 3, sign="solid_fuel_stove")
    for k in range(int(rng.integers(2, 5))):
        c = np.array([x + k * s * 0.03, base_y - s * (0.24 + 0.05 * k)])
        grey = float(rng.uniform(150, 210))
        canvas.ellipse(
            c, (s * (0.025 + 0.01 * k), s * 0.02), (grey, grey, grey), sign="solid_fuel_stove"
        )
    heap = front[3] + np.array([rng.uniform(-0.05, 0.1) * s, s * 0.08])
    colour = (25.0, 25.0, 28.0) if rng.random() < 0.5 else (120.0, 80.0, 45.0)
    canvas.ellipse(heap, (s * 0.07, s * 0.03), colour, sign="solid_fuel_stove")


def _fence(canvas: Canvas, style: Style, rng: np.random.Generator, horizon: int) -> None:
    if rng.random() < 0.35:
        return
    s = canvas.size
    top = horizon + s * rng.uniform(0.12, 0.25)
    bottom = top + s * rng.uniform(0.12, 0.2)
    colour = jitter(style.wood_colour if rng.random() < 0.6 else (150, 150, 155), rng)
    step = s * rng.uniform(0.03, 0.06)
    gap = rng.random() < 0.6
    x = -step * rng.uniform(0, 1)
    while x < s:
        width = step * (0.7 if gap else 1.0)
        canvas.poly(
            np.array([[x, top], [x + width, top], [x + width, bottom], [x, bottom]]),
            shade(colour, float(rng.uniform(0.85, 1.1))),
        )
        x += step
