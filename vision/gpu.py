"""The GPU scoring path: JPEG bytes decoded, resized and scored without leaving the GPU.

nvJPEG decodes a whole batch on the GPU (`torchvision.io.decode_jpeg(..., device="cuda")`);
resize and normalisation run there with `vision.preprocess`'s semantics through
`vision.tensor_preprocess` (the very pixels where it shrinks, within a grey level where it
grows); ONNX Runtime's TensorRT or CUDA provider reads the batch in place through IO
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
every block after the data ran out, so a photo cut short ends in it). A CMYK (or YCCK) JPEG's
fill is no grey, and nvJPEG's CMYK support is unverified: every one goes to vision.io, never to
the device. So does a one-scan JPEG whose scan `jpeg_scan_end` ends where a trailing run of zero
bytes begins (a file cut and zero-filled to its size): nvJPEG decodes the zeros as noise, with
no error and no fill grey, and vision.io refuses it (or decodes a whole scan that only lost its
end marker to the zeros). Not caught: a cut inside the last MCU (at most 16 x 16 pixels
wrong); some whole photos ending in that grey take the CPU decode for nothing. nvJPEG's
behaviour on a cut stream is unverified (no GPU was at hand): if it fails, the photo goes to
vision.io as above; if it fills with libjpeg's grey, the check catches it; if it fills with
anything else, the half photo is scored, as before this check.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from shanyraq.errors import ImageError
from vision.artifact import INPUT_NAME
from vision.bulk import PhotoBytes, Scored, failure
from vision.tensor_preprocess import normalize_tensor, orient_tensor, resize_tensor

if TYPE_CHECKING:
    import torch

    from vision.artifact import ModelArtifact
    from vision.engine import EngineConfig

logger = logging.getLogger(__name__)

Device = Literal["cpu", "cuda"]
# libjpeg decodes every block after a scan's data ran out as all-zero coefficients: luma 128,
# whatever chroma its neighbours blend in; RGB rounding moves the luma recomputed from it by
# under 1. 2 grey levels leave room, at the cost of a CPU decode for some whole photos.
_FILL_LUMA, _FILL_LUMA_TOLERANCE = 128.0, 2.0
_LUMA_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601, as JPEG's YCbCr
# Pillow's modes of the JPEGs whose fill is that grey (1 or 3 components); a 4-component one
# ("CMYK": CMYK or YCCK) is decoded by vision.io, whose cut-scan rule holds for it.
_FILL_GREY_MODES = ("L", "RGB")


@dataclass(frozen=True)
class JpegHeader:
    orientation: int  # EXIF, 1..8; 1 where it is missing or malformed (as vision.io leaves it)
    mode: str  # Pillow's mode from the frame header: "L", "RGB" or "CMYK" (4 components)
    # An embedded RGB profile other than sRGB: vision.io converts its colours, nvJPEG does not.
    converts_colour: bool = False


def jpeg_header(data: bytes, *, max_pixels: int) -> JpegHeader:
    """A stored JPEG's EXIF orientation and mode, after checking its pixel count from the header
    only."""
    # The one place image headers are judged, and orientation read, as on the CPU path.
    from vision.io import check_pixel_limit, exif_orientation, needs_srgb_conversion, open_header

    image = open_header(data, "jpeg", max_pixels=max_pixels)
    check_pixel_limit(*image.size, max_pixels=max_pixels)
    return JpegHeader(exif_orientation(image) or 1, image.mode, needs_srgb_conversion(image))


def ends_in_fill_grey(images: list[torch.Tensor]) -> list[bool]:
    """Per decoded (3, H, W) uint8 image in stored orientation: is its last pixel (in the last
    block decoded) libjpeg's grey for blocks it had no data for? One transfer for the batch."""
    import torch

    if not images:
        return []
    last = torch.stack([image[:, -1, -1] for image in images]).float()
    luma = last @ torch.tensor(_LUMA_WEIGHTS, dtype=torch.float32, device=last.device)
    return ((luma - _FILL_LUMA).abs() <= _FILL_LUMA_TOLERANCE).tolist()


