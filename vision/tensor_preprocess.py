"""Photos to the model's input as tensors on any device: `vision.preprocess` in torch.

The GPU path (`vision.gpu`) resizes, normalises and orients with these; they take a tensor on
the CPU as well, which is how their agreement with `vision.preprocess` is tested without a GPU.
Resize keeps its semantics: area filter along an axis that shrinks, the spec's filter along one
that grows, rounded to 8 bits before normalising. A shrink gives cv2's very pixels at any scale:
by whole factors (2x, 3x, ...) rounded as its fast area code rounds (a 2 x 2 block's halves up,
other blocks' to even), at other scales from cv2's own weights and float32 sums, term by term.
Growing agrees within a grey level (cv2 computes bilinear and bicubic in 11-bit fixed point).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from vision.preprocess import letterbox_box, scaling  # one source of geometry and constants

if TYPE_CHECKING:
    import torch

    from vision.artifact import Preprocessing

_LETTERBOX_GREY = 114  # as vision.preprocess pads


def _area_table(n_in: int, out: int) -> tuple[np.ndarray, np.ndarray]:
    """cv2.INTER_AREA's table for shrinking `n_in` samples to `out` (its computeResizeAreaTab,
    to the bit): (K, out) source indices and float32 weights, row k holding each output cell's
    k-th term in cv2's order; a cell of fewer terms gets weight 0 (adding 0.0 changes nothing).
    """
    scale = 1.0 / (out / n_in)  # cv2's scale: it can differ from n_in / out in its last bit
    start = np.arange(out, dtype=np.float64) * scale
    stop = start + scale
    cell = np.minimum(scale, n_in - start)
    last = np.minimum(np.floor(stop), n_in - 1)
    first = np.minimum(np.ceil(start), last)
    head, tail = first - start > 1e-3, stop - last > 1e-3  # cv2 drops slivers under 1e-3
    whole = (last - first).astype(np.int64)
    count = head + whole + tail
    k = np.arange(int(count.max()))[:, None]
    in_head, in_whole = k < head, k < head + whole
    index = np.where(in_head, first - 1, np.where(in_whole, first + k - head, last))
    part = np.minimum(np.minimum(stop - last, 1.0), cell)
    weight = np.where(in_head, (first - start) / cell, np.where(in_whole, 1.0 / cell, part / cell))
    used = k < count
    return np.where(used, index, 0).astype(np.int64), np.where(used, weight, 0).astype(np.float32)


def _area_axis(x: torch.Tensor, out: int, dim: int) -> torch.Tensor:
    """cv2.INTER_AREA's sums along `dim` where it shrinks by no whole factor: each term the
    pixel times its float32 weight, added in cv2's order, so the float32 sums are cv2's own."""
    import torch

    n_in = x.shape[dim]
    if out == n_in:
        return x
    index, weight = (torch.from_numpy(a).to(x.device) for a in _area_table(n_in, out))
    shape = [1] * x.dim()
    shape[dim] = out
    total = x.index_select(dim, index[0]) * weight[0].view(shape)
    for k in range(1, len(index)):
        total = total + x.index_select(dim, index[k]) * weight[k].view(shape)
    return total


def _area_enlarge_axis(x: torch.Tensor, out: int, dim: int) -> torch.Tensor:
    """cv2.INTER_AREA along an axis that does not shrink on both: its pixel-overlap linear rule.

    The table is cv2's arithmetic to the bit (numpy, on the CPU): its scale is 1 / (out / n_in),
    not n_in / out, and the rule jumps a whole source pixel where `dx * scale` lands on a whole
    number, so a scale one bit off took the next pixel there (a column or row of other pixels).
    """
    import torch

    n_in = x.shape[dim]
    if out == n_in:
        return x
    inv_scale = out / n_in
    scale = 1.0 / inv_scale
    dx = np.arange(out, dtype=np.float64)
    sx = np.floor(dx * scale)
    fx = ((dx + 1) - (sx + 1) * inv_scale).astype(np.float32)  # cv2 keeps it in a float
    fx = np.where(fx <= 0, np.float32(0), fx - np.floor(fx))
    low = torch.from_numpy(np.minimum(sx, n_in - 1).astype(np.int64)).to(x.device)
    high = (low + 1).clamp(max=n_in - 1)
    shape = [1] * x.dim()
    shape[dim] = out
    weight = torch.from_numpy(fx).to(device=x.device, dtype=x.dtype).view(shape)
    return x.index_select(dim, low) * (1 - weight) + x.index_select(dim, high) * weight


def _grow(x: torch.Tensor, height: int, width: int, mode: str) -> torch.Tensor:
    """Enlarge (no axis shrinks) with the spec's filter, as cv2 does."""
    import torch.nn.functional as F

    if mode == "area":
        return _area_enlarge_axis(_area_enlarge_axis(x, height, 2), width, 3)
    return F.interpolate(x, size=(height, width), mode=mode, align_corners=False)


