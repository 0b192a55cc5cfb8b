"""Which ONNX Runtime execution provider to use: TensorRT, then CUDA, then CPU, each if usable.

`onnxruntime-gpu` lists the CUDA and TensorRT providers on every machine, GPU or not, and
asking for one that cannot start prints a screen of errors before falling back. So each GPU
provider is probed first, quietly, from the outside: NVIDIA device files, then the CUDA
driver library answering `cuInit` with at least one device, then the libraries the installed
provider itself links against (read from its ELF header, so the CUDA and TensorRT major versions
are the ones this onnxruntime build needs: CUDA 12 libraries do not satisfy a CUDA 13 build).
Only a provider that passes is requested, and sessions log at error level or above only when a
caller asks for it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import logging
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

logger = logging.getLogger(__name__)

ProviderName = Literal["tensorrt", "cuda", "cpu"]
ORT_NAMES: dict[str, str] = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
SHORT_NAMES: dict[str, str] = {ort_name: short for short, ort_name in ORT_NAMES.items()}
_SHORT: dict[str, ProviderName] = {
    "TensorrtExecutionProvider": "tensorrt",
    "CUDAExecutionProvider": "cuda",
    "CPUExecutionProvider": "cpu",
}
ORT_LOG_FATAL = 4  # ONNX Runtime severities: 0 verbose, 1 info, 2 warning, 3 error, 4 fatal

# sonames tried in order; the first that loads is enough.
CUDA_DRIVER_LIBS = ("libcuda.so.1", "libcuda.so", "nvcuda.dll")
# The provider libraries onnxruntime-gpu ships in onnxruntime/capi/.
_PROVIDER_FILES = {
    "cuda": "libonnxruntime_providers_cuda.so",
    "tensorrt": "libonnxruntime_providers_tensorrt.so",
}
# Loaded at run time rather than linked: cuDNN 9 (onnxruntime-gpu 1.19 and later).
_RUNTIME_LIBS = {"cuda": ("libcudnn.so.9",), "tensorrt": ()}
# Present on every Linux system; not worth a load attempt.
_SYSTEM_LIBS = ("libc.so", "libm.so", "libdl.so", "librt.so", "libpthread.so", "libstdc++.so",
                "libgcc_s.so", "ld-linux")  # fmt: skip
_SHT_DYNAMIC, _DT_NEEDED = 6, 1


@dataclass(frozen=True)
class ProviderPlan:
    """The providers to hand to an InferenceSession, best first, and why others were skipped."""

    name: ProviderName
    providers: list[tuple[str, dict[str, Any]]]
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def on_gpu(self) -> bool:
        return self.name != "cpu"


def load_any(names: tuple[str, ...]) -> ctypes.CDLL | None:
    """The first of the shared libraries `names` that loads, or None when none does."""
    for name in names:
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    return None


# The name this module's probes call through: tests replace it to fake a GPU machine's libraries.
_load_any = load_any


def _nvidia_device_files() -> bool:
    return bool(glob.glob("/dev/nvidia[0-9]*")) or os.path.exists("/dev/dxg")  # dxg: WSL2


@lru_cache(maxsize=1)
def cuda_device_count() -> int:
    """CUDA devices the driver sees; 0 without device files, driver or devices. Never raises."""
    if os.name != "nt" and not _nvidia_device_files():
        return 0
    driver = _load_any(CUDA_DRIVER_LIBS)
    if driver is None:
        return 0
    try:
        if driver.cuInit(0) != 0:
            return 0
        count = ctypes.c_int(0)
        if driver.cuDeviceGetCount(ctypes.byref(count)) != 0:
            return 0
        return int(count.value)
    except (AttributeError, OSError):
        return 0


def _preload_nvidia_wheels() -> None:
    """Let ORT find CUDA/cuDNN installed as pip wheels (nvidia-*), if any; silent otherwise."""
    import onnxruntime as ort

    preload = getattr(ort, "preload_dlls", None)
    if preload is None:
        return
    try:
        preload(directory="")
    except Exception:  # preloading is a convenience; the probe below decides
        logger.debug("onnxruntime.preload_dlls failed", exc_info=True)


def elf_needed(path: Path) -> list[str] | None:
    """The libraries a 64-bit little-endian ELF file links against (DT_NEEDED), in order;
    None when `path` is missing or not such a file (the provider's needs are then unknown)."""
    try:
        with path.open("rb") as file:
            header = file.read(64)
            if header[:6] != b"\x7fELF\x02\x01":
                return None
            (section_offset,) = struct.unpack_from("<Q", header, 0x28)
            entry_size, count = struct.unpack_from("<HH", header, 0x3A)
            file.seek(section_offset)
            table = file.read(entry_size * count)
            sections = [
                struct.unpack_from("<IIQQQQIIQQ", table, i * entry_size) for i in range(count)
            ]
            dynamic = next(section for section in sections if section[1] == _SHT_DYNAMIC)
            strings = sections[dynamic[6]]
            file.seek(strings[4])
            names = file.read(strings[5])
            file.seek(dynamic[4])
            entries = file.read(dynamic[5])
    except (OSError, StopIteration, IndexError, struct.error):
        return None
    needed = []
    for tag, value in struct.iter_unpack("<qQ", entries[: len(entries) // 16 * 16]):
        if tag == 0:
            break
        if tag == _DT_NEEDED:
            try:
                needed.append(names[value : names.index(b"\0", value)].decode())
            except ValueError:  # a damaged string table: the needs are unknown
                return None
    return needed


def provider_libraries(short: str) -> list[str] | None:
    """Shared libraries the installed `short` provider needs beyond the base system; None when
    the provider library cannot be read."""
    import onnxruntime as ort

    path = Path(ort.__file__).parent / "capi" / _PROVIDER_FILES[short]
    needed = elf_needed(path)
    if needed is None:
        return None
    linked = [name for name in needed if not name.startswith(_SYSTEM_LIBS)]
    return linked + [name for name in _RUNTIME_LIBS[short] if name not in linked]


def _missing_libraries(short: str) -> str:
    """ "" when every library the `short` provider needs loads, else the reason it cannot run."""
    import onnxruntime as ort

    needed = provider_libraries(short)
    if needed is None:
        return f"cannot read the libraries {_PROVIDER_FILES[short]} needs"
    missing = [name for name in needed if _load_any((name,)) is None]
    if not missing:
        return ""
    from onnxruntime.capi import build_and_package_info

    label = "CUDA" if short == "cuda" else "TensorRT"
    built_for = getattr(build_and_package_info, "cuda_version", "?")
    return (
        f"{label} libraries not found: {', '.join(missing)} "
        f"(onnxruntime {ort.__version__} is built for CUDA {built_for})"
    )


@lru_cache(maxsize=1)
def probe() -> dict[str, str]:
    """Each provider's name mapped to "" when usable, else the reason it is not."""
    import onnxruntime as ort

    available = set(ort.get_available_providers())
    reasons: dict[str, str] = {"cpu": ""}
    gpu_reason = "" if cuda_device_count() > 0 else "no CUDA GPU on this machine"
    if not gpu_reason:
        _preload_nvidia_wheels()
    for short in ("cuda", "tensorrt"):
        if ORT_NAMES[short] not in available:
            reasons[short] = "this onnxruntime build has no such provider"
        else:
            reasons[short] = gpu_reason
    if not reasons["cuda"]:
        reasons["cuda"] = _missing_libraries("cuda")
    if not reasons["tensorrt"]:
        if reasons["cuda"]:  # TensorRT runs on top of the CUDA provider's libraries
            reasons["tensorrt"] = reasons["cuda"]
        else:
            reasons["tensorrt"] = _missing_libraries("tensorrt")
    return reasons


def plan_providers(
    preference: Sequence[ProviderName], *, device_id: int = 0, fp16: bool = False
) -> ProviderPlan:
    """The usable providers from `preference` (best first); CPU is always the last resort.

    TensorRT gets no engine cache here: ONNX Runtime names a cached engine by the graph's file
    name and tensor names, not its weights, so a cache must be keyed on the model, which
    vision.trt_cache.tensorrt_options_for does (with the batch profiles the engine is built
    for); vision.session and vision.gpu replace these TensorRT options with its."""
    reasons = dict(probe())
    devices = cuda_device_count()
    if 0 < devices <= device_id:  # ORT would print errors for a missing device, then use CPU
        for short in ("cuda", "tensorrt"):
            reasons[short] = reasons[short] or (
                f"device_id {device_id} asked for, but this machine has {devices} CUDA device(s) "
                f"(0 to {devices - 1})"
            )
    chosen: list[tuple[str, dict[str, Any]]] = []
    skipped: dict[str, str] = {}
    for short in dict.fromkeys(preference):  # a name listed twice is asked for once
        if reasons.get(short):
            skipped[short] = reasons[short]
            continue
        chosen.append((ORT_NAMES[short], _options(short, device_id, fp16)))
    if not any(name == ORT_NAMES["cpu"] for name, _ in chosen):
        chosen.append((ORT_NAMES["cpu"], {}))
    first = _SHORT[chosen[0][0]]
    for skipped_name, why in skipped.items():
        logger.info("execution provider %s not used: %s", skipped_name, why)
    return ProviderPlan(name=first, providers=chosen, skipped=skipped)


def _options(short: str, device_id: int, fp16: bool) -> dict[str, Any]:
    if short == "cuda":
        return {"device_id": device_id, "cudnn_conv_algo_search": "HEURISTIC"}
    if short == "tensorrt":
        return {"device_id": device_id, "trt_fp16_enable": fp16}
    return {}
