"""Drawing the signs that sit on surfaces: damp and mould, structural damage, windows, wear.

Each drawer varies colour, size, shape and position, and marks exactly the pixels it
changed in the canvas's mask for that sign (heat-map checks compare against these masks).
"""

from __future__ import annotations

import cv2
import numpy as np

from training.synth.scene import Canvas, clipped_box, face_point, shade, sub_quad, unit_rect
from training.synth.textures import BARE_MATERIALS, Colour, noise

DAMP, DAMAGE, WINDOW = "damp_mould", "structural_damage", "broken_window"
_MOULD_COLOURS: list[Colour] = [
    (38, 46, 34),
    (55, 55, 50),
    (82, 66, 40),
    (70, 78, 52),
    (25, 25, 28),
    (120, 104, 62),
]


def _warp_alpha(alpha: np.ndarray, quad: np.ndarray, size: int) -> np.ndarray:
    h, w = alpha.shape
    matrix = cv2.getPerspectiveTransform(unit_rect(w, h), quad.astype(np.float32))
    return cv2.warpPerspective(alpha, matrix, (size, size), flags=cv2.INTER_LINEAR)


def _blend(canvas: Canvas, alpha: np.ndarray, colour: Colour, sign: str | None) -> None:
    img = canvas.image.astype(np.float32)
    a = alpha[..., None]
    canvas.image[:] = np.clip(img * (1 - a) + np.asarray(colour, np.float32) * a, 0, 255)
    mask = alpha > 0.25
    if sign is not None:
        canvas.mark(sign, mask)


def draw_mould(
    canvas: Canvas,
    surfaces: dict[str, np.ndarray],
    rng: np.random.Generator,
    *,
    sign: str | None = DAMP,
    strength: float = 1.0,
) -> None:
    """Blotches spreading from a corner or edge, with darker tide marks and speckle."""
    names = sorted(surfaces)
    for _ in range(int(rng.integers(1, 3))):
        quad = surfaces[str(rng.choice(names))]
        n = 72
        yy, xx = np.mgrid[0:n, 0:n].astype(np.float32) / n
        cx = float(rng.choice([0.0, 1.0, rng.uniform(0.2, 0.8)]))
        cy = float(rng.choice([0.0, 0.0, 1.0]))
        radius = float(rng.uniform(0.4, 0.85))
        dist = np.hypot((xx - cx) * rng.uniform(0.7, 1.4), yy - cy) / radius
        field = (
            1.0 - dist + 0.3 * noise(rng, n, n, smooth=True) + 0.12 * noise(rng, n, n, smooth=False)
        )
        alpha = np.clip((field - 0.2) * 3.0, 0, 1) * float(rng.uniform(0.55, 0.9)) * strength
        rim = np.abs(field - 0.25) < 0.04  # tide mark at the edge of the damp patch
        alpha[rim] = np.minimum(1.0, alpha[rim] + 0.35 * strength)
        colour = _MOULD_COLOURS[int(rng.integers(len(_MOULD_COLOURS)))]
        _blend(canvas, _warp_alpha(alpha, quad, canvas.size), colour, sign)


def _crack_path(rng: np.random.Generator, start: np.ndarray, length: float) -> np.ndarray:
    angle = float(rng.uniform(0, 2 * np.pi))
    steps = int(rng.integers(6, 14))
    turns = np.cumsum(rng.normal(0, 0.55, steps)) + angle
    seg = length / steps
    moves = np.stack([np.cos(turns), np.sin(turns)], axis=1) * seg
    return np.vstack([start, start + np.cumsum(moves, axis=0)])


