"""Interiors: the room box with its materials and windows, then furniture by room type.

Which sign pieces appear is decided by the spec; where and how they look is drawn from the
photo's generator, so the same labels never give the same picture twice.
"""

from __future__ import annotations

import cv2
import numpy as np

from training.synth import furniture as fx
from training.synth.config import CameraSettings
from training.synth.scene import Canvas, RoomGeometry, draw_box, sub_quad
from training.synth.signs import apply_wear, draw_damage, draw_mould, draw_window
from training.synth.styles import Style, jitter
from training.synth.textures import (
    BARE_MATERIALS,
    FLOOR_MATERIALS,
    WALL_MATERIALS,
    WET_WALL_MATERIALS,
    carpet,
    parquet,
    wallpaper,
)

WALLS = ("back", "left", "right")


def make_geometry(camera: CameraSettings, rng: np.random.Generator, size: int) -> RoomGeometry:
    width = rng.uniform(*camera.back_wall_width) * size
    height = rng.uniform(*camera.back_wall_height) * size
    cx = size / 2 + rng.uniform(*camera.shift) * size
    cy = size / 2 + rng.uniform(*camera.shift) * size * 0.6
    back = (cx - width / 2, cy - height / 2, cx + width / 2, cy + height / 2)
    vx = cx + rng.uniform(-0.3, 0.3) * width
    vy = cy + rng.uniform(-0.15, 0.25) * height
    # The camera plane must cover the whole frame, even after roll: grow until it does.
    need = max(
        (vx - 0) / (vx - back[0]),
        (size - vx) / (back[2] - vx),
        (vy - 0) / (vy - back[1]),
        (size - vy) / (back[3] - vy),
    )
    scale = need * rng.uniform(1.15, 1.4)
    return RoomGeometry(
        size=size,
        back=back,
        vanishing=(vx, vy),
        scale=float(scale),
        roll_degrees=float(rng.uniform(*camera.roll_degrees)),
    )


def _texture_for(
    surface: str,
    room: str,
    style: Style,
    rng: np.random.Generator,
    n: int,
    *,
    bare: bool,
    parquet_floor: bool,
) -> np.ndarray:
    if bare:
        material = BARE_MATERIALS[str(rng.choice(sorted(BARE_MATERIALS)))]
        return material(rng, n, n, (0, 0, 0), (0, 0, 0))
    if surface == "floor":
        if parquet_floor:
            return parquet(rng, n, n, jitter(style.floor_colour, rng), style.accent_colour)
        name = "tiles" if room == "bathroom" else style.floor_material
        return FLOOR_MATERIALS[name](
            rng, n, n, jitter(style.floor_colour, rng), jitter(style.accent_colour, rng)
        )
    if surface == "ceiling":
        return WALL_MATERIALS["paint"](
            rng, n, n, jitter(style.ceiling_colour, rng, 6), style.ceiling_colour
        )
    wet = room == "bathroom" or (room == "kitchen" and rng.random() < 0.3)
    table = WET_WALL_MATERIALS if wet else WALL_MATERIALS
    name = style.wet_wall_material if wet else style.wall_material
    return table[name](rng, n, n, jitter(style.wall_colour, rng), jitter(style.accent_colour, rng))


