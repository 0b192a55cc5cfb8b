"""The photo quality gate: blur, exposure, resolution and blank frames, with a retake hint.

Measurements are taken on a grey copy scaled so its shorter side is `working_side_px`, so a
blur score means the same for a 1 MP and a 12 MP photo; a photo smaller than that (a
forwarded copy, a JPEG decoded at reduced scale) is enlarged for the blur score alone, else
the same blurred photo shrunk to 400x300 would measure five times sharper and pass.
A blank frame has no detail, no fine texture and no sharp edge once the smooth light falloff
of a lamp or window is taken away: a plain wall lit from one side has a large luminance
spread, and judged on that spread alone it passed. A hazy or glaring photo of a room is as
faint as a blank frame and fails as one, but is told about the light: measured against its
distance to white instead of black, its edges stand out, where a bright wall's do not.
Thresholds live in configs/engine.yaml (`quality:`); they were chosen from curves measured on
synthetic degradations (`python -m benchmarks.quality_curves`, docs/images/quality_curves.png)
and, for blank frames, from the walls and rooms that configs/engine.yaml describes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import cv2
import numpy as np
from pydantic import Field, model_validator

from shanyraq.config import StrictModel
from vision.io_checks import MAX_ASPECT

Status = Literal["pass", "warn", "fail"]

# Stable reason codes, and what a field inspector should do about each.
BLURRED, TOO_DARK, TOO_BRIGHT = "blurred", "too_dark", "too_bright"
CLIPPED, LOW_RESOLUTION, UNIFORM = "clipped", "low_resolution", "uniform"
RETAKE_HINTS: dict[str, str] = {
    UNIFORM: "The photo shows almost nothing (covered lens or a blank surface). Point the "
    "camera at the room and take the photo again.",
    LOW_RESOLUTION: "The photo is too small. Take it with the phone camera at its normal "
    "setting; do not send a screenshot or a copy forwarded by a messenger.",
    BLURRED: "The photo is blurred. Hold the phone still with both hands, tap the screen to "
    "focus, and take the photo again.",
    TOO_DARK: "The photo is too dark. Switch on the light or open the curtains, then take the "
    "photo again.",
    TOO_BRIGHT: "The photo is washed out. Do not point the camera at a window or a lamp; stand "
    "with the light behind you and take the photo again.",
    CLIPPED: "Large parts of the photo are pure white or black. Avoid windows and lamps in the "
    "frame and take the photo again.",
}


class QualityConfig(StrictModel):
    """Thresholds of the quality gate; `*_warn` is the milder bound of each `*_fail`.

    No defaults: configs/engine.yaml `quality` is the one source of these values, and a key
    missing from it is an error that names the key (as for the rest of the engine config).
    """

    working_side_px: int = Field(gt=32)
    min_short_side_fail_px: int = Field(gt=0)
    min_short_side_warn_px: int = Field(gt=0)
    blur_fail: float = Field(ge=0, description="`blur_score` (Laplacian), below = fail.")
    blur_warn: float = Field(ge=0)
    dark_fail: float = Field(ge=0, le=255, description="Mean luminance, below = fail.")
    dark_warn: float = Field(ge=0, le=255)
    bright_fail: float = Field(ge=0, le=255, description="Mean luminance, above = fail.")
    bright_warn: float = Field(ge=0, le=255)
    clipped_fail: float = Field(ge=0, le=1, description="Fraction at 0-4 or 251-255.")
    clipped_warn: float = Field(ge=0, le=1)
    # Blank frame: detail, texture and edge_share all under their bounds.
    detail_fail: float = Field(
        ge=0, description="Std once the smooth light falloff is removed, / (mean + 10)."
    )
    texture_fail: float = Field(ge=0, description="Std of the finest detail, / (mean + 10).")
    edge_contrast: float = Field(
        gt=0, description="Luminance step per working pixel, / (mean + 10), = an edge."
    )
    edge_share_fail: float = Field(ge=0, le=1, description="Share of pixels on an edge.")
    # Washed out, not blank: under the three bounds, brighter than bright_warn, and this many
    # pixels on an edge measured against the distance to white (255 - mean + 10).
    washed_out_edge_share: float = Field(ge=0, le=1, description="Share, `edge_share_to_white`.")

    @model_validator(mode="after")
    def _ordered(self) -> QualityConfig:
        pairs = [
            ("min_short_side_fail_px", "min_short_side_warn_px"),
            ("blur_fail", "blur_warn"),
            ("dark_fail", "dark_warn"),
            ("bright_warn", "bright_fail"),
            ("clipped_warn", "clipped_fail"),
        ]
        for low, high in pairs:
            if getattr(self, low) > getattr(self, high):
                raise ValueError(f"{low} must not exceed {high}")
        if self.dark_warn > self.bright_warn:  # else a photo could be too dark and too bright
            raise ValueError("dark_warn must not exceed bright_warn")
        return self


@dataclass(frozen=True)
class QualityVerdict:
    """pass / warn / fail, the reasons (most severe first) and what to do about them."""

    status: Status
    reasons: tuple[str, ...] = ()
    retake_hint: str = ""
    measurements: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "reasons": list(self.reasons),
            "retake_hint": self.retake_hint,
            "measurements": dict(self.measurements),
        }


def working_grey(rgb: np.ndarray, working_side_px: int) -> np.ndarray:
    """Grey uint8 copy whose shorter side is at most `working_side_px` (never enlarged)."""
    grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    height, width = grey.shape
    scale = working_side_px / min(height, width)
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    return grey


def sharpness_grey(grey: np.ndarray, working_side_px: int) -> np.ndarray:
    """`grey` enlarged (bicubic) so its shorter side is `working_side_px`, where it is smaller.

    The blur thresholds were measured at that side: a blurred edge shrunk to a third of it is a
    third as wide, and the Laplacian would call it sharp. The longer side is capped at
    MAX_ASPECT times the working side (vision.io refuses longer strips before they get here).
    """
    height, width = grey.shape
    if min(height, width) >= working_side_px:
        return grey
    scale = working_side_px / min(height, width)
    cap = MAX_ASPECT * working_side_px
    size = (min(cap, round(width * scale)), min(cap, round(height * scale)))
    return cv2.resize(grey, size, interpolation=cv2.INTER_CUBIC)


# Blur. The variance of the Laplacian grows with the square of the exposure and with the
# sensor's noise: a sharp room at a third of the light scored a ninth, under blur_fail, and
# a blurred one in the grain of a dim photo scored as sharp. The score is the variance above
# the frame's noise floor, scaled to a frame of mean BLUR_REFERENCE_MEAN. The floor is the
# median Laplacian variance of its flat BLUR_BLOCK_PX blocks: those with no detail between
# 1 and 4 px (a band-pass's std under FLAT_BAND_STD levels), where what the Laplacian sees is
# noise and the 8-bit steps of a dim gradient; a frame with fewer than FLAT_BLOCKS_MIN_SHARE of
# them flat (a close-up of a carpet) has no floor. A pattern of single pixels is noise to it.
# The exposure is the mean of the lit blocks (at least LIT_SHARE of the 90th percentile
# block's mean): a shadow over half the room hides detail, and scaled by the whole frame's
# mean it made a blurred photo read sharper the more of it was dark.
BLUR_BLOCK_PX = 32
BLUR_REFERENCE_MEAN = 120.0
FLAT_BAND_STD = 1.0
FLAT_BLOCKS_MIN_SHARE = 0.05
LIT_SHARE = 0.2


def _block_stats(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of each whole BLUR_BLOCK_PX block of `image` (float32), each
    (rows, columns). Area resizing by a whole factor is the blocks' exact mean, at a third of
    numpy's time."""
    rows, columns = (side // BLUR_BLOCK_PX for side in image.shape)
    cut = image[: rows * BLUR_BLOCK_PX, : columns * BLUR_BLOCK_PX]
    mean = cv2.resize(cut, (columns, rows), interpolation=cv2.INTER_AREA).astype(np.float64)
    square = cv2.resize(cut * cut, (columns, rows), interpolation=cv2.INTER_AREA)
    return mean, np.maximum(square.astype(np.float64) - mean**2, 0.0)


def blur_score(grey: np.ndarray, mean: float) -> float:
    """Variance of `grey`'s Laplacian above its noise floor, at the exposure of a mean of
    BLUR_REFERENCE_MEAN: the mean of its lit blocks (`mean`, the frame's, where it has no whole
    block), + 10 as for `detail`."""
    fine: np.ndarray = grey.astype(np.float32)
    laplacian = cv2.Laplacian(fine, cv2.CV_32F, ksize=3)
    _, (std,) = (v.ravel() for v in cv2.meanStdDev(laplacian))
    floor, exposure = 0.0, mean
    if min(grey.shape) >= BLUR_BLOCK_PX:
        levels, _ = _block_stats(fine)
        exposure = float(levels[levels >= LIT_SHARE * np.percentile(levels, 90)].mean())
        border = cv2.BORDER_REPLICATE
        band = cv2.GaussianBlur(fine, (0, 0), 1.0, borderType=border) - cv2.GaussianBlur(
            fine, (0, 0), 4.0, borderType=border
        )
        flat = _block_stats(band)[1] < FLAT_BAND_STD**2
        if flat.mean() >= FLAT_BLOCKS_MIN_SHARE:
            floor = float(np.median(_block_stats(laplacian)[1][flat]))
    above = max(float(std) ** 2 - floor, 0.0)
    return above * ((BLUR_REFERENCE_MEAN + 10.0) / (exposure + 10.0)) ** 2


# Blank frames. `detail` looks at the frame at DETAIL_SIDE_PX on its shorter side, whatever
# the photo's size: averaging down to it removes sensor noise, a slight blur removes what is
# left, and subtracting a blur of DETAIL_FALLOFF_PX (5 % of the frame) removes the light
# falloff of a lamp or window while a room's objects, even blurred, stay. `texture` is what
# that averaging drops: detail finer than TEXTURE_SCALE_PX working pixels (a carpet, a weave;
# sensor noise too, hence its own, higher bound). `edge_share` finds what both miss, a crack
# or a socket on a plain wall. The figures behind the thresholds: configs/engine.yaml.
DETAIL_SIDE_PX = 128
DETAIL_SMOOTH_PX = 1.0
DETAIL_FALLOFF_PX = 6.0
TEXTURE_SCALE_PX = 2.0
# An edge must also stand out of the frame's own noise: steeper than this many times the
# median gradient (pure noise exceeds 4x its median gradient at ~1 pixel in 65,000).
EDGE_NOISE_FACTOR = 4.0
EDGE_SMOOTH_PX = 1.0  # quiets noise; a crack 2 px wide at 0.3 MP still stands out


def detail(grey: np.ndarray, mean: float) -> float:
    """Std of `grey` less its smooth light field, at DETAIL_SIDE_PX, / (`mean` + 10)."""
    height, width = grey.shape
    scale = DETAIL_SIDE_PX / min(height, width)
    small: np.ndarray = grey.astype(np.float32)  # averaged in float: uint8 would round
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small = cv2.resize(small, size, interpolation=cv2.INTER_AREA)
    border = cv2.BORDER_REPLICATE
    smooth = cv2.GaussianBlur(small, (0, 0), DETAIL_SMOOTH_PX, borderType=border)
    light: np.ndarray = cv2.GaussianBlur(smooth, (0, 0), DETAIL_FALLOFF_PX, borderType=border)
    residual: np.ndarray = smooth - light
    margin = int(2 * DETAIL_FALLOFF_PX)  # where the falloff blur ran past the frame's edge
    if min(residual.shape) > 4 * margin:
        residual = residual[margin:-margin, margin:-margin]
    _, (std,) = (v.ravel() for v in cv2.meanStdDev(residual))
    return float(std / (mean + 10.0))


def texture(grey: np.ndarray, mean: float) -> float:
    """Std of `grey`'s detail finer than TEXTURE_SCALE_PX, / (`mean` + 10)."""
    fine: np.ndarray = grey.astype(np.float32)
    coarse: np.ndarray = cv2.GaussianBlur(
        fine, (0, 0), TEXTURE_SCALE_PX, borderType=cv2.BORDER_REPLICATE
    )
    _, (std,) = (v.ravel() for v in cv2.meanStdDev(fine - coarse))
    return float(std / (mean + 10.0))


def edge_share(
    grey: np.ndarray, mean: float, edge_contrast: float, *, noise_unclipped: bool = False
) -> float:
    """Share of `grey`'s pixels on an edge: a step of `edge_contrast` x (mean + 10) per pixel.

    A light falloff changes luminance by a fraction of a percent per pixel, however strong it
    is overall; a crack, a socket or a table edge by several percent. `noise_unclipped`: the
    noise is measured only where `grey` is not clipped (as `clipped_fraction` counts), else on
    a frame mostly clipped white it is nil and the rest's noise counts as edges.
    """
    border = cv2.BORDER_REPLICATE
    smooth = cv2.GaussianBlur(grey.astype(np.float32), (0, 0), EDGE_SMOOTH_PX, borderType=border)
    # Sobel's 3x3 sums to 8 times the slope: scaled, luminance levels per pixel.
    gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3, scale=0.125, borderType=border)
    gy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3, scale=0.125, borderType=border)
    magnitude: np.ndarray = cv2.magnitude(gx, gy)
    sample = magnitude[::3, ::3]  # a sample: the median alone cost 7 ms
    if noise_unclipped:
        sampled = grey[::3, ::3]
        sample = sample[(sampled > 4) & (sampled < 251)]
    noise = float(np.median(sample)) if sample.size else 0.0
    step = max(edge_contrast * (mean + 10.0), EDGE_NOISE_FACTOR * noise)
    return float(cv2.countNonZero((magnitude > step).astype(np.uint8)) / magnitude.size)


