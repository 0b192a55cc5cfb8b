"""Furniture and fixtures as perspective boxes with details, including the sign-bearing ones.

Ordinary pieces (cooker, radiator, small boxy TV, plain lamp, one or two beds) are the
look-alikes of the sign pieces (solid-fuel stove, large flat TV, chandelier, crowded beds).
"""

from __future__ import annotations

import itertools

import numpy as np

from training.synth.scene import Canvas, RoomGeometry, draw_box, face_point, shade, sub_quad
from training.synth.styles import Style, jitter
from training.synth.textures import Colour

Extent = tuple[float, float, float, float, float, float]
STOVE, APPLIANCES, FINISHES, CROWDING = (
    "solid_fuel_stove",
    "premium_appliances",
    "premium_finishes",
    "overcrowding",
)
_WHITE: Colour = (228, 228, 224)
_DARK: Colour = (28, 28, 32)


def _sign_line(
    canvas: Canvas, a: np.ndarray, b: np.ndarray, colour: Colour, width: float, sign: str
) -> None:
    """A line that is part of a sign: the pixels it changed are the sign's, and no other's.

    A polygon drawn around the line would mark pixels the line never reached (or miss
    pixels of a line wider than it at large sizes), so the change itself is the mask.
    """
    before = canvas.image.copy()
    canvas.line(a, b, colour, width)
    drawn = np.any(canvas.image != before, axis=2)
    canvas.occlude(drawn)
    canvas.mark(sign, drawn)


def cabinet(
    canvas: Canvas,
    geo: RoomGeometry,
    ext: Extent,
    colour: Colour,
    rng: np.random.Generator,
    *,
    doors: int = 2,
) -> dict[str, np.ndarray]:
    faces = draw_box(canvas, geo, ext, colour)
    front = faces.get("front")
    if front is not None:
        for i in range(1, doors):
            canvas.line(
                face_point(front, i / doors, 0.05),
                face_point(front, i / doors, 0.95),
                shade(colour, 0.6),
            )
        for i in range(doors):
            knob = face_point(front, (i + 0.5) / doors + 0.12 / doors, 0.3)
            canvas.ellipse(knob, (1.5, 1.5), shade(colour, 0.5))
    return faces


