"""Reuse verification: is a hash candidate the same photo (cropped, re-encoded, re-lit) or not?

A perceptual hash only proposes candidates: different photos of look-alike homes share them.
`verify` decides on pixels, in two steps. Geometry: ORB keypoints of both photos, matched with
a ratio test, must agree on one similarity transform (scale, rotation, shift: what a crop or a
resize does) with at least `min_inliers` RANSAC inliers. Pixels: the first photo, warped onto
the second, must correlate block by block (normalised cross-correlation, so brightness and
contrast changes do not count) in at least `min_agreeing_blocks` of the textured blocks, and
the agreeing blocks must span `min_agreeing_rows_and_columns` rows and as many columns of the
grid: an overlay every photo of a camera carries (a date-stamp banner across a near-black
night shot) is one row of identical blocks, not evidence of one photo. Look-alike rooms of the
synthetic generator pass the first step (same layout, same tile grid) but not the second;
copies pass both (benchmarks/bench_hashing.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from pydantic import Field, model_validator

from shanyraq.config import StrictModel


class VerificationConfig(StrictModel):
    """Thresholds of `verify`; measured in benchmarks/bench_hashing.py.

    No defaults: configs/engine.yaml `hashing.verification` is the one source of these values,
    and a key missing from it is an error that names the key.
    """

    working_side_px: int = Field(ge=64, le=1024)
    orb_features: int = Field(ge=50, le=5000)
    # Smaller than ORB's default 31 px: on a 256 px working copy a 31 px patch leaves a wide
    # border without keypoints.
    orb_patch_px: int = Field(ge=5, le=63)
    orb_fast_threshold: int = Field(ge=1, le=100)
    ratio_test: float = Field(gt=0, lt=1)
    ransac_reprojection_px: float = Field(gt=0, le=20)
    min_inliers: int = Field(ge=4)
    min_overlap: float = Field(gt=0, le=1)
    block_grid: int = Field(ge=1, le=16)
    blur_sigma_px: float = Field(ge=0, le=8)
    min_block_std: float = Field(ge=0)
    min_textured_blocks: int = Field(ge=1)
    min_block_correlation: float = Field(gt=-1, le=1)
    min_agreeing_blocks: float = Field(gt=0, le=1)
    min_agreeing_rows_and_columns: int = Field(ge=1, le=16)

    @model_validator(mode="after")
    def _check_possible(self) -> VerificationConfig:
        # Each of these would make every pair fail (or every photo unverifiable): verification
        # silently off, which a config must not be able to ask for.
        if self.min_textured_blocks > self.block_grid**2:
            raise ValueError(
                f"min_textured_blocks ({self.min_textured_blocks}) is more than the "
                f"block_grid ({self.block_grid}) has blocks ({self.block_grid**2})"
            )
        if self.min_agreeing_rows_and_columns > self.block_grid:
            raise ValueError(
                f"min_agreeing_rows_and_columns ({self.min_agreeing_rows_and_columns}) is more "
                f"than block_grid ({self.block_grid}) has rows"
            )
        if self.min_inliers > self.orb_features:
            raise ValueError(
                f"min_inliers ({self.min_inliers}) is more than orb_features "
                f"({self.orb_features}) keypoints can give"
            )
        if self.working_side_px <= 2 * self.orb_patch_px:
            raise ValueError(
                f"working_side_px ({self.working_side_px}) must be more than twice orb_patch_px "
                f"({self.orb_patch_px}): ORB finds no keypoint in a smaller working copy"
            )
        return self


@dataclass(frozen=True)
class ReuseFeatures:
    """A photo reduced for verification: grey working copy, ORB keypoints and descriptors."""

    grey: np.ndarray  # uint8 (H, W), longer side at most working_side_px
    points: np.ndarray  # float32 (N, 2)
    descriptors: np.ndarray | None  # uint8 (N, 32); None without keypoints
    # False: the working copy is too small for one ORB patch (a tiny photo, a thin strip), so
    # pixels cannot verify it either way; vision.hashing.same_photo falls back to the hashes.
    verifiable: bool = True

    @property
    def nbytes(self) -> int:
        extra = 0 if self.descriptors is None else self.descriptors.nbytes
        return int(self.grey.nbytes + self.points.nbytes + extra)


@dataclass(frozen=True)
class Verdict:
    """Outcome of `verify`: `same_photo`, and the evidence a reviewer can read."""

    same_photo: bool
    inliers: int
    agreeing_blocks: float  # share of textured blocks that correlate; 0 when not reached
    reason: str  # "same photo", or which test failed


def features(rgb: np.ndarray, config: VerificationConfig) -> ReuseFeatures:
    """Working copy and ORB features of an RGB (H, W, 3) or grey (H, W) uint8 photo.

    A working copy with a side of at most two patch widths has no room for a keypoint (ORB
    keeps `orb_patch_px` from every edge, and fails outright on a 1-pixel side): it comes back
    without features and not `verifiable`.
    """
    grey = rgb if rgb.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    scale = config.working_side_px / max(grey.shape)
    if scale < 1:
        size = (max(1, round(grey.shape[1] * scale)), max(1, round(grey.shape[0] * scale)))
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    if min(grey.shape) <= 2 * config.orb_patch_px:
        return ReuseFeatures(grey, np.zeros((0, 2), np.float32), None, verifiable=False)
    orb = cv2.ORB.create(
        nfeatures=config.orb_features, edgeThreshold=config.orb_patch_px,
        patchSize=config.orb_patch_px, fastThreshold=config.orb_fast_threshold,
    )  # fmt: skip
    keypoints, descriptors = orb.detectAndCompute(grey, np.full(grey.shape, 255, np.uint8))
    points = np.array([k.pt for k in keypoints], dtype=np.float32).reshape(-1, 2)
    return ReuseFeatures(grey=grey, points=points, descriptors=descriptors)


def similarity(
    a: ReuseFeatures, b: ReuseFeatures, config: VerificationConfig
) -> tuple[np.ndarray | None, int]:
    """The 2x3 similarity transform taking `a` onto `b` (or None), and its inlier count."""
    if a.descriptors is None or b.descriptors is None or min(len(a.points), len(b.points)) < 2:
        return None, 0
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(a.descriptors, b.descriptors, k=2)
    good = [
        p[0] for p in pairs if len(p) == 2 and p[0].distance < config.ratio_test * p[1].distance
    ]
    if len(good) < 3:
        return None, 0
    source = a.points[[m.queryIdx for m in good]]
    target = b.points[[m.trainIdx for m in good]]
    transform, inliers = cv2.estimateAffinePartial2D(
        source, target, method=cv2.RANSAC,
        ransacReprojThreshold=config.ransac_reprojection_px, maxIters=2000, confidence=0.99,
    )  # fmt: skip
    if transform is None or inliers is None:
        return None, 0
    return transform, int(inliers.sum())


def block_correlations(
    a: ReuseFeatures, b: ReuseFeatures, transform: np.ndarray, config: VerificationConfig
) -> np.ndarray | None:
    """NCC per block of `b`'s frame where warped `a` overlaps; NaN for flat blocks.

    None when the overlap is under `min_overlap` of `b`.
    """
    height, width = b.grey.shape
    warped = cv2.warpAffine(a.grey.astype(np.float32), transform, (width, height))
    footprint = cv2.warpAffine(
        np.ones(a.grey.shape, np.uint8), transform, (width, height), flags=cv2.INTER_NEAREST
    )
    inside = cv2.erode(footprint, np.ones((5, 5), np.uint8)) > 0  # resampled edges: not content
    if inside.mean() < config.min_overlap:
        return None
    target = b.grey.astype(np.float32)
    if config.blur_sigma_px > 0:
        # Both blurred within the footprint only (normalised convolution): a plain blur after
        # the warp mixed the zero fill around it into a band about 3 sigma wide, and at sigma 8
        # crops no longer correlated with their originals.
        weight = cv2.warpAffine(np.ones(a.grey.shape, np.float32), transform, (width, height))
        norm = np.maximum(_blur(weight, config.blur_sigma_px), 1e-6)
        warped = _blur(warped, config.blur_sigma_px) / norm  # warped is already weight-scaled
        target = _blur(target * weight, config.blur_sigma_px) / norm
    ys, xs = np.nonzero(inside)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    n = config.block_grid
    out = np.full(n * n, np.nan)
    for i in range(n):
        for j in range(n):
            rows = slice(y0 + (y1 - y0) * i // n, y0 + (y1 - y0) * (i + 1) // n)
            cols = slice(x0 + (x1 - x0) * j // n, x0 + (x1 - x0) * (j + 1) // n)
            mask = inside[rows, cols]
            if mask.size == 0 or mask.mean() < 0.5:
                continue
            x, y = warped[rows, cols][mask], target[rows, cols][mask]
            if x.std() < config.min_block_std or y.std() < config.min_block_std:
                continue  # flat: a wall or a white-out says nothing about identity
            x, y = x - x.mean(), y - y.mean()
            spread = float(np.sqrt((x * x).sum() * (y * y).sum()))
            if spread == 0:  # a constant block (min_block_std 0 lets one through): no texture
                continue
            out[i * n + j] = float((x * y).sum() / spread)
    return out


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    return np.asarray(cv2.GaussianBlur(image, (0, 0), sigma), np.float32)


def verify(a: ReuseFeatures, b: ReuseFeatures, config: VerificationConfig) -> Verdict:
    """Whether `a` and `b` show the same photo (either may be the cropped one).

    Checked both ways, and the same photo only if both agree: matching and RANSAC are not
    symmetric, and on small working copies a pair of different homes can pass one way only
    (the verdict then depended on which photo was asked about first). Copies pass both ways;
    a pair that fails the first way costs no second check.
    """
    first = _verify_one_way(a, b, config)
    return _verify_one_way(b, a, config) if first.same_photo else first


def _verify_one_way(a: ReuseFeatures, b: ReuseFeatures, config: VerificationConfig) -> Verdict:
    """`verify` with `a`'s keypoints matched against `b`'s."""
    # Map the more zoomed-in photo onto the other: its pixels then all fall inside the frame.
    transform, inliers = similarity(a, b, config)
    if transform is None or inliers < config.min_inliers:
        return Verdict(False, inliers, 0.0, "too few consistent keypoints")
    if abs(float(np.linalg.det(transform[:, :2]))) > 1:
        a, b, transform = b, a, cv2.invertAffineTransform(transform)
    blocks = block_correlations(a, b, transform, config)
    if blocks is None:
        return Verdict(False, inliers, 0.0, "too little overlap")
    textured = ~np.isnan(blocks)
    if textured.sum() < config.min_textured_blocks:
        return Verdict(False, inliers, 0.0, "too little texture to compare")
    agree = textured & (np.nan_to_num(blocks, nan=-1.0) >= config.min_block_correlation)
    agreeing = float(agree.sum() / textured.sum())
    if agreeing < config.min_agreeing_blocks:
        return Verdict(False, inliers, agreeing, "pixels differ after alignment")
    grid = agree.reshape(config.block_grid, config.block_grid)
    spread = min(int(grid.any(axis=1).sum()), int(grid.any(axis=0).sum()))
    if spread < config.min_agreeing_rows_and_columns:
        reason = "pixels agree only in a narrow band (a shared overlay such as a date stamp)"
        return Verdict(False, inliers, agreeing, reason)
    return Verdict(True, inliers, agreeing, "same photo")