def measure(
    rgb: np.ndarray,
    *,
    working_side_px: int,
    edge_contrast: float | None = None,
    detail_fail: float | None = None,
) -> dict[str, float]:
    """The raw measurements the gate decides on (`edge_contrast`: the shipped one if None).

    With `detail_fail`, `texture` and `edge_share` are measured only when `detail` is under it
    (they matter only then: a blank frame is under all three bounds) and left out otherwise:
    on a photo with content they would add about 5 ms, twice the rest of the gate. So is
    `edge_share_to_white`, the edge share relative to the frame's distance to white
    (255 - mean + 10) instead of black: haze or glare compresses a room towards white, and
    against white its edges still stand out, where a bright wall's noise and falloff do not.
    """
    if edge_contrast is None:
        from vision.engine import get_engine_config

        edge_contrast = get_engine_config().quality.edge_contrast
    grey = working_grey(rgb, working_side_px)
    # OpenCV's one-pass statistics: the same figures as numpy's mean/std/var, at a tenth of
    # the time (this runs on every upload).
    histogram = cv2.calcHist([grey], [0], None, [256], [0, 256]).ravel().astype(np.float64)
    total = histogram.sum()
    mean = float(cv2.meanStdDev(grey)[0].ravel()[0])
    found = {
        "blur_score": blur_score(sharpness_grey(grey, working_side_px), mean),
        "mean_luminance": mean,
        # Relative to the mean, so a dim but real room is not mistaken for a blank frame.
        "detail": detail(grey, mean),
        "clipped_fraction": float((histogram[:5].sum() + histogram[251:].sum()) / total),
        "short_side_px": float(min(rgb.shape[:2])),
    }
    if detail_fail is None or found["detail"] < detail_fail:
        found["texture"] = texture(grey, mean)
        found["edge_share"] = edge_share(grey, mean, edge_contrast)
        found["edge_share_to_white"] = edge_share(
            grey, 255.0 - mean, edge_contrast, noise_unclipped=True
        )
    return found


