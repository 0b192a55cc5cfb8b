"""Dockerfile.gpu cannot be built here (no Docker engine): check its structure instead."""

from __future__ import annotations

import tomllib

from tests.dockerfile_helpers import ROOT, instructions


def test_cuda_base_non_root_healthcheck():
    steps = instructions()
    assert steps[0][0] == "FROM" and steps[0][1].startswith("nvidia/cuda:")
    assert "runtime" in steps[0][1]
    users = [arg for op, arg in steps if op == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert any(op == "HEALTHCHECK" and "/health" in arg for op, arg in steps)
    assert steps[-1][0] == "CMD"


def test_gpu_runtime_is_onnxruntime_gpu_only():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {d.split(">")[0].split("=")[0].split("<")[0].strip() for d in deps}
    assert "onnxruntime-gpu" in names
    assert "onnxruntime" not in names