def _area_whole_factors(x: torch.Tensor, fy: int, fx: int) -> torch.Tensor:
    """cv2.INTER_AREA where both scales are whole numbers (its "fast area" code): the sum of
    each fy x fx block (an int there), made float32, times 1/(fy*fx) in float32 and rounded half
    to even; but a 2 x 2 block is (sum + 2) >> 2, halves rounded up. The float32 sums here are
    exact below 2**24, so for every block under 65,794 pixels (a shrink of up to 256 x 256)."""
    import torch

    n, c, h, w = x.shape
    sums = x.reshape(n, c, h // fy, fy, w // fx, fx).sum(dim=(3, 5))
    if fy == fx == 2:
        return torch.floor((sums + 2.0) / 4.0)
    one = torch.ones((), dtype=torch.float32, device=x.device)
    return torch.round(sums * (one / (fy * fx)))


def _shrink(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Area filter where no axis grows, rounded to whole grey levels as cv2.INTER_AREA rounds."""
    import torch

    in_h, in_w = x.shape[2], x.shape[3]
    if _whole_factor(in_h, height) and _whole_factor(in_w, width):  # cv2's fast area code
        return _area_whole_factors(x, in_h // height, in_w // width)
    # cv2 sums each source row across first, then those sums down; rounded halves to even.
    return torch.round(_area_axis(_area_axis(x, width, 3), height, 2)).clamp_(0, 255)


def _whole_factor(n_in: int, out: int) -> bool:
    """Whether cv2 takes this shrink for a whole factor: its scale 1 / (out / n_in) must be
    exactly one (n_in = 49 * out is not, so cv2 goes the general way)."""
    return n_in % out == 0 and 1.0 / (out / n_in) == n_in // out


def _resample(x: torch.Tensor, height: int, width: int, *, mode: str) -> torch.Tensor:
    """(N, 3, H, W) float 0..255 -> (N, 3, height, width) uint8, rounded as cv2 rounds; judged
    per axis as vision.preprocess judges it (area where an axis shrinks, `mode` where it grows)."""
    import torch

    in_h, in_w = x.shape[2], x.shape[3]
    if height <= in_h and width <= in_w:
        y = _shrink(x, height, width)
    elif height >= in_h and width >= in_w:
        y = _grow(x, height, width, mode)
    else:  # one axis shrinks, the other grows: the shrinking one first, rounded to 8 bits
        narrowed = _shrink(x, in_h, width) if width < in_w else _shrink(x, height, in_w)
        y = _grow(narrowed, height, width, mode)
    return torch.round(y).clamp_(0, 255).to(torch.uint8)


def resize_tensor(chw: torch.Tensor, spec: Preprocessing) -> torch.Tensor:
    """One upright image (3, H, W) uint8 -> (3, S, S) uint8 by the spec's resize policy."""
    import torch

    size = spec.size
    height, width = int(chw.shape[1]), int(chw.shape[2])
    x = chw.unsqueeze(0).float()

    def resample(height: int, width: int) -> torch.Tensor:
        return _resample(x, height, width, mode=spec.interpolation)[0]

    if spec.resize == "squash":
        return resample(size, size)
    if spec.resize == "shorter_side_crop":
        scale = size / min(height, width)
        new_w, new_h = max(size, round(width * scale)), max(size, round(height * scale))
        top, left = (new_h - size) // 2, (new_w - size) // 2
        return resample(new_h, new_w)[:, top : top + size, left : left + size]
    top, left, new_h, new_w = letterbox_box(height, width, size)
    canvas = torch.full((3, size, size), _LETTERBOX_GREY, dtype=torch.uint8, device=chw.device)
    canvas[:, top : top + new_h, left : left + new_w] = resample(new_h, new_w)
    return canvas


def normalize_tensor(batch: torch.Tensor, spec: Preprocessing) -> torch.Tensor:
    """(N, 3, S, S) uint8 -> float32 with the spec's mean and std (as vision.preprocess)."""
    import torch

    mean, inv_std = (torch.from_numpy(v).to(batch.device) for v in scaling(spec))
    return (batch.float() - mean.view(1, 3, 1, 1)) * inv_std.view(1, 3, 1, 1)


def orient_tensor(chw: torch.Tensor, orientation: int) -> torch.Tensor:
    """Apply an EXIF orientation (1..8) to (3, H, W), as PIL's ImageOps.exif_transpose does."""
    import torch

    ops: dict[int, Callable[[torch.Tensor], torch.Tensor]] = {
        2: lambda t: t.flip(-1),
        3: lambda t: t.flip(-2, -1),
        4: lambda t: t.flip(-2),
        5: lambda t: t.transpose(-2, -1),
        6: lambda t: torch.rot90(t, -1, dims=(-2, -1)),
        7: lambda t: t.transpose(-2, -1).flip(-2, -1),
        8: lambda t: torch.rot90(t, 1, dims=(-2, -1)),
    }
    op = ops.get(orientation)
    return op(chw).contiguous() if op else chw
