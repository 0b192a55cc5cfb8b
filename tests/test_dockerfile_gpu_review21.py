"""Dockerfile.gpu's CUDA libraries match the onnxruntime-gpu it installs (review 21): the base
image's CUDA major, the TensorRT wheel's and onnxruntime-gpu's agree, the TensorRT wheel's major
is the one the TensorRT provider links, and the build stops when a provider's library is
missing instead of shipping an image that serves on CPU. No network: only the Dockerfile, the
project metadata and the onnxruntime-gpu installed here are read."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import onnxruntime
import pytest
from onnxruntime.capi import build_and_package_info
from packaging.requirements import Requirement
from packaging.version import Version

from tests.dockerfile_helpers import ROOT, instructions
from vision.providers import elf_needed

CAPI = Path(onnxruntime.__file__).parent / "capi"
ORT_CUDA_MAJOR = int(build_and_package_info.cuda_version.split(".")[0])
PINNED = re.compile(r"(?:tensorrt-cu\d+-libs|onnxruntime-gpu)\b[^\s'\"]*")


def _base_cuda_major() -> int:
    bases = [arg.split()[0] for op, arg in instructions() if op == "FROM"]
    assert bases, "Dockerfile.gpu has no FROM"
    match = re.fullmatch(r"nvidia/cuda:(\d+)\.\d+(?:\.\d+)?-cudnn-runtime-\S+", bases[-1])
    assert match, f"not an nvidia/cuda cuDNN runtime image: {bases[-1]}"
    return int(match[1])


def _image_requirements() -> dict[str, Requirement]:
    """The TensorRT and onnxruntime-gpu requirements the image's pip installs name."""
    installs = " ".join(arg for op, arg in instructions() if op == "RUN" and "pip install" in arg)
    found = [Requirement(text) for text in PINNED.findall(installs)]
    return {requirement.name: requirement for requirement in found}


def _tensorrt_wheel() -> tuple[int, Requirement]:
    wheels = []
    for name, requirement in _image_requirements().items():
        if match := re.fullmatch(r"tensorrt-cu(\d+)-libs", name):
            wheels.append((int(match[1]), requirement))
    assert len(wheels) == 1, f"one tensorrt-cuNN-libs wheel expected, found {wheels}"
    return wheels[0]


def _linked_major(provider: str, prefix: str) -> int | None:
    needed = elf_needed(CAPI / f"libonnxruntime_providers_{provider}.so")
    if needed is None:
        return None
    majors = [int(name.removeprefix(prefix)) for name in needed if name.startswith(prefix)]
    assert len(majors) == 1, needed
    return majors[0]


def test_tensorrt_wheel_is_built_for_the_base_image_cuda():
    wheel_major, _ = _tensorrt_wheel()
    assert wheel_major == _base_cuda_major(), "TensorRT wheel and base image differ in CUDA"


def test_tensorrt_wheel_major_is_the_one_the_provider_links():
    nvinfer = _linked_major("tensorrt", "libnvinfer.so.")
    if nvinfer is None:
        pytest.skip("this onnxruntime-gpu has no TensorRT provider")
    _, wheel = _tensorrt_wheel()
    assert Version(f"{nvinfer + 1}") not in wheel.specifier, (
        f"{wheel} admits TensorRT {nvinfer + 1}"
    )
    assert Version(f"{nvinfer - 1}.999") not in wheel.specifier, f"{wheel} admits an older one"


def test_image_onnxruntime_gpu_is_built_for_the_base_image_cuda():
    installed = Version(onnxruntime.__version__)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    wanted = [Requirement(text) for text in project if text.startswith("onnxruntime-gpu")]
    pinned = _image_requirements().get("onnxruntime-gpu")
    # The image installs what the project asks for, as the development environment does.
    for requirement in [*wanted, *([pinned] if pinned else [])]:
        assert installed in requirement.specifier, f"the image would not take {installed}"
    base = _base_cuda_major()
    assert base == ORT_CUDA_MAJOR, f"onnxruntime-gpu is built for CUDA {ORT_CUDA_MAJOR}, not {base}"
    assert _linked_major("cuda", "libcudart.so.") in (None, base)


# --- the build-time check --------------------------------------------------------------------


def _guard() -> str:
    checks = [arg for op, arg in instructions() if op == "RUN" and "'ldd'" in arg]
    assert len(checks) == 1, "Dockerfile.gpu should check the providers' libraries with ldd"
    match = re.fullmatch(r'python -c "(.+)"', checks[0])
    assert match, checks[0]
    return match[1]


FOUND = "\tlibcublas.so.13 => /usr/lib/libcublas.so.13 (0x1)\n\tlibcuda.so.1 => not found\n"


@pytest.mark.parametrize(
    ("ldd_out", "ldd_rc", "refused"),
    [
        (FOUND, 0, None),
        (FOUND + "\tlibcudart.so.13 => not found\n", 0, "libcudart.so.13"),
        (FOUND + "\tlibnvinfer.so.10 => not found\n", 0, "libnvinfer.so.10"),
        ("ldd: no such file\n", 1, "ldd"),
    ],
)
def test_build_stops_when_a_provider_library_is_missing(tmp_path, ldd_out, ldd_rc, refused):
    """Runs the Dockerfile's check with a stand-in `ldd`: only the host driver may be absent."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / "out").write_text(ldd_out)
    ldd = bin_dir / "ldd"
    ldd.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{tmp_path}/args"\ncat "{tmp_path}/out"\n'
                   f"exit {ldd_rc}\n")  # fmt: skip
    ldd.chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "NO_ALBUMENTATIONS_UPDATE": "1"}
    result = subprocess.run(
        [sys.executable, "-c", _guard()], env=env, capture_output=True, text=True, timeout=120
    )
    asked = (tmp_path / "args").read_text().split()
    assert asked == [str(CAPI / f"libonnxruntime_providers_{p}.so") for p in ("cuda", "tensorrt")]
    if refused is None:
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode != 0 and refused in result.stderr, result.stderr
        assert "libcuda.so.1" not in result.stderr