def draw_cracks(
    canvas: Canvas, quad: np.ndarray, rng: np.random.Generator, *, sign: str | None = DAMAGE
) -> None:
    colour = (float(rng.uniform(15, 70)),) * 3
    width = float(rng.uniform(0.8, 1.8))
    before = canvas.image.copy()  # the mask is what the cracks changed, not a wider line
    for _ in range(int(rng.integers(1, 4))):
        start = face_point(quad, rng.uniform(0.1, 0.9), rng.uniform(0.0, 0.6))
        path = _crack_path(rng, start, canvas.size * rng.uniform(0.1, 0.28))
        branch = _crack_path(rng, path[len(path) // 2], canvas.size * rng.uniform(0.05, 0.15))
        for line in (path, branch):
            pts = np.round(line).astype(np.int32).reshape(-1, 1, 2)
            cv2.polylines(canvas.image, [pts], False, colour, canvas.lw(width), cv2.LINE_AA)
    if sign is not None:
        canvas.mark(sign, np.any(canvas.image != before, axis=2))


def _blob_polygon(rng: np.random.Generator, centre: np.ndarray, radius: float) -> np.ndarray:
    k = int(rng.integers(7, 13))
    angles = np.sort(rng.uniform(0, 2 * np.pi, k))
    radii = radius * rng.uniform(0.55, 1.0, k)
    return centre + np.stack([np.cos(angles) * radii, np.sin(angles) * radii * 0.8], axis=1)


def draw_hole(canvas: Canvas, quad: np.ndarray, rng: np.random.Generator) -> None:
    """A hole or fallen plaster: an irregular patch showing brick or darkness, with a rim."""
    centre = face_point(quad, rng.uniform(0.15, 0.85), rng.uniform(0.1, 0.75))
    radius = canvas.size * float(rng.uniform(0.04, 0.11))
    outer = _blob_polygon(rng, centre, radius * 1.15)
    inner = _blob_polygon(rng, centre, radius)
    canvas.poly(outer, (float(rng.uniform(170, 220)),) * 3, sign=DAMAGE)
    if rng.random() < 0.5:
        canvas.poly(inner, (float(rng.uniform(10, 45)),) * 3, sign=DAMAGE)
    else:  # fallen plaster: the masonry behind shows through
        box = clipped_box(inner, canvas.size)
        x0, y0, x1, y1 = box or (0, 0, 0, 0)
        if x1 - x0 > 2 and y1 - y0 > 2:
            tex = BARE_MATERIALS["brick"](rng, int(y1 - y0), int(x1 - x0), (0, 0, 0), (0, 0, 0))
            region = np.zeros(canvas.image.shape[:2], bool)
            region[y0:y1, x0:x1] = canvas.poly_mask(inner)[y0:y1, x0:x1]
            patch = np.clip(tex, 0, 255).astype(np.uint8)
            canvas.image[y0:y1, x0:x1][region[y0:y1, x0:x1]] = patch[region[y0:y1, x0:x1]]
            canvas.mark(DAMAGE, region)
    draw_cracks(canvas, sub_quad(quad, 0.0, 0.0, 1.0, 1.0), rng)


def draw_damage(
    canvas: Canvas, surfaces: dict[str, np.ndarray], rng: np.random.Generator, floor: np.ndarray
) -> None:
    names = sorted(surfaces)
    kind = int(rng.integers(3))
    quad = surfaces[str(rng.choice(names))]
    if kind == 0:
        draw_cracks(canvas, quad, rng)
        draw_cracks(canvas, surfaces[str(rng.choice(names))], rng)
    else:
        draw_hole(canvas, quad, rng)
        if kind == 2:  # rubble on the floor
            for _ in range(int(rng.integers(4, 10))):
                p = face_point(floor, rng.uniform(0.05, 0.95), rng.uniform(0.0, 0.4))
                r = canvas.size * float(rng.uniform(0.006, 0.02))
                canvas.poly(
                    _blob_polygon(rng, p, r), (float(rng.uniform(140, 210)),) * 3, sign=DAMAGE
                )


def draw_window(
    canvas: Canvas,
    quad: np.ndarray,
    rng: np.random.Generator,
    *,
    frame: Colour,
    broken: bool,
    curtains: Colour | None,
) -> None:
    """A window with panes; broken: cracked glass, a missing shard, film or a board."""
    canvas.poly(quad, frame)
    panes = int(rng.integers(1, 4))
    sky_top = np.array([rng.uniform(90, 170), rng.uniform(140, 200), rng.uniform(200, 250)])
    pane_quads = []
    for i in range(panes):
        pq = sub_quad(quad, (i + 0.08) / panes, 0.07, (i + 0.92) / panes, 0.93)
        pane_quads.append(pq)
        canvas.poly(pq, tuple(sky_top))
        lower = sub_quad(pq, 0, 0.55, 1, 1)
        canvas.poly(lower, tuple(sky_top * 0.75 + 40))  # distant ground or trees
        if rng.random() < 0.5:  # a reflection: a light stripe, not a crack
            a = rng.uniform(0.1, 0.6)
            canvas.line(face_point(pq, a, 0.05), face_point(pq, a + 0.3, 0.6), (235, 240, 245), 2.0)
    if broken:
        _break_pane(canvas, pane_quads[int(rng.integers(panes))], rng)
    if curtains is not None:  # drawn last: they hide (and unmark) part of a broken pane
        left = sub_quad(quad, -0.12, -0.05, 0.18, 1.05)
        right = sub_quad(quad, 0.82, -0.05, 1.12, 1.05)
        canvas.poly(left, curtains)
        canvas.poly(right, curtains)


def _break_pane(canvas: Canvas, pane: np.ndarray, rng: np.random.Generator) -> None:
    # The label rests on the break, not on the whole pane: where furniture drawn later hides
    # the crack or shard, what is left of the pane is intact glass and must not pass as a
    # visible broken window (the visibility check in photos.py counts these pixels).
    before = canvas.image.copy()
    kind = int(rng.integers(4))
    hit = face_point(pane, rng.uniform(0.25, 0.75), rng.uniform(0.25, 0.75))
    span = float(np.linalg.norm(pane[2] - pane[0]))
    if kind == 0:  # star crack radiating from the impact
        colour = (float(rng.uniform(200, 255)),) * 3 if rng.random() < 0.5 else (40, 40, 45)
        for angle in rng.uniform(0, 2 * np.pi, int(rng.integers(6, 12))):
            end = hit + span * rng.uniform(0.25, 0.6) * np.array([np.cos(angle), np.sin(angle)])
            canvas.line(hit, end, colour, 1.2)
        canvas.ellipse(hit, (span * 0.12, span * 0.1), colour, thickness=1)
    elif kind == 1:  # missing shard: the dark room behind shows through a jagged hole
        canvas.poly(_blob_polygon(rng, hit, span * 0.3), (float(rng.uniform(10, 60)),) * 3)
    elif kind == 2:  # plastic film: milky, wrinkled, taped at the edges
        milk = (float(rng.uniform(190, 235)),) * 3
        canvas.poly(pane, shade(milk, 1.0))
        for _ in range(int(rng.integers(3, 7))):
            a, b = rng.uniform(0, 1, 2)
            canvas.line(face_point(pane, a, 0), face_point(pane, b, 1), shade(milk, 0.8), 1.0)
        tape = (float(rng.uniform(150, 200)), float(rng.uniform(130, 170)), 90.0)
        canvas.poly(sub_quad(pane, 0, 0, 1, 0.08), tape)
    else:  # a board nailed over the glass
        wood = (float(rng.uniform(110, 170)), float(rng.uniform(80, 120)), 60.0)
        top = rng.uniform(0.0, 0.5)
        canvas.poly(sub_quad(pane, -0.05, top, 1.05, top + rng.uniform(0.3, 0.5)), wood)
    canvas.mark(WINDOW, np.any(canvas.image != before, axis=2))


def apply_wear(
    texture: np.ndarray, wear: float, rng: np.random.Generator, *, wall: bool
) -> np.ndarray:
    """General wear in texture space: dirt near the floor, scuffs and stains (fading: `fade`)."""
    if wear <= 0.02:
        return texture
    h, w = texture.shape[:2]
    out = texture
    if wall:
        ramp = np.clip((np.arange(h, dtype=np.float32) / h - 0.7) / 0.3, 0, 1)
        out *= (1 - 0.3 * wear * ramp)[:, None, None]
    blotch = noise(rng, h, w, smooth=True)
    out *= (1 - 0.12 * wear * np.clip(blotch, 0, None))[..., None]
    for _ in range(int(wear * 10)):
        y, x = int(rng.integers(h)), int(rng.integers(w))
        cv2.line(
            out,
            (x, y),
            (x + int(rng.integers(-6, 7)), y + int(rng.integers(-2, 3))),
            tuple(float(c) * 0.7 for c in out[y, x]),
            1,
        )
    return out


def fade(image: np.ndarray, wear: float) -> np.ndarray:
    """Worn homes look faded: colours pulled toward a dull grey (float32 in and out)."""
    if wear <= 0.02:
        return image
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[..., None]
    mix = 0.35 * wear
    return image * (1 - mix) + (grey * 0.9 + 12) * mix
