"""The GPU scoring path: JPEG bytes decoded, resized and scored without leaving the GPU.

nvJPEG decodes a whole batch on the GPU (`torchvision.io.decode_jpeg(..., device="cuda")`);
resize and normalisation run there with `vision.preprocess`'s semantics (exact area filter along
an axis that shrinks, bilinear/bicubic along one that grows, rounded to 8 bits before
normalising); ONNX Runtime's TensorRT or CUDA provider reads the batch in place through IO
binding. `prepare` runs on its own CUDA stream, so `vision.bulk.score_batches` overlaps decoding
batch k+1 with inferring batch k. `TensorBytesScorer(device="cpu")` runs the very same tensor
code on the CPU: that is how its agreement with `vision.preprocess` and the CPU scorer is tested
without a GPU.

Incomplete JPEGs: `vision.io` hands a one-scan JPEG to libjpeg without the end marker after its
scan, so a scan cut short runs out of data. torchvision cannot take that rule over: its libjpeg
decoder reads on to an end marker after every whole scan too (jpeg_finish_decompress), so it
refuses whole and cut photos alike. Here the untouched bytes are decoded, and a photo goes to
`vision.io.decode_image` (the CPU path's decode, so the same pixels or the same refusal) where
the decoder fails, or where a one-scan JPEG's last pixel has libjpeg's fill grey (what it gives
every block after the data ran out, so a photo cut short ends in it). Not caught: a cut inside
the last MCU (at most 16 x 16 pixels wrong), and CMYK files (their fill is not grey); some
whole photos ending in that grey take the CPU decode for nothing. nvJPEG's behaviour on a cut
stream is unverified (no GPU was at hand): if it fails, the photo goes to vision.io as above;
if it fills with libjpeg's grey, the check catches it; if it fills with anything else, the half
photo is scored, as before this check.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from shanyraq.errors import ImageError
from vision.bulk import PhotoBytes, Scored, failure

if TYPE_CHECKING:
    import torch

    from vision.artifact import ModelArtifact, Preprocessing
    from vision.engine import EngineConfig

logger = logging.getLogger(__name__)

Device = Literal["cpu", "cuda"]
_LETTERBOX_GREY = 114  # as vision.preprocess pads
# libjpeg decodes every block after a scan's data ran out as all-zero coefficients: luma 128,
# whatever chroma its neighbours blend in; RGB rounding moves the luma recomputed from it by
# under 1. 2 grey levels leave room, at the cost of a CPU decode for some whole photos.
_FILL_LUMA, _FILL_LUMA_TOLERANCE = 128.0, 2.0
_LUMA_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601, as JPEG's YCbCr


# --- pure tensor maths (device-agnostic; checked against vision.preprocess) ----------------


def _area_axis(x: torch.Tensor, out: int, dim: int) -> torch.Tensor:
    """Exact area (box) resampling along `dim`: the mean of the input under each output cell.

    Integrates the piecewise-constant signal through a cumulative sum, so any scale costs
    O(input) - what cv2.INTER_AREA computes when shrinking.
    """
    import torch

    n_in = x.shape[dim]
    if out == n_in:
        return x
    scale = n_in / out
    zero = torch.zeros_like(x.narrow(dim, 0, 1))
    cumulative = torch.cat([zero, torch.cumsum(x, dim=dim)], dim=dim)
    edges = torch.arange(out + 1, device=x.device, dtype=torch.float64) * scale
    index = edges.floor().clamp(max=n_in - 1).long()
    frac = (edges - index).to(x.dtype)
    shape = [1] * x.dim()
    shape[dim] = out + 1
    low = cumulative.index_select(dim, index)
    high = cumulative.index_select(dim, index + 1)
    integral = low + frac.view(shape) * (high - low)
    return (integral.narrow(dim, 1, out) - integral.narrow(dim, 0, out)) / scale


def _area_enlarge_axis(x: torch.Tensor, out: int, dim: int) -> torch.Tensor:
    """cv2.INTER_AREA along an axis that does not shrink on both: its pixel-overlap linear rule."""
    import torch

    n_in = x.shape[dim]
    if out == n_in:
        return x
    scale, inv_scale = n_in / out, out / n_in
    dx = torch.arange(out, device=x.device, dtype=torch.float64)
    sx = torch.floor(dx * scale)
    fx = (dx + 1) - (sx + 1) * inv_scale
    fx = torch.where(fx <= 0, torch.zeros_like(fx), fx - torch.floor(fx))
    low = sx.long().clamp(max=n_in - 1)
    high = (low + 1).clamp(max=n_in - 1)
    shape = [1] * x.dim()
    shape[dim] = out
    weight = fx.to(x.dtype).view(shape)
    return x.index_select(dim, low) * (1 - weight) + x.index_select(dim, high) * weight


def _grow(x: torch.Tensor, height: int, width: int, mode: str) -> torch.Tensor:
    """Enlarge (no axis shrinks) with the spec's filter, as cv2 does."""
    import torch.nn.functional as F

    if mode == "area":
        return _area_enlarge_axis(_area_enlarge_axis(x, height, 2), width, 3)
    return F.interpolate(x, size=(height, width), mode=mode, align_corners=False)


