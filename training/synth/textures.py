"""Surface materials as vectorised NumPy textures (float32 RGB 0..255), in texture space.

Noise comes from a small bank made once per process with a fixed seed; each call cuts a
window at an offset drawn from the caller's generator, so output depends only on that rng.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import cv2
import numpy as np

Colour = tuple[float, float, float]
Texture = np.ndarray  # float32 (H, W, 3)
_BANK_SIZE = 256
_BANK_SEED = 20240611


@lru_cache(maxsize=1)
def _bank() -> tuple[np.ndarray, np.ndarray]:
    """(smooth, fine) noise fields, zero mean, unit-ish spread, shape (4, 256, 256)."""
    rng = np.random.default_rng(_BANK_SEED)
    smooth = np.stack(
        [
            cv2.resize(
                rng.standard_normal((cells, cells)).astype(np.float32),
                (_BANK_SIZE, _BANK_SIZE),
                interpolation=cv2.INTER_CUBIC,
            )
            for cells in (4, 6, 9, 14)
        ]
    )
    fine = rng.standard_normal((4, _BANK_SIZE, _BANK_SIZE)).astype(np.float32)
    smooth.setflags(write=False)  # shared by every later call in the process
    fine.setflags(write=False)
    return smooth, fine


def noise(rng: np.random.Generator, h: int, w: int, *, smooth: bool) -> np.ndarray:
    """A (h, w) float32 noise window; smooth=True gives low-frequency blotches.

    Up to the bank's size it is a read-only view of the shared bank: copy it to write to it.
    """
    if h < 0 or w < 0:
        raise ValueError(f"noise: a window cannot have a negative size, got {h} x {w}")
    fields = _bank()[0 if smooth else 1]
    if h > _BANK_SIZE or w > _BANK_SIZE:  # large images: stretch a full window
        base = noise(rng, min(h, _BANK_SIZE), min(w, _BANK_SIZE), smooth=smooth)
        if base.size == 0:  # OpenCV cannot resize an empty image
            return np.zeros((h, w), np.float32)
        return cv2.resize(base, (w, h), interpolation=cv2.INTER_LINEAR)
    k = int(rng.integers(len(fields)))
    y = _offset(rng, _BANK_SIZE - h + 1)
    x = _offset(rng, _BANK_SIZE - w + 1)
    window = fields[k, y : y + h, x : x + w]
    return window[::-1] if rng.random() < 0.5 else window


def _offset(rng: np.random.Generator, choices: int) -> int:
    """A window offset in 0..choices-1, always taking one draw from rng.

    rng.integers(1) takes none, so a full-bank window (a 256 px photo's sensor grain or
    ground, a 512 px photo's wall textures) would shift the stream, and everything drawn
    after it would differ from the same seed's scene at other sizes.
    """
    return int(rng.integers(max(choices, 2))) % choices


@lru_cache(maxsize=16)
def _igrid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices (int), shared read-only between calls."""
    yy, xx = np.mgrid[0:h, 0:w]
    yy.setflags(write=False)
    xx.setflags(write=False)
    return yy, xx


@lru_cache(maxsize=16)
def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = (g.astype(np.float32) for g in _igrid(h, w))
    yy.setflags(write=False)
    xx.setflags(write=False)
    return yy, xx


def _fill(h: int, w: int, colour: Colour) -> Texture:
    return np.broadcast_to(np.asarray(colour, np.float32), (h, w, 3)).copy()


def _shade(tex: Texture, amount: np.ndarray) -> Texture:
    return tex * (1.0 + amount[..., None])


def paint(rng: np.random.Generator, h: int, w: int, base: Colour, accent: Colour) -> Texture:
    return _shade(_fill(h, w, base), 0.05 * noise(rng, h, w, smooth=True))


def plaster(rng: np.random.Generator, h: int, w: int, base: Colour, accent: Colour) -> Texture:
    tex = _shade(_fill(h, w, base), 0.04 * noise(rng, h, w, smooth=True))
    return _shade(tex, 0.025 * noise(rng, h, w, smooth=False))


def wallpaper(rng: np.random.Generator, h: int, w: int, base: Colour, accent: Colour) -> Texture:
    yy, xx = _grid(h, w)
    period = float(rng.uniform(6, 16))
    kind = int(rng.integers(4))
    if kind == 0:  # stripes
        pattern = (np.sin(xx * 2 * np.pi / period) > 0.3).astype(np.float32)
    elif kind == 1:  # dots
        pattern = (np.sin(xx * 2 * np.pi / period) * np.sin(yy * 2 * np.pi / period)) > 0.6
        pattern = pattern.astype(np.float32)
    elif kind == 2:  # diamonds
        d = np.abs(np.sin(xx * np.pi / period)) + np.abs(np.sin(yy * np.pi / period))
        pattern = (d < 0.5).astype(np.float32)
    else:  # flowery blotches, the dark ones look a little like mould (a distractor)
        blob = noise(rng, h, w, smooth=False)
        blob = cv2.GaussianBlur(blob, (0, 0), 1.5)
        pattern = ((blob + 0.8 * np.sin(yy * 2 * np.pi / period)) > 0.9).astype(np.float32)
    strength = float(rng.uniform(0.35, 0.8))
    mix = (strength * pattern)[..., None]
    tex = _fill(h, w, base) * (1 - mix) + np.asarray(accent, np.float32) * mix
    return _shade(tex, 0.04 * noise(rng, h, w, smooth=True))


def tiles(rng: np.random.Generator, h: int, w: int, base: Colour, accent: Colour) -> Texture:
    step = int(rng.integers(8, 22))
    yy, xx = _igrid(h, w)
    grout = ((yy % step) < 1) | ((xx % step) < 1)
    cell = (yy // step) * 31 + (xx // step) * 17
    jitter = (np.sin(cell * 12.9898) * 0.04).astype(np.float32)
    tex = _shade(_fill(h, w, base), jitter)
    if rng.random() < 0.3:  # checkerboard
        check = ((yy // step + xx // step) % 2 == 1)[..., None]
        tex = np.where(check, tex * 0.5 + np.asarray(accent, np.float32) * 0.5, tex)
    grout_colour = np.asarray(accent, np.float32) * 0.5 + 90
    tex[grout] = grout_colour
    return tex


def planks(rng: np.random.Generator, h: int, w: int, base: Colour, accent: Colour) -> Texture:
    """Plain planks (laminate, boards, wood panels): also the look-alike of parquet."""
    width = int(rng.integers(7, 16))
    yy, xx = _grid(h, w)
    row = (xx // width).astype(np.int32)
    offset = (row * 37 % 5) * h / 5
    seam = ((yy + offset) % (h / 1.3)) < 1
    grain = 0.07 * np.sin(yy * 0.8 + row * 3.1 + 2 * noise(rng, h, w, smooth=True))
    tex = _shade(_fill(h, w, base), grain + 0.05 * np.sin(row * 7.7))
    tex[(xx % width < 1) | seam] *= 0.7
    return tex


def parquet(rng: np.random.Generator, h: int, w: int, base: Colour, accent: Colour) -> Texture:
    """Herringbone: the premium floor, told apart from plain planks by its zig-zag."""
    unit = int(rng.integers(5, 10))
    yy, xx = _igrid(h, w)
    diag = (xx + yy) // unit
    anti = (xx - yy) // unit
    left = (xx // (2 * unit)) % 2 == 0
    block = np.where(left, diag, anti)
    shade = (np.sin(block * 5.3) * 0.08 + np.where(left, 0.06, -0.06)).astype(np.float32)
    tex = _shade(_fill(h, w, base), shade)
    edges = np.where(left, (xx + yy) % unit == 0, (xx - yy) % unit == 0) | (xx % (2 * unit) == 0)
    tex[edges] *= 0.72
    return tex


def carpet(rng: np.random.Generator, h: int, w: int, base: Colour, accent: Colour) -> Texture:
    tex = _shade(_fill(h, w, base), 0.12 * noise(rng, h, w, smooth=False))
    border = max(2, min(h, w) // 10)
    tex[:border], tex[-border:] = accent, accent
    tex[:, :border], tex[:, -border:] = accent, accent
    return tex


def linoleum(rng: np.random.Generator, h: int, w: int, base: Colour, accent: Colour) -> Texture:
    tex = tiles(rng, h, w, base, accent)
    return _shade(
        tex * 0.6 + np.asarray(base, np.float32) * 0.4, 0.06 * noise(rng, h, w, smooth=True)
    )


# --- bare (unfinished) materials: drawn only with the unfinished_surfaces sign -------------


def concrete(rng: np.random.Generator, h: int, w: int, base: Colour, accent: Colour) -> Texture:
    grey = float(rng.uniform(105, 165))
    tint = np.asarray([grey + rng.uniform(-8, 8), grey, grey - rng.uniform(0, 12)], np.float32)
    tex = _fill(h, w, tuple(tint))
    tex = _shade(tex, 0.10 * noise(rng, h, w, smooth=True) + 0.07 * noise(rng, h, w, smooth=False))
    seam = int(rng.integers(20, 48))
    tex[(np.arange(h) % seam) < 1] *= 0.8  # formwork joints
    pores = noise(rng, h, w, smooth=False) > 2.3
    tex[pores] *= 0.6
    return tex


def brick(rng: np.random.Generator, h: int, w: int, base: Colour, accent: Colour) -> Texture:
    bh = int(rng.integers(4, 8))
    bw = bh * int(rng.integers(2, 4))
    yy, xx = _igrid(h, w)
    course = yy // bh
    shifted = xx + (course % 2) * (bw // 2)
    mortar = (yy % bh < 1) | (shifted % bw < 1)
    ident = course * 131 + shifted // bw
    red = rng.random() < 0.7
    r, g, b = (160.0, 80.0, 55.0) if red else (150.0, 150.0, 140.0)
    dr, dg, db = rng.uniform(-25, 25, 3)
    colour = (r + dr, g + dg, b + db)
    shade = (np.sin(ident * 3.7) * 0.12).astype(np.float32) + 0.06 * noise(rng, h, w, smooth=False)
    tex = _shade(_fill(h, w, colour), shade)
    tex[mortar] = tex[mortar] * 0.3 + float(rng.uniform(140, 190)) * 0.7
    return tex


def raw_plaster(rng: np.random.Generator, h: int, w: int, base: Colour, accent: Colour) -> Texture:
    tone = float(rng.uniform(125, 175))
    tex = _fill(h, w, (tone + 6, tone, tone - 10))
    trowel = cv2.GaussianBlur(noise(rng, h, w, smooth=False), (0, 0), 2.5) * 2.2
    return _shade(tex, 0.14 * noise(rng, h, w, smooth=True) + 0.08 * trowel)


def cinder_block(rng: np.random.Generator, h: int, w: int, base: Colour, accent: Colour) -> Texture:
    bh = int(rng.integers(7, 12))
    bw = bh * 2
    yy, xx = _igrid(h, w)
    shifted = xx + ((yy // bh) % 2) * bh
    joint = (yy % bh < 1) | (shifted % bw < 1)
    tone = float(rng.uniform(120, 170))
    tex = _shade(_fill(h, w, (tone, tone, tone - 5)), 0.09 * noise(rng, h, w, smooth=False))
    tex[joint] *= 0.7
    return tex


Material = Callable[[np.random.Generator, int, int, Colour, Colour], Texture]

WALL_MATERIALS: dict[str, Material] = {"paint": paint, "plaster": plaster, "wallpaper": wallpaper}
WET_WALL_MATERIALS: dict[str, Material] = {"tiles": tiles, "paint": paint}
FLOOR_MATERIALS: dict[str, Material] = {
    "linoleum": linoleum,
    "laminate": planks,
    "carpet": carpet,
    "tiles": tiles,
    "boards": planks,
}
BARE_MATERIALS: dict[str, Material] = {
    "concrete": concrete,
    "brick": brick,
    "raw_plaster": raw_plaster,
    "cinder_block": cinder_block,
}
