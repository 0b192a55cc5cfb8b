"""TensorRT engine cache: one folder per (model bytes, GPU, TensorRT and ONNX Runtime versions).

Building a TensorRT fp16 engine for a model takes minutes; ONNX Runtime's TensorRT provider
can save the engine it built and load it on the next start. An engine is only valid for the
exact ONNX graph, GPU model and library versions it was built with, so the folder name is a
key over all four, and `provider_options` hands ONNX Runtime that folder. A `key.json` in each
folder says what the key was made of, for whoever finds the folder later.

Processes sharing the folder (service workers, a `rescore` run) take turns: each holds
`engine_build_lock` (vision.trt_folders) while it creates its session, so the second loads
the first's engine rather than build it again into the same files. Each use stamps its
folders (their modified time), and folders of other models and profiles unused for
`trt_cache_keep_unused_days` (configs/engine.yaml; `KEEP_UNUSED_DAYS` for callers that name
none) are removed (vision.trt_folders `prune_cache`).
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import logging
import os
import re
from contextlib import suppress
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

from shanyraq.atomic import atomic_file
from vision.providers import CUDA_DRIVER_LIBS, load_any, provider_libraries
from vision.trt_folders import prune_cache

logger = logging.getLogger(__name__)

KEY_FILE = "key.json"
KEEP_UNUSED_DAYS = 30.0
# Dynamic batch: the engine is built for batches from 1 to max_batch (opt = the usual size).
DEFAULT_MAX_BATCH, DEFAULT_OPT_BATCH = 256, 64
_CHUNK = 1 << 20


@dataclass(frozen=True)
class CacheKey:
    """What a TensorRT engine is valid for."""

    model_sha256: str
    gpu_name: str
    tensorrt_version: str
    onnxruntime_version: str

    def folder_name(self) -> str:
        digest = hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()
        gpu = re.sub(r"[^a-z0-9]+", "-", self.gpu_name.lower()).strip("-") or "gpu"
        # Readable prefix for people, full digest of every part for correctness.
        return f"{self.model_sha256[:12]}-{gpu[:40]}-{digest[:16]}"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def gpu_name(device_id: int = 0) -> str:
    """The CUDA device's product name (e.g. "NVIDIA H100 80GB HBM3"), or "none".

    Asked of the CUDA driver, which ONNX Runtime runs on; PyTorch only when no driver answers.
    PyTorch may be absent or see no GPU (a CPU build, a CUDA newer than the driver) where ONNX
    Runtime still uses one: "none" on every GPU would let one GPU's engines load on another."""
    name = _driver_gpu_name(device_id)
    if name:
        return name
    try:
        import torch

        if torch.cuda.is_available():
            return str(torch.cuda.get_device_name(device_id))
    except Exception:  # torch without CUDA support, or a driver problem: no GPU to key on
        logger.debug("could not read the GPU name", exc_info=True)
    return "none"


def _driver_gpu_name(device_id: int) -> str:
    """The name the CUDA driver gives device `device_id`; "" without a driver or device."""
    driver = load_any(CUDA_DRIVER_LIBS)
    if driver is None:
        return ""
    device, name = ctypes.c_int(0), ctypes.create_string_buffer(256)
    try:
        if driver.cuInit(0) != 0 or driver.cuDeviceGet(ctypes.byref(device), device_id) != 0:
            return ""
        if driver.cuDeviceGetName(name, len(name), device) != 0:
            return ""
    except (AttributeError, OSError):
        return ""
    return name.value.decode(errors="replace").strip()


def tensorrt_version() -> str:
    """The TensorRT library version (from the `tensorrt` module or libnvinfer), or "none"."""
    try:
        import tensorrt

        return str(tensorrt.__version__)
    except ImportError:
        pass
    # The libnvinfer the installed TensorRT provider links against first: a build for a new
    # major (libnvinfer.so.11) would otherwise read "none", and a TensorRT upgrade keep the key.
    linked = [name for name in provider_libraries("tensorrt") or () if "libnvinfer.so" in name]
    for soname in dict.fromkeys([*linked, "libnvinfer.so.10", "libnvinfer.so.8", "libnvinfer.so"]):
        try:
            library = ctypes.CDLL(soname)
        except OSError:
            continue
        # getInferLibVersion encodes major*1000 + minor*100 + patch (TensorRT < 10) or
        # major*10000 + minor*100 + patch (TensorRT >= 10).
        number = int(library.getInferLibVersion())
        if number >= 10000:
            return f"{number // 10000}.{number // 100 % 100}.{number % 100}"
        return f"{number // 1000}.{number // 100 % 10}.{number % 100}"
    return "none"


def onnxruntime_version() -> str:
    import onnxruntime

    return str(onnxruntime.__version__)


def cache_key(model_path: Path, *, device_id: int = 0) -> CacheKey:
    return CacheKey(
        model_sha256=file_sha256(model_path),
        gpu_name=gpu_name(device_id),
        tensorrt_version=tensorrt_version(),
        onnxruntime_version=onnxruntime_version(),
    )