def zero_filled(data: bytes, scan_end: int | None) -> bool:
    """Does a one-scan JPEG's scan end (`jpeg_scan_end(data)`) where a trailing run of zero
    bytes begins? Its other ends are the file's end and an FF (its end marker, or fill bytes)."""
    return scan_end is not None and scan_end < len(data) and data[scan_end] == 0


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
        """Upright (3, H, W) uint8 per photo; JPEGs batched on the device, other photos (CMYK
        and zero-filled JPEGs among them) via vision.io."""
        from vision.completeness import jpeg_scan_end

        results: dict[int, Any] = {}  # a tensor, or the photo's error
        jpegs: list[tuple[int, int]] = []  # (index, orientation)
        one_scan: list[bool] = []  # per entry of `jpegs`
        for i, item in enumerate(batch):
            try:
                orientation = self._on_device(item.data)
            except Exception as exc:
                results[i] = self._own_failure(item, exc)
                continue
            scan_end = None if orientation is None else jpeg_scan_end(item.data)
            if orientation is None or zero_filled(item.data, scan_end):
                results[i] = self._via_vision_io(item)
            else:
                jpegs.append((i, orientation))
                one_scan.append(scan_end is not None)
        decoded = self._decode_jpegs([batch[i].data for i, _ in jpegs])
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

    def _on_device(self, data: bytes) -> int | None:
        """The EXIF orientation of a JPEG to decode on the device; None for a photo that
        vision.io decodes (not a JPEG, one whose fill is no grey, or one whose colours it
        converts to sRGB). Raises where the header is refused, as the CPU path refuses it."""
        from vision.io import sniff_format

        if sniff_format(data) != "jpeg":
            return None
        header = jpeg_header(data, max_pixels=self.max_pixels)
        on_device = header.mode in _FILL_GREY_MODES and not header.converts_colour
        return header.orientation if on_device else None

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
            outs = self._session.run(names, {INPUT_NAME: pixels.numpy()})
        else:
            prepared.ready.synchronize()  # the batch's decode/resize stream has finished
            binding = self._session.io_binding()
            binding.bind_input(
                name=INPUT_NAME, device_type="cuda", device_id=self.config.runtime.device_id,
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
    from vision.providers import ORT_NAMES, plan_providers
    from vision.session import session_options
    from vision.trt_cache import DEFAULT_MAX_BATCH as MAX_BATCH
    from vision.trt_cache import profile_options, tensorrt_options_for

    runtime = config.runtime
    model_path = onnx_file(folder)
    if device == "cpu":
        providers: list[tuple[str, dict[str, Any]]] = [(ORT_NAMES["cpu"], {})]
    else:
        plan = plan_providers(runtime.providers, device_id=runtime.device_id, fp16=runtime.fp16)
        providers = list(plan.providers)
        size = artifact.preprocessing.size
        if runtime.trt_cache_dir is not None and providers[0][0] == ORT_NAMES["tensorrt"]:
            providers[0] = (ORT_NAMES["tensorrt"], tensorrt_options_for(
                model_path, runtime.trt_cache_dir, input_name="pixels", input_size=size,
                device_id=runtime.device_id, fp16=runtime.fp16,
                keep_unused_days=runtime.trt_cache_keep_unused_days,
            ))  # fmt: skip
        elif providers[0][0] == ORT_NAMES["tensorrt"]:
            # No cache: built at each start, but once for every batch size, as vision.session
            # does (without profiles TensorRT rebuilt it, minutes, for each larger batch).
            profiles = profile_options(input_name="pixels", input_size=size, max_batch=MAX_BATCH)
            providers[0] = (ORT_NAMES["tensorrt"], {**providers[0][1], **profiles})
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