def _findings(m: dict[str, float], c: QualityConfig) -> list[tuple[str, str]]:
    """(severity, reason) pairs; severity is "fail" or "warn"."""
    found: list[tuple[str, str]] = []

    def grade(reason: str, is_fail: bool, is_warn: bool) -> None:
        if is_fail:
            found.append(("fail", reason))
        elif is_warn:
            found.append(("warn", reason))

    side, blur, mean = m["short_side_px"], m["blur_score"], m["mean_luminance"]
    blank = (
        m["detail"] < c.detail_fail
        and m["texture"] < c.texture_fail
        and m["edge_share"] < c.edge_share_fail
    )
    if blank:
        # A hazy or glaring photo of a room is as faint as a blank frame and fails as one (it is
        # no more use), but its retake is about the light: pointed at the same room away from
        # the window, the camera sees it. A wall or a covered lens stays `uniform` at any light.
        washed_out = mean > c.bright_warn and m["edge_share_to_white"] >= c.washed_out_edge_share
        found.append(("fail", TOO_BRIGHT if washed_out else UNIFORM))
    grade(LOW_RESOLUTION, side < c.min_short_side_fail_px, side < c.min_short_side_warn_px)
    if blank:
        # Sharpness and exposure mean nothing on a blank or washed-out frame; its size still
        # does, and a retake at the same too-low resolution would fail again.
        return found
    grade(TOO_DARK, mean < c.dark_fail, mean < c.dark_warn)
    grade(TOO_BRIGHT, mean > c.bright_fail, mean > c.bright_warn)
    clipped = m["clipped_fraction"]
    grade(CLIPPED, clipped > c.clipped_fail, clipped > c.clipped_warn)
    # Light before blur: a phone in dim light shakes on a long exposure, so the retake hint of
    # a dark, blurred photo is about the light (`_hint_reason`: also where the blur fails and
    # the light only warns). The blur score itself is scaled for the exposure (`blur_score`).
    grade(BLURRED, blur < c.blur_fail, blur < c.blur_warn)
    return found


