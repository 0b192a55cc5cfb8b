"""The drawing surface and the room's one-point perspective: canvas, projection, boxes.

Coordinates inside a room are (u, t, h): u across the room (0 left wall, 1 right wall), t in
depth (0 back wall, 1 camera plane) and h in height (0 floor, 1 ceiling). Every drawn sign
also marks its pixels in a mask; anything drawn later over it removes them (occlusion).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from training.synth.textures import Colour, Texture

_SHIFT = 4  # sub-pixel bits for cv2 drawing
_ONE = 1 << _SHIFT
_FACE_LIGHT = {"front": 1.0, "top": 1.12, "left": 0.82, "right": 0.78, "bottom": 0.65}


@dataclass
class Canvas:
    """A uint8 RGB image being drawn, plus one mask per sign drawn on it."""

    image: np.ndarray
    masks: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def blank(cls, size: int) -> Canvas:
        return cls(image=np.zeros((size, size, 3), np.uint8))

    @property
    def size(self) -> int:
        return int(self.image.shape[0])

    def lw(self, width: float) -> int:
        """A line width given for a 256 px image, scaled to this one."""
        return max(1, round(width * self.size / 256))

    def mark(self, sign: str, mask: np.ndarray) -> None:
        previous = self.masks.get(sign)
        self.masks[sign] = mask if previous is None else previous | mask

    def occlude(self, mask: np.ndarray) -> None:
        for name in self.masks:
            self.masks[name] &= ~mask

    def poly_mask(self, points: np.ndarray) -> np.ndarray:
        mask = np.zeros(self.image.shape[:2], np.uint8)
        cv2.fillPoly(mask, [_fixed(points)], 1, cv2.LINE_8, _SHIFT)
        return mask.astype(bool)

    def poly(
        self, points: np.ndarray, colour: Colour, *, sign: str | None = None, occludes: bool = True
    ) -> None:
        """Fill a polygon (pixel coordinates); it hides what was marked beneath it."""
        if sign is not None or (occludes and self.masks):
            mask = self.poly_mask(points)
            if occludes:
                self.occlude(mask)
            if sign is not None:
                self.mark(sign, mask)
        cv2.fillPoly(self.image, [_fixed(points)], _bgr(colour), cv2.LINE_AA, _SHIFT)

    def line(self, a: np.ndarray, b: np.ndarray, colour: Colour, width: float = 1.0) -> None:
        cv2.line(self.image, _pt(a), _pt(b), _bgr(colour), self.lw(width), cv2.LINE_AA, _SHIFT)

    def ellipse(
        self,
        centre: np.ndarray,
        axes: tuple[float, float],
        colour: Colour,
        *,
        angle: float = 0.0,
        sign: str | None = None,
        thickness: int = -1,
    ) -> None:
        args = (
            _pt(centre),
            (max(1, round(axes[0] * _ONE)), max(1, round(axes[1] * _ONE))),
            angle,
            0,
            360,
        )
        if sign is not None or self.masks:
            mask = np.zeros(self.image.shape[:2], np.uint8)
            cv2.ellipse(mask, *args, 1, thickness, cv2.LINE_8, _SHIFT)
            self.occlude(mask.astype(bool))
            if sign is not None:
                self.mark(sign, mask.astype(bool))
        cv2.ellipse(self.image, *args, _bgr(colour), thickness, cv2.LINE_AA, _SHIFT)

    def paste_texture(self, texture: Texture, quad: np.ndarray) -> None:
        """Map a texture onto a quad (TL, TR, BR, BL) in perspective."""
        box = clipped_box(quad, self.size)
        if box is None:
            return
        if self.masks:  # a texture laid over a drawn sign hides it
            self.occlude(self.poly_mask(quad))
        x0, y0, x1, y1 = box
        h, w = texture.shape[:2]
        # Warp only into the quad's bounding box: most of the frame is someone else's.
        matrix = cv2.getPerspectiveTransform(unit_rect(w, h), (quad - [x0, y0]).astype(np.float32))
        tex8 = np.clip(texture, 0, 255).astype(np.uint8)
        window = np.ascontiguousarray(self.image[y0:y1, x0:x1])
        cv2.warpPerspective(
            tex8,
            matrix,
            (x1 - x0, y1 - y0),
            dst=window,
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_TRANSPARENT,
        )
        self.image[y0:y1, x0:x1] = window


def unit_rect(w: int, h: int) -> np.ndarray:
    """Corners TL, TR, BR, BL of a w x h texture, for perspective transforms."""
    return np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)


def clipped_box(quad: np.ndarray, size: int) -> tuple[int, int, int, int] | None:
    """Integer bounding box of a quad inside the frame (None when it is outside)."""
    x0, y0 = np.maximum(np.floor(quad.min(axis=0)).astype(int) - 1, 0)
    x1, y1 = np.minimum(np.ceil(quad.max(axis=0)).astype(int) + 1, size)
    if x1 <= x0 or y1 <= y0:
        return None
    return int(x0), int(y0), int(x1), int(y1)


def _fixed(points: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(points, np.float64) * _ONE).astype(np.int32).reshape(-1, 1, 2)


def _pt(p: np.ndarray) -> tuple[int, int]:
    return (round(float(p[0]) * _ONE), round(float(p[1]) * _ONE))


def _bgr(colour: Colour) -> tuple[float, float, float]:
    # The canvas is RGB; cv2 writes channels in the order given, so no swap is needed.
    return (float(colour[0]), float(colour[1]), float(colour[2]))


def shade(colour: Colour, factor: float) -> Colour:
    return (
        min(255.0, colour[0] * factor),
        min(255.0, colour[1] * factor),
        min(255.0, colour[2] * factor),
    )


def face_point(quad: np.ndarray, a: float, b: float) -> np.ndarray:
    """Point at (a across, b down) of a quad TL, TR, BR, BL (bilinear)."""
    top = quad[0] + a * (quad[1] - quad[0])
    bottom = quad[3] + a * (quad[2] - quad[3])
    return top + b * (bottom - top)


def sub_quad(quad: np.ndarray, a0: float, b0: float, a1: float, b1: float) -> np.ndarray:
    return np.stack(
        [
            face_point(quad, a0, b0),
            face_point(quad, a1, b0),
            face_point(quad, a1, b1),
            face_point(quad, a0, b1),
        ]
    )


@dataclass(frozen=True)
class RoomGeometry:
    """A box room seen in one-point perspective, optionally rolled."""

    size: int
    back: tuple[float, float, float, float]  # x0, y0, x1, y1 of the back wall, pixels
    vanishing: tuple[float, float]
    scale: float  # near plane = vanishing + scale * (back - vanishing)
    roll_degrees: float

    def project(self, uth: np.ndarray) -> np.ndarray:
        """Image points (N, 2) of room points (N, 3) given as (u, t, h)."""
        x0, y0, x1, y1 = self.back
        vx, vy = self.vanishing
        u, t, h = uth[:, 0], uth[:, 1], uth[:, 2]
        bx, by = x0 + u * (x1 - x0), y1 + h * (y0 - y1)
        # t is linear in distance from the back wall; image scale grows as 1 / distance.
        k = 1.0 / (1.0 - t * (1.0 - 1.0 / self.scale))
        x, y = vx + k * (bx - vx), vy + k * (by - vy)
        if self.roll_degrees:
            c, s = np.cos(np.radians(self.roll_degrees)), np.sin(np.radians(self.roll_degrees))
            cx = cy = self.size / 2
            x, y = cx + c * (x - cx) - s * (y - cy), cy + s * (x - cx) + c * (y - cy)
        return np.stack([x, y], axis=1)

    def point(self, u: float, t: float, h: float) -> np.ndarray:
        return self.project(np.array([[u, t, h]], np.float64))[0]

    def quad(self, corners: Sequence[tuple[float, float, float]]) -> np.ndarray:
        return self.project(np.asarray(corners, np.float64))

    def surface(self, name: str) -> np.ndarray:
        """Corners TL, TR, BR, BL of a room surface as seen from inside."""
        corners = {
            "back": [(0, 0, 1), (1, 0, 1), (1, 0, 0), (0, 0, 0)],
            "left": [(0, 1, 1), (0, 0, 1), (0, 0, 0), (0, 1, 0)],
            "right": [(1, 0, 1), (1, 1, 1), (1, 1, 0), (1, 0, 0)],
            "floor": [(0, 0, 0), (1, 0, 0), (1, 1, 0), (0, 1, 0)],
            "ceiling": [(0, 1, 1), (1, 1, 1), (1, 0, 1), (0, 0, 1)],
        }[name]
        return self.quad(corners)


def _area(quad: np.ndarray) -> float:
    """Signed area (positive when the face turns toward the camera)."""
    (ax, ay), (bx, by), (cx, cy), (dx, dy) = quad.tolist()
    return 0.5 * ((ax - cx) * (by - dy) - (bx - dx) * (ay - cy))


def draw_box(
    canvas: Canvas,
    geo: RoomGeometry,
    extent: tuple[float, float, float, float, float, float],
    colour: Colour,
    *,
    sign: str | None = None,
) -> dict[str, np.ndarray]:
    """A solid box (u0, u1, t0, t1, h0, h1); returns its visible faces by name."""
    u0, u1, t0, t1, h0, h1 = extent
    faces = {
        "top": [(u0, t0, h1), (u1, t0, h1), (u1, t1, h1), (u0, t1, h1)],
        "bottom": [(u0, t1, h0), (u1, t1, h0), (u1, t0, h0), (u0, t0, h0)],
        "left": [(u0, t0, h1), (u0, t1, h1), (u0, t1, h0), (u0, t0, h0)],
        "right": [(u1, t1, h1), (u1, t0, h1), (u1, t0, h0), (u1, t1, h0)],
        "front": [(u0, t1, h1), (u1, t1, h1), (u1, t1, h0), (u0, t1, h0)],
    }
    names = list(faces)
    points = geo.project(np.asarray([faces[n] for n in names], np.float64).reshape(-1, 3))
    visible: dict[str, np.ndarray] = {}
    for i, name in enumerate(names):
        quad = points[4 * i : 4 * i + 4]
        if _area(quad) > 0.5:
            visible[name] = quad
    outline = shade(colour, 0.55)
    for name, quad in visible.items():
        canvas.poly(quad, shade(colour, _FACE_LIGHT[name]), sign=sign)
        cv2.polylines(canvas.image, [_fixed(quad)], True, _bgr(outline), 1, cv2.LINE_AA, _SHIFT)
    return visible
