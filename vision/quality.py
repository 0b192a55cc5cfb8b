"""The photo quality gate: blur, exposure, resolution and blank frames, with a retake hint.

Measurements are taken on a grey copy scaled so its shorter side is `working_side_px`, so a
blur score means the same for a 1 MP and a 12 MP photo; a photo smaller than that (a
forwarded copy, a JPEG decoded at reduced scale) is enlarged for the blur score alone, else
the same blurred photo shrunk to 400x300 would measure five times sharper and pass.
Thresholds live in configs/engine.yaml (`quality:`); they were chosen from curves measured on
synthetic degradations (`python -m benchmarks.quality_curves`, docs/images/quality_curves.png).
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
    blur_fail: float = Field(ge=0, description="Variance of the Laplacian, below = fail.")
    blur_warn: float = Field(ge=0)
    dark_fail: float = Field(ge=0, le=255, description="Mean luminance, below = fail.")
    dark_warn: float = Field(ge=0, le=255)
    bright_fail: float = Field(ge=0, le=255, description="Mean luminance, above = fail.")
    bright_warn: float = Field(ge=0, le=255)
    clipped_fail: float = Field(ge=0, le=1, description="Fraction at 0-4 or 251-255.")
    clipped_warn: float = Field(ge=0, le=1)
    uniform_fail: float = Field(
        ge=0, description="Luminance std / (mean + 10), below = blank frame."
    )

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


def measure(rgb: np.ndarray, *, working_side_px: int) -> dict[str, float]:
    """The raw measurements the gate decides on."""
    grey = working_grey(rgb, working_side_px)
    laplacian = cv2.Laplacian(sharpness_grey(grey, working_side_px), cv2.CV_32F, ksize=3)
    # OpenCV's one-pass statistics: the same figures as numpy's mean/std/var, at a tenth of
    # the time (this runs on every upload).
    histogram = cv2.calcHist([grey], [0], None, [256], [0, 256]).ravel().astype(np.float64)
    total = histogram.sum()
    (mean,), (std,) = (v.ravel() for v in cv2.meanStdDev(grey))
    _, (laplacian_std,) = (v.ravel() for v in cv2.meanStdDev(laplacian))
    return {
        "blur_score": float(laplacian_std**2),
        "mean_luminance": float(mean),
        # Relative, so a dim but real room is not mistaken for a blank frame.
        "luminance_contrast": float(std / (mean + 10.0)),
        "clipped_fraction": float((histogram[:5].sum() + histogram[251:].sum()) / total),
        "short_side_px": float(min(rgb.shape[:2])),
    }


def _findings(m: dict[str, float], c: QualityConfig) -> list[tuple[str, str]]:
    """(severity, reason) pairs; severity is "fail" or "warn"."""
    found: list[tuple[str, str]] = []

    def grade(reason: str, is_fail: bool, is_warn: bool) -> None:
        if is_fail:
            found.append(("fail", reason))
        elif is_warn:
            found.append(("warn", reason))

    side, blur, mean = m["short_side_px"], m["blur_score"], m["mean_luminance"]
    blank = m["luminance_contrast"] < c.uniform_fail
    if blank:
        found.append(("fail", UNIFORM))
    grade(LOW_RESOLUTION, side < c.min_short_side_fail_px, side < c.min_short_side_warn_px)
    if blank:
        # Sharpness and exposure mean nothing on a blank frame; its size still does, and a
        # retake at the same too-low resolution would fail again.
        return found
    grade(BLURRED, blur < c.blur_fail, blur < c.blur_warn)
    grade(TOO_DARK, mean < c.dark_fail, mean < c.dark_warn)
    grade(TOO_BRIGHT, mean > c.bright_fail, mean > c.bright_warn)
    clipped = m["clipped_fraction"]
    grade(CLIPPED, clipped > c.clipped_fail, clipped > c.clipped_warn)
    return found


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
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected RGB uint8 (H, W, 3), got {rgb.dtype} {rgb.shape}")
    m = measure(rgb, working_side_px=config.working_side_px)
    if original_size is not None:
        m["short_side_px"] = float(min(original_size))
    findings = _findings(m, config)
    fails = [reason for severity, reason in findings if severity == "fail"]
    warns = [reason for severity, reason in findings if severity == "warn"]
    reasons = tuple(fails + warns)
    status: Status = "fail" if fails else "warn" if warns else "pass"
    hint = RETAKE_HINTS[reasons[0]] if reasons else ""
    return QualityVerdict(status=status, reasons=reasons, retake_hint=hint, measurements=m)