def _hint_reason(reasons: tuple[str, ...]) -> str:
    """The reason the retake hint is about: the first (most severe) one, except that a blurred
    photo that is also too dark is told about the light, whichever of the two is graded worse
    (`_findings`): a retake held still in the same dim light is blurred again."""
    if reasons[0] == BLURRED and TOO_DARK in reasons:
        return TOO_DARK
    return reasons[0]


def assess_quality(
    rgb: np.ndarray,
    *,
    config: QualityConfig | None = None,
    original_size: tuple[int, int] | None = None,
) -> QualityVerdict:
    """Judge one RGB photo (H, W, 3, uint8).

    `original_size` (width, height) is the size the camera stored, when `rgb` was decoded at
    reduced scale; resolution is judged on it.
    """
    if config is None:
        from vision.engine import get_engine_config

        config = get_engine_config().quality
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8 or rgb.size == 0:
        raise ValueError(f"expected RGB uint8 (H, W, 3), H, W > 0, got {rgb.dtype} {rgb.shape}")
    m = measure(
        rgb, working_side_px=config.working_side_px, edge_contrast=config.edge_contrast,
        detail_fail=config.detail_fail,
    )  # fmt: skip
    if original_size is not None:
        m["short_side_px"] = float(min(original_size))
    findings = _findings(m, config)
    fails = [reason for severity, reason in findings if severity == "fail"]
    warns = [reason for severity, reason in findings if severity == "warn"]
    reasons = tuple(fails + warns)
    status: Status = "fail" if fails else "warn" if warns else "pass"
    hint = RETAKE_HINTS[_hint_reason(reasons)] if reasons else ""
    return QualityVerdict(status=status, reasons=reasons, retake_hint=hint, measurements=m)