def _resample(x: torch.Tensor, height: int, width: int, *, mode: str) -> torch.Tensor:
    """(N, 3, H, W) float 0..255 -> (N, 3, height, width) uint8, rounded as cv2 rounds; judged
    per axis as vision.preprocess judges it (area where an axis shrinks, `mode` where it grows)."""
    import torch

    in_h, in_w = x.shape[2], x.shape[3]
    if height <= in_h and width <= in_w:
        # Centred values keep the float32 cumulative sums small, hence exact enough.
        y = _area_axis(_area_axis(x - 128.0, height, 2), width, 3) + 128.0
    elif height >= in_h and width >= in_w:
        y = _grow(x, height, width, mode)
    else:  # one axis shrinks, the other grows: the shrinking one first, rounded to 8 bits
        axis, out = (3, width) if width < in_w else (2, height)
        narrowed = torch.round(_area_axis(x - 128.0, out, axis) + 128.0).clamp_(0, 255)
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
    scale = size / max(height, width)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    canvas = torch.full((3, size, size), _LETTERBOX_GREY, dtype=torch.uint8, device=chw.device)
    top, left = (size - new_h) // 2, (size - new_w) // 2
    canvas[:, top : top + new_h, left : left + new_w] = resample(new_h, new_w)
    return canvas


def normalize_tensor(batch: torch.Tensor, spec: Preprocessing) -> torch.Tensor:
    """(N, 3, S, S) uint8 -> float32 with the spec's mean and std (as vision.preprocess)."""
    import torch

    mean = torch.tensor(spec.mean, dtype=torch.float32, device=batch.device) * 255.0
    inv_std = 1.0 / (torch.tensor(spec.std, dtype=torch.float32, device=batch.device) * 255.0)
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


def jpeg_header(data: bytes, *, max_pixels: int) -> int:
    """A stored JPEG's EXIF orientation, after checking its pixel count from the header only."""
    # The one place image headers are judged, and orientation read, as on the CPU path.
    from vision.io import check_pixel_limit, exif_orientation, open_header

    image = open_header(data, "jpeg", max_pixels=max_pixels)
    check_pixel_limit(*image.size, max_pixels=max_pixels)
    return exif_orientation(image) or 1  # malformed: left as stored, as vision.io leaves it


def ends_in_fill_grey(images: list[torch.Tensor]) -> list[bool]:
    """Per decoded (3, H, W) uint8 image in stored orientation: is its last pixel (in the last
    block decoded) libjpeg's grey for blocks it had no data for? One transfer for the batch."""
    import torch

    if not images:
        return []
    last = torch.stack([image[:, -1, -1] for image in images]).float()
    luma = last @ torch.tensor(_LUMA_WEIGHTS, dtype=torch.float32, device=last.device)
    return ((luma - _FILL_LUMA).abs() <= _FILL_LUMA_TOLERANCE).tolist()


@dataclass
class _Prepared:
    batch: list[PhotoBytes]
    pixels: Any  # torch.Tensor (n_ok, 3, S, S) float32/float16 on the scorer's device
    ok: list[int]  # indices into batch that have a row in `pixels`
    errors: dict[int, Exception]
    ready: Any = None  # torch.cuda.Event recorded after the batch's last GPU operation