def draw_shell(
    canvas: Canvas,
    geo: RoomGeometry,
    room: str,
    style: Style,
    rng: np.random.Generator,
    *,
    wear: float,
    unfinished: bool,
    parquet_floor: bool,
) -> None:
    """Ceiling, floor and walls with their materials; bare surfaces mark unfinished_surfaces."""
    n = max(48, canvas.size // 2)
    bare: set[str] = set()
    if unfinished:
        k = int(rng.integers(1, 4))
        bare = set(rng.choice(["back", "left", "right", "floor"], size=k, replace=False).tolist())
    for surface in ("ceiling", "floor", "left", "right", "back"):
        is_bare = surface in bare
        tex = _texture_for(
            surface,
            room,
            style,
            rng,
            n,
            bare=is_bare,
            parquet_floor=parquet_floor and surface == "floor",
        )
        tex = apply_wear(tex, wear, rng, wall=surface in WALLS)
        quad = geo.surface(surface)
        canvas.paste_texture(tex, quad)
        if is_bare:
            canvas.mark("unfinished_surfaces", canvas.poly_mask(quad))
        if parquet_floor and surface == "floor":
            canvas.mark("premium_finishes", canvas.poly_mask(quad))


def _corner_shadows(canvas: Canvas, geo: RoomGeometry, rng: np.random.Generator) -> None:
    """Soft darkness in the corners: the look-alike of damp that a model must not call mould."""
    low = 32  # the shadows are smooth: compute them small and scale up
    yy, xx = np.mgrid[0:low, 0:low].astype(np.float32) * (canvas.size / low)
    light = np.ones((low, low), np.float32)
    corners = geo.quad([(0, 0, 1), (1, 0, 1), (0, 0, 0), (1, 0, 0)])
    for corner in corners:
        d = np.hypot(xx - corner[0], yy - corner[1]) / (canvas.size * rng.uniform(0.1, 0.25))
        light *= 1 - 0.25 * np.exp(-d * d)
    full = cv2.resize(light, (canvas.size, canvas.size), interpolation=cv2.INTER_LINEAR)
    canvas.image[:] = np.clip(canvas.image * full[..., None], 0, 255).astype(np.uint8)


def _window(
    canvas: Canvas,
    geo: RoomGeometry,
    style: Style,
    rng: np.random.Generator,
    *,
    broken: bool,
    on_side: bool,
) -> None:
    a0 = float(rng.uniform(0.1, 0.5))
    a1 = a0 + float(rng.uniform(0.25, 0.4))
    b0, b1 = float(rng.uniform(0.38, 0.5)), float(rng.uniform(0.78, 0.88))
    if on_side:
        u = 0.0 if rng.random() < 0.5 else 1.0
        quad = geo.quad([(u, a1, b1), (u, a0, b1), (u, a0, b0), (u, a1, b0)])
        if u == 1.0:
            quad = quad[[1, 0, 3, 2]]
    else:
        quad = geo.quad([(a0, 0, b1), (a1, 0, b1), (a1, 0, b0), (a0, 0, b0)])
    frame = jitter((235, 235, 230) if rng.random() < 0.6 else style.wood_colour, rng)
    curtains = jitter(style.fabric_colour, rng, 40) if rng.random() < 0.5 else None
    draw_window(canvas, quad, rng, frame=frame, broken=broken, curtains=curtains)


def _wall_rug(canvas: Canvas, geo: RoomGeometry, style: Style, rng: np.random.Generator) -> None:
    """A carpet hung on the wall, common in Kazakh homes (and never a sign by itself)."""
    a0 = float(rng.uniform(0.1, 0.45))
    quad = geo.quad([(a0, 0, 0.85), (a0 + 0.45, 0, 0.85), (a0 + 0.45, 0, 0.35), (a0, 0, 0.35)])
    tex = wallpaper(rng, 48, 64, jitter((150, 40, 40), rng, 50), jitter(style.accent_colour, rng))
    tex = carpet(rng, 48, 64, (0, 0, 0), (120, 30, 30)) * 0.3 + tex * 0.7
    canvas.paste_texture(tex, quad)


def _kitchen(
    canvas: Canvas,
    geo: RoomGeometry,
    style: Style,
    rng: np.random.Generator,
    signs: frozenset[str],
    distract: bool,
) -> None:
    start = float(rng.uniform(0.02, 0.12))
    if rng.random() < 0.6:
        draw_box(canvas, geo, (start, 0.7, 0.0, 0.1, 0.62, 0.8), jitter(style.wood_colour, rng))
    fx.counter(canvas, geo, start, 0.62, style, rng)
    fx.sink(canvas, geo, start + float(rng.uniform(0.12, 0.3)), 0.35, style.metal_colour)
    if "premium_appliances" in signs:
        if rng.random() < 0.7:
            fx.dishwasher(canvas, geo, start + 0.44)
        else:
            fx.air_conditioner(canvas, geo, float(rng.uniform(0.2, 0.6)), rng)
    if "solid_fuel_stove" in signs:
        fx.solid_fuel_stove(canvas, geo, 0.7, rng, style=style)
    else:
        fx.cooker(canvas, geo, 0.64, rng)
    if rng.random() < 0.5:
        fx.fridge(canvas, geo, 0.82, rng)
    if rng.random() < 0.5:
        fx.table(canvas, geo, (0.25, 0.6, 0.5, 0.7), jitter(style.wood_colour, rng))


def _bathroom(
    canvas: Canvas,
    geo: RoomGeometry,
    style: Style,
    rng: np.random.Generator,
    signs: frozenset[str],
    distract: bool,
) -> None:
    white = jitter((235, 235, 232), rng, 12)
    bath = draw_box(canvas, geo, (0.0, 0.45, 0.0, 0.28, 0.0, 0.22), white)
    if "top" in bath:
        canvas.poly(sub_quad(bath["top"], 0.05, 0.15, 0.95, 0.85), jitter((200, 210, 215), rng))
    u = float(rng.uniform(0.55, 0.7))
    draw_box(canvas, geo, (u, u + 0.12, 0.0, 0.06, 0.2, 0.4), white)  # cistern
    bowl = geo.point(u + 0.06, 0.16, 0.2)
    canvas.ellipse(bowl, (canvas.size * 0.045, canvas.size * 0.025), white)
    draw_box(canvas, geo, (u + 0.02, u + 0.1, 0.07, 0.17, 0.0, 0.19), white)
    canvas.ellipse(bowl, (canvas.size * 0.03, canvas.size * 0.015), (205, 210, 212))
    draw_box(canvas, geo, (0.5, 0.75, 0.0, 0.01, 0.5, 0.8), (180, 200, 215))  # mirror
    if distract:
        fx.radiator(canvas, geo, 0.78, style.metal_colour)


# Where crowded sleeping places lie, (u0, t0), back to front; those off the back wall
# (t0 > 0) are mattresses. A bedroom fills its floor with beds and mattresses; a living
# room has only low mattresses, in front of its TV stand, which stays in sight above them
# and tells the room from a bedroom.
_BEDROOM_SLOTS = ((0.02, 0.0), (0.36, 0.0), (0.7, 0.0), (0.05, 0.5), (0.5, 0.5))
_LIVING_ROOM_SLOTS = ((0.02, 0.15), (0.36, 0.15), (0.7, 0.15), (0.05, 0.55), (0.5, 0.55))


def _beds(
    canvas: Canvas,
    geo: RoomGeometry,
    style: Style,
    rng: np.random.Generator,
    *,
    crowded: bool,
    slots: tuple[tuple[float, float], ...] = _BEDROOM_SLOTS,
) -> None:
    if not crowded:
        count = int(rng.integers(1, 3))
        width = 0.3
        for i in range(count):
            u0 = 0.05 + i * 0.5 + float(rng.uniform(0, 0.08))
            fx.bed(canvas, geo, (u0, u0 + width, 0.0, 0.45), rng, style)
        return
    # Several beds and mattresses filling the floor, drawn back to front.
    count = int(rng.integers(3, 6))
    for u0, t0 in slots[:count]:
        mattress = t0 > 0 or rng.random() < 0.3
        w = 0.28 if not mattress else 0.4
        fx.bed(
            canvas,
            geo,
            (u0, min(0.98, u0 + w), t0, t0 + 0.38),
            rng,
            style,
            mattress_only=mattress,
            sign="overcrowding",
        )


def _bedroom(
    canvas: Canvas,
    geo: RoomGeometry,
    style: Style,
    rng: np.random.Generator,
    signs: frozenset[str],
    distract: bool,
) -> None:
    if "premium_appliances" in signs:
        fx.air_conditioner(canvas, geo, float(rng.uniform(0.3, 0.7)), rng)
    if "solid_fuel_stove" in signs:
        fx.solid_fuel_stove(canvas, geo, 0.02, rng, style=style)
    if rng.random() < 0.6 and "overcrowding" not in signs:
        fx.cabinet(
            canvas, geo, (0.78, 0.98, 0.0, 0.2, 0.0, 0.75), jitter(style.wood_colour, rng), rng
        )
    _beds(canvas, geo, style, rng, crowded="overcrowding" in signs)


def _living_room(
    canvas: Canvas,
    geo: RoomGeometry,
    style: Style,
    rng: np.random.Generator,
    signs: frozenset[str],
    distract: bool,
) -> None:
    if rng.random() < 0.5:
        fx.cabinet(
            canvas,
            geo,
            (0.02, 0.3, 0.0, 0.16, 0.0, 0.7),
            jitter(style.wood_colour, rng),
            rng,
            doors=3,
        )
    premium = "premium_appliances" in signs
    if premium and rng.random() < 0.4:
        fx.air_conditioner(canvas, geo, float(rng.uniform(0.05, 0.5)), rng)
        premium = rng.random() < 0.5
    stand = float(rng.uniform(0.35, 0.55))
    fx.cabinet(
        canvas, geo, (stand, stand + 0.3, 0.0, 0.14, 0.0, 0.17), jitter(style.wood_colour, rng), rng
    )
    if premium or ("premium_appliances" in signs and rng.random() < 0.5):
        fx.tv(canvas, geo, stand - 0.04, rng, premium=True, h=0.4)
    elif distract or rng.random() < 0.5:
        fx.tv(canvas, geo, stand + 0.05, rng, premium=False, h=0.17)
    if "solid_fuel_stove" in signs:
        fx.solid_fuel_stove(canvas, geo, 0.78, rng, style=style)
    if "overcrowding" in signs:
        _beds(canvas, geo, style, rng, crowded=True, slots=_LIVING_ROOM_SLOTS)
        return
    fx.sofa(canvas, geo, 0.15, 0.6, 0.45, jitter(style.fabric_colour, rng))
    if rng.random() < 0.5:
        fx.table(canvas, geo, (0.3, 0.55, 0.72, 0.82), jitter(style.wood_colour, rng), 0.12)


_COMPOSERS = {
    "kitchen": _kitchen,
    "bathroom": _bathroom,
    "bedroom": _bedroom,
    "living_room": _living_room,
}


def draw_interior(
    canvas: Canvas,
    *,
    room: str,
    signs: frozenset[str],
    style: Style,
    wear: float,
    camera: CameraSettings,
    distract: bool,
    rng: np.random.Generator,
) -> None:
    geo = make_geometry(camera, rng, canvas.size)
    finishes = set()
    if "premium_finishes" in signs:
        options = ["chandelier", "stretched", "moulding", "parquet"]
        k = int(rng.integers(1, 3))
        finishes = set(rng.choice(options, size=k, replace=False).tolist())
    draw_shell(
        canvas,
        geo,
        room,
        style,
        rng,
        wear=wear,
        unfinished="unfinished_surfaces" in signs,
        parquet_floor="parquet" in finishes,
    )
    if "stretched" in finishes:
        fx.stretched_ceiling(canvas, geo.surface("ceiling"), rng)
    if "moulding" in finishes:
        fx.moulding(canvas, geo, rng)
    if distract:
        _corner_shadows(canvas, geo, rng)
    if room in ("bedroom", "living_room") and rng.random() < 0.4:
        _wall_rug(canvas, geo, style, rng)
    walls = {name: geo.surface(name) for name in WALLS}
    if "damp_mould" in signs:
        draw_mould(canvas, {**walls, "ceiling": geo.surface("ceiling")}, rng)
    if "structural_damage" in signs:
        draw_damage(canvas, walls, rng, geo.surface("floor"))
    has_window = room != "bathroom" or rng.random() < 0.3
    if has_window or "broken_window" in signs:
        _window(
            canvas, geo, style, rng, broken="broken_window" in signs, on_side=rng.random() < 0.4
        )
    _COMPOSERS[room](canvas, geo, style, rng, signs, distract)
    if room != "bathroom" or "premium_finishes" in signs:
        fx.ceiling_lamp(canvas, geo, rng, chandelier="chandelier" in finishes)