def cache_folder(root: Path, key: CacheKey) -> Path:
    """root/<key folder>, created, with key.json saying what the key was made of."""
    folder = root / key.folder_name()
    folder.mkdir(parents=True, exist_ok=True)
    _write_key(folder, key)
    return folder


def _write_key(folder: Path, key: CacheKey) -> None:
    """key.json, written whole (a temporary file renamed over it) unless it already says `key`.
    It is for people: a full disk or a read-only prebuilt cache is a warning, never a reason
    not to load the model (ONNX Runtime builds or loads its engines regardless)."""
    key_path = folder / KEY_FILE
    try:
        if json.loads(key_path.read_text(encoding="utf-8")) == asdict(key):
            return
    except (OSError, ValueError):  # missing, or cut short by a crash or a full disk: rewrite
        pass
    try:
        with atomic_file(key_path) as temporary:  # a concurrent reader sees a whole file
            temporary.write_text(json.dumps(asdict(key), indent=2, sort_keys=True), "utf-8")
    except OSError as error:
        logger.warning(
            "could not write %s (%s); the engine cache is used without it", key_path, error
        )


def provider_options(
    folder: Path | None,
    *,
    input_name: str,
    input_size: int,
    device_id: int = 0,
    fp16: bool = True,
    max_batch: int = DEFAULT_MAX_BATCH,
    opt_batch: int = DEFAULT_OPT_BATCH,
    workspace_bytes: int = 4 << 30,
) -> dict[str, Any]:
    """Options for ONNX Runtime's TensorrtExecutionProvider that build once and reuse `folder`
    (None: no cache, the engine is built at each start)."""
    cache: dict[str, Any] = {}
    if folder is not None:
        cache = {
            "trt_engine_cache_enable": True,
            "trt_engine_cache_path": str(folder),
            "trt_timing_cache_enable": True,
            "trt_timing_cache_path": str(folder),
        }
    return {
        "device_id": device_id,
        "trt_fp16_enable": fp16,
        **cache,
        "trt_max_workspace_size": workspace_bytes,
        **profile_options(
            input_name=input_name, input_size=input_size, max_batch=max_batch, opt_batch=opt_batch
        ),
    }


def profile_options(
    *, input_name: str, input_size: int, max_batch: int, opt_batch: int = DEFAULT_OPT_BATCH
) -> dict[str, str]:
    """Explicit shape profiles (batch 1 to `max_batch`): without them TensorRT builds its
    engine for the first batch size it sees and rebuilds it (minutes) for each new one."""
    if not 1 <= opt_batch <= max_batch:
        raise ValueError(f"need 1 <= opt_batch ({opt_batch}) <= max_batch ({max_batch})")

    def shape(batch: int) -> str:
        return f"{input_name}:{batch}x3x{input_size}x{input_size}"

    return {
        "trt_profile_min_shapes": shape(1),
        "trt_profile_opt_shapes": shape(opt_batch),
        "trt_profile_max_shapes": shape(max_batch),
    }


def tensorrt_options_for(
    model_path: Path,
    root: Path,
    *,
    input_name: str,
    input_size: int,
    device_id: int = 0,
    fp16: bool = True,
    max_batch: int = DEFAULT_MAX_BATCH,
    keep_unused_days: float | None = KEEP_UNUSED_DAYS,
) -> dict[str, Any]:
    """The cache folder for this model on this GPU and batch profile, and the provider options
    that use it. One subfolder per profile: ONNX Runtime rebuilds (minutes) an engine cached
    for another profile and writes it over the old one, so two callers with different largest
    batches (vision.gpu, vision.session with max_photos_per_call above 256) sharing one folder
    rebuilt each other's engine at every start. Folders of other models and profiles unused
    for `keep_unused_days` are removed (None: kept). A cache folder that cannot be made is a
    warning: the engine is then built at each start."""
    key = cache_key(model_path, device_id=device_id)
    options = partial(
        provider_options, input_name=input_name, input_size=input_size, device_id=device_id,
        fp16=fp16, max_batch=max_batch, opt_batch=min(DEFAULT_OPT_BATCH, max_batch),
    )  # fmt: skip
    try:
        key_folder = cache_folder(root, key)
        folder = key_folder / f"batch-1-to-{max_batch}-{input_size}px"
        folder.mkdir(exist_ok=True)
    except OSError as error:
        logger.warning(
            "cannot create the TensorRT engine cache folder under %s (%s); the engine is "
            "built at every start", root, error.strerror or error,
        )  # fmt: skip
        return options(None)
    for used in (key_folder, folder):  # the stamp prune_cache goes by
        with suppress(OSError):  # a read-only prebuilt cache: nothing to stamp or to prune
            os.utime(used)
    logger.info("TensorRT engine cache: %s", folder)
    if keep_unused_days is not None:
        prune_cache(root, folder, unused_days=keep_unused_days)
    return options(folder)