class TensorBytesScorer:
    """JPEG bytes -> scores with tensors on one device; "cuda" is the GPU path (see module doc)."""

    def __init__(
        self, folder: Path, *, device: Device, config: EngineConfig, max_pixels: int
    ) -> None:
        from shanyraq.taxonomy import get_taxonomy
        from vision.artifact import check_outputs, read_artifact

        self.device = device
        self.name = "gpu" if device == "cuda" else "torch-cpu"
        self.config = config
        self.max_pixels = max_pixels
        taxonomy = get_taxonomy()
        self.artifact: ModelArtifact = read_artifact(folder)
        self.artifact.check_taxonomy(taxonomy)
        self.model_version = self.artifact.model_version
        self._not_dwelling = taxonomy.not_dwelling
        self._session = _open_session(folder, self.artifact, device=device, config=config)
        check_outputs(self._session, self.artifact)
        self.provider = self._session.get_providers()[0]
        half = self._session.get_inputs()[0].type == "tensor(float16)"
        self._half = half
        self._stream: Any = None
        if device == "cuda":
            import torch

            self._stream = torch.cuda.Stream(device=config.runtime.device_id)

    def prepare(self, batch: list[PhotoBytes]) -> _Prepared:
        import torch

        context = torch.cuda.stream(self._stream) if self._stream else contextlib.nullcontext()
        with context:
            images, errors = self._decode(batch)
            ok = sorted(images)
            spec = self.artifact.preprocessing
            resized = [resize_tensor(images[i], spec) for i in ok]
            shape = (0, 3, spec.size, spec.size)
            stacked = torch.stack(resized) if resized else torch.zeros(shape, dtype=torch.uint8)
            pixels = normalize_tensor(stacked.to(self.device), spec)
            pixels = pixels.half() if self._half else pixels
            prepared = _Prepared(batch, pixels.contiguous(), ok, errors)
            if self._stream is not None:
                prepared.ready = torch.cuda.Event()
                prepared.ready.record(self._stream)
        return prepared

    def _decode(self, batch: list[PhotoBytes]) -> tuple[dict[int, Any], dict[int, Exception]]:
        """Upright (3, H, W) uint8 per photo; JPEGs batched on the device, others via vision.io."""
        from vision.completeness import jpeg_scan_end
        from vision.io import sniff_format

        results: dict[int, Any] = {}  # a tensor, or the photo's error
        jpegs: list[tuple[int, int]] = []  # (index, orientation)
        for i, item in enumerate(batch):
            try:
                if sniff_format(item.data) == "jpeg":
                    jpegs.append((i, jpeg_header(item.data, max_pixels=self.max_pixels)))
                    continue
            except Exception as exc:
                results[i] = self._own_failure(item, exc)
                continue
            results[i] = self._via_vision_io(item)
        decoded = self._decode_jpegs([batch[i].data for i, _ in jpegs])
        one_scan = [jpeg_scan_end(batch[i].data) is not None for i, _ in jpegs]
        checked = [d for d, flag in zip(decoded, one_scan, strict=True) if d is not None and flag]
        filled = iter(ends_in_fill_grey(checked))
        for (i, orientation), image, flag in zip(jpegs, decoded, one_scan, strict=True):
            if image is None or (flag and next(filled)):  # undecodable, or ends as a cut scan
                results[i] = self._via_vision_io(batch[i])
            else:
                results[i] = orient_tensor(image, orientation)
        images = {i: r for i, r in results.items() if not isinstance(r, Exception)}
        errors = {i: r for i, r in results.items() if isinstance(r, Exception)}
        return images, errors

    def _decode_jpegs(self, data: list[bytes]) -> list[Any]:
        """torchvision's decode of each JPEG on the device, in stored orientation; None where
        it fails (one bad file fails the whole call, so then they are decoded one by one)."""
        import torch
        from torchvision.io import ImageReadMode, decode_jpeg

        if not data:
            return []
        tensors = [torch.frombuffer(bytearray(d), dtype=torch.uint8) for d in data]
        try:
            return list(decode_jpeg(tensors, mode=ImageReadMode.RGB, device=self.device))
        except RuntimeError:
            pass
        decoded: list[Any] = []
        for tensor in tensors:
            try:
                decoded.append(decode_jpeg(tensor, mode=ImageReadMode.RGB, device=self.device))
            except RuntimeError:
                decoded.append(None)
        return decoded

    def _via_vision_io(self, item: PhotoBytes) -> Any:
        """Upright (3, H, W) uint8 as the CPU path decodes the photo, or the error it gives."""
        import torch

        from vision.io import decode_image

        try:
            pixels = decode_image(item.data, max_pixels=self.max_pixels).pixels
        except Exception as exc:
            return self._own_failure(item, exc)
        return torch.from_numpy(pixels).permute(2, 0, 1).to(self.device)

    @staticmethod
    def _own_failure(item: PhotoBytes, exc: Exception) -> Exception:
        """An error this photo's bytes caused: its failure only, not the batch's."""
        if not isinstance(exc, ImageError):
            logger.warning("photo %s: undecodable", item.key, exc_info=exc)
        return exc

    def infer(self, prepared: _Prepared) -> list[Scored]:
        outputs = self.run_prepared(prepared)
        from vision.engine import scores_from_outputs

        scores = scores_from_outputs(
            self.artifact, outputs,
            sha256s=[prepared.batch[i].sha256 for i in prepared.ok],
            verdicts=[prepared.batch[i].quality for i in prepared.ok],
            abstain=self.config.abstain, not_dwelling=self._not_dwelling,
        )  # fmt: skip
        by_index = dict(zip(prepared.ok, scores, strict=True))
        return [
            Scored(item.key, by_index[i]) if i in by_index else failure(item, prepared.errors[i])
            for i, item in enumerate(prepared.batch)
        ]

    def run_prepared(self, prepared: _Prepared) -> dict[str, np.ndarray]:
        names = self.artifact.onnx_outputs
        pixels = prepared.pixels
        if pixels.shape[0] == 0:
            return {}
        if self.device == "cpu":
            outs = self._session.run(names, {"pixels": pixels.numpy()})
        else:
            prepared.ready.synchronize()  # the batch's decode/resize stream has finished
            binding = self._session.io_binding()
            binding.bind_input(
                name="pixels", device_type="cuda", device_id=self.config.runtime.device_id,
                element_type=np.float16 if self._half else np.float32,
                shape=tuple(pixels.shape), buffer_ptr=pixels.data_ptr(),
            )  # fmt: skip
            for name in names:
                binding.bind_output(name, "cpu")  # small: logits and embeddings
            self._session.run_with_iobinding(binding)
            outs = binding.copy_outputs_to_cpu()
        return {n: np.asarray(o, dtype=np.float32) for n, o in zip(names, outs, strict=True)}


