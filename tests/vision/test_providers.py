"""Provider choice: on this CPU-only machine the plan falls back to CPU, quietly."""

from __future__ import annotations

import pytest

from vision import providers
from vision.providers import ORT_NAMES, plan_providers


def test_cpu_is_always_usable_and_last(fresh_probe):
    plan = plan_providers(["tensorrt", "cuda", "cpu"])
    assert plan.providers[-1][0] == ORT_NAMES["cpu"]
    assert providers.probe()["cpu"] == ""


def test_cpu_added_even_when_not_asked(fresh_probe):
    plan = plan_providers(["cuda"])
    assert plan.providers[-1] == (ORT_NAMES["cpu"], {})


@pytest.mark.skipif(providers.cuda_device_count() > 0, reason="a GPU is present")
def test_without_gpu_every_gpu_provider_is_skipped_with_a_reason(fresh_probe):
    plan = plan_providers(["tensorrt", "cuda", "cpu"])
    assert plan.name == "cpu" and not plan.on_gpu
    assert [name for name, _ in plan.providers] == [ORT_NAMES["cpu"]]
    assert set(plan.skipped) == {"tensorrt", "cuda"}
    assert all(plan.skipped.values())


def test_no_device_files_means_no_gpu_without_touching_the_driver(fresh_probe, monkeypatch):
    loaded: list[tuple[str, ...]] = []
    monkeypatch.setattr(providers, "_nvidia_device_files", lambda: False)
    monkeypatch.setattr(providers, "_load_any", lambda names: loaded.append(names))
    assert providers.cuda_device_count() == 0
    assert loaded == []


def test_gpu_plan_when_probe_passes(fresh_probe, monkeypatch):
    # Simulates a GPU machine: both GPU providers usable, in preference order, with options.
    monkeypatch.setattr(providers, "probe", lambda: {"cpu": "", "cuda": "", "tensorrt": ""})
    plan = plan_providers(["tensorrt", "cuda", "cpu"], device_id=1, fp16=True)
    names = [name for name, _ in plan.providers]
    assert plan.name == "tensorrt" and plan.on_gpu
    assert names == [ORT_NAMES["tensorrt"], ORT_NAMES["cuda"], ORT_NAMES["cpu"]]
    trt = plan.providers[0][1]
    assert trt["trt_fp16_enable"] is True and trt["device_id"] == 1
    assert plan.providers[1][1]["device_id"] == 1


def test_a_broken_cuda_library_falls_back_to_cpu(fresh_probe, monkeypatch):
    # GPU visible, but the CUDA provider's libraries are missing: CPU, with the reason.
    monkeypatch.setattr(providers, "cuda_device_count", lambda: 1)
    monkeypatch.setattr(providers, "_preload_nvidia_wheels", lambda: None)
    monkeypatch.setattr(providers, "_load_any", lambda names: None)
    plan = plan_providers(["tensorrt", "cuda", "cpu"])
    assert plan.name == "cpu"
    assert "libcublasLt" in plan.skipped["cuda"] and plan.skipped["tensorrt"]