def counter(
    canvas: Canvas, geo: RoomGeometry, u0: float, u1: float, style: Style, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    colour = jitter(style.wood_colour if rng.random() < 0.5 else style.accent_colour, rng)
    faces = cabinet(
        canvas, geo, (u0, u1, 0.0, 0.18, 0.0, 0.33), colour, rng, doors=max(1, round((u1 - u0) * 8))
    )
    draw_box(canvas, geo, (u0, u1, 0.0, 0.19, 0.33, 0.35), jitter((200, 195, 185), rng, 30))
    return faces


def sink(canvas: Canvas, geo: RoomGeometry, u: float, h: float, metal: Colour) -> None:
    basin = geo.quad(
        [(u - 0.07, 0.04, h), (u + 0.07, 0.04, h), (u + 0.07, 0.15, h), (u - 0.07, 0.15, h)]
    )
    canvas.poly(basin, shade(metal, 0.75))
    canvas.line(geo.point(u, 0.02, h), geo.point(u, 0.02, h + 0.08), metal, 2.0)
    canvas.line(geo.point(u, 0.02, h + 0.08), geo.point(u, 0.07, h + 0.08), metal, 2.0)


def cooker(canvas: Canvas, geo: RoomGeometry, u: float, rng: np.random.Generator) -> None:
    """An ordinary gas or electric cooker: the neat look-alike of a solid-fuel stove."""
    colour = jitter(_WHITE if rng.random() < 0.6 else (150, 150, 150), rng)
    faces = draw_box(canvas, geo, (u, u + 0.14, 0.0, 0.18, 0.0, 0.34), colour)
    if "front" in faces:
        canvas.poly(sub_quad(faces["front"], 0.12, 0.3, 0.88, 0.9), shade(colour, 0.45))
    for a, b in ((0.3, 0.3), (0.7, 0.3), (0.3, 0.7), (0.7, 0.7)):
        p = face_point(
            geo.quad(
                [(u, 0.0, 0.34), (u + 0.14, 0.0, 0.34), (u + 0.14, 0.18, 0.34), (u, 0.18, 0.34)]
            ),
            a,
            b,
        )
        canvas.ellipse(p, (2.5, 1.4), _DARK)


def solid_fuel_stove(
    canvas: Canvas, geo: RoomGeometry, u: float, rng: np.random.Generator, *, style: Style
) -> None:
    """A brick or iron stove with a firebox door, hot plates and a chimney pipe up."""
    brick = rng.random() < 0.5
    body = (
        (float(rng.uniform(140, 190)), float(rng.uniform(70, 110)), 60.0)
        if brick
        else (float(rng.uniform(30, 75)),) * 3
    )
    width = float(rng.uniform(0.14, 0.22))
    h1 = float(rng.uniform(0.3, 0.45))
    faces = draw_box(canvas, geo, (u, u + width, 0.02, 0.2, 0.0, h1), body, sign=STOVE)
    if "front" in faces:
        door = sub_quad(faces["front"], 0.25, 0.35, 0.75, 0.7)
        canvas.poly(door, _DARK, sign=STOVE)
        if rng.random() < 0.5:  # glow of the fire
            canvas.poly(sub_quad(door, 0.2, 0.3, 0.8, 0.8), (230, 120, 40), sign=STOVE)
    pipe = (float(rng.uniform(40, 150)),) * 3
    pu = u + width / 2
    top = float(rng.uniform(0.8, 1.0))
    draw_box(canvas, geo, (pu - 0.018, pu + 0.018, 0.06, 0.1, h1, top), pipe, sign=STOVE)
    if top < 1.0:  # the pipe turns into the wall
        draw_box(canvas, geo, (pu - 0.018, pu + 0.018, 0.0, 0.1, top - 0.04, top), pipe, sign=STOVE)
    if rng.random() < 0.5:  # a bucket of coal or a few logs beside it
        side = u + width + 0.02
        faces = draw_box(canvas, geo, (side, side + 0.06, 0.1, 0.16, 0.0, 0.1), (70, 70, 75))
        if "top" in faces:
            canvas.poly(faces["top"], (20, 20, 22))


def radiator(canvas: Canvas, geo: RoomGeometry, u: float, metal: Colour) -> None:
    faces = draw_box(canvas, geo, (u, u + 0.2, 0.0, 0.03, 0.1, 0.25), metal)
    if "front" in faces:
        for i in range(1, 8):
            canvas.line(
                face_point(faces["front"], i / 8, 0.05),
                face_point(faces["front"], i / 8, 0.95),
                shade(metal, 0.7),
            )


def fridge(canvas: Canvas, geo: RoomGeometry, u: float, rng: np.random.Generator) -> None:
    colour = jitter(_WHITE, rng, 20)
    faces = draw_box(canvas, geo, (u, u + 0.15, 0.0, 0.18, 0.0, 0.68), colour)
    if "front" in faces:
        canvas.line(
            face_point(faces["front"], 0.0, 0.35),
            face_point(faces["front"], 1.0, 0.35),
            shade(colour, 0.6),
        )
        canvas.line(
            face_point(faces["front"], 0.85, 0.1),
            face_point(faces["front"], 0.85, 0.3),
            shade(colour, 0.5),
            2.0,
        )


def dishwasher(canvas: Canvas, geo: RoomGeometry, u: float) -> None:
    steel = (196, 200, 205)
    faces = draw_box(canvas, geo, (u, u + 0.12, 0.0, 0.185, 0.0, 0.32), steel, sign=APPLIANCES)
    if "front" in faces:
        canvas.poly(sub_quad(faces["front"], 0.0, 0.0, 1.0, 0.14), _DARK, sign=APPLIANCES)
        canvas.line(
            face_point(faces["front"], 0.2, 0.22),
            face_point(faces["front"], 0.8, 0.22),
            (120, 120, 125),
            2.0,
        )


def tv(
    canvas: Canvas,
    geo: RoomGeometry,
    u: float,
    rng: np.random.Generator,
    *,
    premium: bool,
    h: float,
) -> None:
    """Large flat wall TV (premium) or the small boxy set that is its look-alike."""
    if premium:
        width = float(rng.uniform(0.3, 0.45))
        height = width * float(rng.uniform(0.5, 0.6))
        faces = draw_box(
            canvas, geo, (u, u + width, 0.0, 0.015, h, h + height), (18, 18, 20), sign=APPLIANCES
        )
        screen = sub_quad(faces["front"], 0.03, 0.05, 0.97, 0.95)
        red, green, blue = (float(c) for c in rng.uniform(20, 120, 3))
        glow = (red, green, blue)
        canvas.poly(screen, glow, sign=APPLIANCES)
        canvas.line(face_point(screen, 0.1, 0.9), face_point(screen, 0.5, 0.1), shade(glow, 1.5))
    else:
        width = float(rng.uniform(0.1, 0.16))
        faces = draw_box(
            canvas,
            geo,
            (u, u + width, 0.02, 0.14, h, h + width * 0.9),
            jitter((60, 60, 60), rng, 30),
        )
        if "front" in faces:
            canvas.poly(sub_quad(faces["front"], 0.1, 0.1, 0.75, 0.85), (40, 55, 50))


def air_conditioner(canvas: Canvas, geo: RoomGeometry, u: float, rng: np.random.Generator) -> None:
    h = float(rng.uniform(0.78, 0.86))
    faces = draw_box(
        canvas, geo, (u, u + 0.22, 0.0, 0.05, h, h + 0.09), (236, 238, 240), sign=APPLIANCES
    )
    if "front" in faces:
        canvas.line(
            face_point(faces["front"], 0.05, 0.75),
            face_point(faces["front"], 0.95, 0.75),
            (150, 150, 155),
            1.5,
        )
        led = face_point(faces["front"], 0.9, 0.3)
        canvas.ellipse(led, (1.2, 1.2), (60, 200, 90), sign=APPLIANCES)


def bed(
    canvas: Canvas,
    geo: RoomGeometry,
    ext: tuple[float, float, float, float],
    rng: np.random.Generator,
    style: Style,
    *,
    mattress_only: bool = False,
    sign: str | None = None,
) -> None:
    """A bed (frame, mattress, pillow, blanket) or a bare mattress on the floor."""
    u0, u1, t0, t1 = ext
    top = 0.06 if mattress_only else 0.14
    if not mattress_only:
        draw_box(
            canvas, geo, (u0, u1, t0, t1, 0.0, 0.09), jitter(style.wood_colour, rng), sign=sign
        )
        draw_box(
            canvas,
            geo,
            (u0, u1, t0, t0 + 0.03, 0.0, 0.3),
            jitter(style.wood_colour, rng),
            sign=sign,
        )
    base = 0.0 if mattress_only else 0.09
    sheet = jitter((215, 212, 205), rng, 25)
    draw_box(canvas, geo, (u0 + 0.01, u1 - 0.01, t0 + 0.03, t1, base, top), sheet, sign=sign)
    blanket = jitter(style.fabric_colour, rng, 60)
    mid = t0 + 0.03 + (t1 - t0) * float(rng.uniform(0.3, 0.5))
    draw_box(canvas, geo, (u0, u1, mid, t1 + 0.01, base, top + 0.01), blanket, sign=sign)
    draw_box(
        canvas,
        geo,
        (u0 + 0.03, u1 - 0.03, t0 + 0.04, t0 + 0.09, top, top + 0.04),
        (238, 236, 230),
        sign=sign,
    )


def sofa(canvas: Canvas, geo: RoomGeometry, u0: float, u1: float, t: float, colour: Colour) -> None:
    draw_box(canvas, geo, (u0, u1, t, t + 0.05, 0.0, 0.36), shade(colour, 0.9))
    draw_box(canvas, geo, (u0, u1, t + 0.05, t + 0.22, 0.0, 0.17), colour)
    draw_box(canvas, geo, (u0 - 0.03, u0, t, t + 0.22, 0.0, 0.24), shade(colour, 0.85))
    draw_box(canvas, geo, (u1, u1 + 0.03, t, t + 0.22, 0.0, 0.24), shade(colour, 0.85))


def table(
    canvas: Canvas,
    geo: RoomGeometry,
    ext: tuple[float, float, float, float],
    colour: Colour,
    height: float = 0.26,
) -> None:
    u0, u1, t0, t1 = ext
    for u, t in ((u0, t0), (u1 - 0.015, t0), (u0, t1 - 0.015), (u1 - 0.015, t1 - 0.015)):
        draw_box(canvas, geo, (u, u + 0.015, t, t + 0.015, 0.0, height), shade(colour, 0.7))
    draw_box(
        canvas, geo, (u0 - 0.01, u1 + 0.01, t0 - 0.01, t1 + 0.01, height, height + 0.02), colour
    )


def ceiling_lamp(
    canvas: Canvas, geo: RoomGeometry, rng: np.random.Generator, *, chandelier: bool
) -> None:
    """A plain pendant (look-alike) or a chandelier with arms and crystals (premium)."""
    u, t = float(rng.uniform(0.35, 0.65)), float(rng.uniform(0.3, 0.6))
    anchor = geo.point(u, t, 1.0)
    drop = float(rng.uniform(0.1, 0.2))
    hub = geo.point(u, t, 1.0 - drop)
    canvas.line(anchor, hub, (60, 60, 60), 1.0)
    scale = float(np.linalg.norm(geo.point(u + 0.1, t, 0.9) - geo.point(u, t, 0.9)))
    if not chandelier:
        shade_colour = jitter((235, 225, 200), rng, 30)
        canvas.ellipse(hub, (scale * 0.45, scale * 0.25), shade_colour)
        return
    gold = (float(rng.uniform(190, 235)), float(rng.uniform(160, 200)), 90.0)
    arms = int(rng.integers(5, 9))
    canvas.ellipse(hub, (scale * 0.2, scale * 0.2), gold, sign=FINISHES)
    for k in range(arms):
        angle = 2 * np.pi * k / arms
        tip = hub + scale * np.array([1.3 * np.cos(angle), 0.35 * np.sin(angle) + 0.2])
        _sign_line(canvas, hub, tip, gold, 1.5, FINISHES)
        canvas.ellipse(tip, (scale * 0.12, scale * 0.16), (250, 248, 225), sign=FINISHES)
        for drop_y in (0.3, 0.55):
            canvas.ellipse(
                tip + np.array([0, scale * drop_y]), (1.2, 1.8), (235, 240, 250), sign=FINISHES
            )


def moulding(canvas: Canvas, geo: RoomGeometry, rng: np.random.Generator) -> None:
    """A cornice along the ceiling and framed wall panels: premium finishes."""
    tone = (float(rng.uniform(225, 250)),) * 3
    band = float(rng.uniform(0.04, 0.07))
    for corners in (
        [(0, 0, 1), (1, 0, 1), (1, 0, 1 - band), (0, 0, 1 - band)],
        [(0, 1, 1), (0, 0, 1), (0, 0, 1 - band), (0, 1, 1 - band)],
        [(1, 0, 1), (1, 1, 1), (1, 1, 1 - band), (1, 0, 1 - band)],
    ):
        quad = geo.quad(corners)
        canvas.poly(quad, tone, sign=FINISHES)
        _sign_line(canvas, quad[3], quad[2], shade(tone, 0.7), 1.0, FINISHES)
    if rng.random() < 0.6:
        for a in (0.08, 0.55):
            panel = geo.quad([(a, 0, 0.6), (a + 0.37, 0, 0.6), (a + 0.37, 0, 0.35), (a, 0, 0.35)])
            frame = np.vstack([panel, panel[:1]])
            for p, q in itertools.pairwise(frame):
                _sign_line(canvas, p, q, shade(tone, 0.85), 2.0, FINISHES)


def stretched_ceiling(canvas: Canvas, ceiling: np.ndarray, rng: np.random.Generator) -> None:
    """A glossy stretched ceiling: tinted, a bright reflection band and recessed spot lights."""
    tint = rng.uniform([215, 205, 190], [252, 250, 252])
    base = (float(tint[0]), float(tint[1]), float(tint[2]))
    canvas.poly(ceiling, shade(base, 0.92), sign=FINISHES)
    canvas.poly(sub_quad(ceiling, 0.2, 0.15, 0.6, 0.95), base, sign=FINISHES)
    band = float(rng.uniform(0.3, 0.6))
    canvas.poly(sub_quad(ceiling, 0.1, band, 0.9, band + 0.07), (255, 255, 255), sign=FINISHES)
    spot = canvas.size * 0.012
    for a in np.linspace(0.15, 0.85, int(rng.integers(3, 6))):
        for b in (0.3, 0.75):
            centre = face_point(ceiling, float(a), b)
            canvas.ellipse(centre, (spot * 1.6, spot), (120, 120, 125), sign=FINISHES)
            canvas.ellipse(centre, (spot, spot * 0.6), (255, 250, 215), sign=FINISHES)