def _open_session(
    folder: Path, artifact: ModelArtifact, *, device: Device, config: EngineConfig
) -> Any:
    from vision.artifact import onnx_file, open_onnx
    from vision.engine import session_options
    from vision.providers import ORT_NAMES, plan_providers
    from vision.trt_cache import tensorrt_options_for

    runtime = config.runtime
    model_path = onnx_file(folder)
    if device == "cpu":
        providers: list[tuple[str, dict[str, Any]]] = [(ORT_NAMES["cpu"], {})]
    else:
        plan = plan_providers(runtime.providers, device_id=runtime.device_id, fp16=runtime.fp16)
        providers = list(plan.providers)
        if runtime.trt_cache_dir is not None and providers[0][0] == ORT_NAMES["tensorrt"]:
            providers[0] = (ORT_NAMES["tensorrt"], tensorrt_options_for(
                model_path, runtime.trt_cache_dir, input_name="pixels",
                input_size=artifact.preprocessing.size, device_id=runtime.device_id,
                fp16=runtime.fp16,
            ))  # fmt: skip
    return open_onnx(
        model_path, sess_options=session_options(runtime),
        providers=[name for name, _ in providers],
        provider_options=[options for _, options in providers],
    )  # fmt: skip


def gpu_usable(device_id: int = 0) -> tuple[bool, str]:
    """(True, "") when the GPU path can run here, else (False, why not)."""
    try:
        import torch
    except ImportError:
        return False, "PyTorch is not installed"
    if not torch.cuda.is_available() or torch.cuda.device_count() <= device_id:
        return False, "no CUDA GPU visible to PyTorch"
    from vision.providers import probe

    reasons = probe()
    if reasons.get("cuda") and reasons.get("tensorrt"):
        return False, f"ONNX Runtime cannot use the GPU: {reasons['cuda']}"
    return True, ""
