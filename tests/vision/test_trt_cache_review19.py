"""TensorRT engine cache, review 19: the GPU and TensorRT parts of the key come from what ONNX
Runtime really uses, and key.json is repaired, written whole, and never stops a model loading.
No GPU here: the CUDA driver and libnvinfer are fakes standing in for ctypes.CDLL."""

from __future__ import annotations

import ctypes
import json
import logging
import os
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

from tests.vision.trt_cache_helpers import refuse_writes_under
from vision import trt_cache
from vision.trt_cache import KEY_FILE, CacheKey, cache_folder, cache_key, gpu_name

KEY = CacheKey("ab" * 32, "NVIDIA H100 80GB HBM3", "10.3.0", "1.20.1")


class _FakeDriver:
    """libcuda.so.1 answering for the devices named in `names` (ordinal = list index)."""

    def __init__(self, names: list[str]) -> None:
        self.names = names

    def cuInit(self, flags: int) -> int:
        return 0

    def cuDeviceGet(self, device, ordinal: int) -> int:
        if ordinal >= len(self.names):
            return 101  # CUDA_ERROR_INVALID_DEVICE
        device._obj.value = ordinal
        return 0

    def cuDeviceGetName(self, buffer, length: int, device) -> int:
        buffer.value = self.names[device.value].encode()[: length - 1]
        return 0


class _FakeNvinfer:
    def __init__(self, version: int) -> None:
        self.version = version

    def getInferLibVersion(self) -> int:
        return self.version


def _fake_libraries(monkeypatch, libraries: dict[str, object]) -> None:
    """ctypes.CDLL loads only the named fakes; every other library is missing."""

    def load(name, *args, **kwargs):
        if name in libraries:
            return libraries[name]
        raise OSError(f"{name}: cannot open shared object file")

    monkeypatch.setattr(ctypes, "CDLL", load)


def test_the_gpu_is_named_by_the_cuda_driver_without_pytorch(monkeypatch):
    # ONNX Runtime runs on the CUDA driver; PyTorch may be missing or see no GPU (a CPU build,
    # a CUDA newer than the driver). The key's GPU was then "none" on every machine, so an
    # engine built on one GPU model was loaded on another sharing the cache folder.
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> ImportError
    _fake_libraries(monkeypatch, {"libcuda.so.1": _FakeDriver(["NVIDIA A100-SXM4-80GB", "H200"])})
    assert gpu_name(0) == "NVIDIA A100-SXM4-80GB"
    assert gpu_name(1) == "H200"
    assert gpu_name(2) == "none"  # no such device: nothing to key on, and no exception


def test_two_gpu_models_get_two_cache_folders_without_pytorch(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    _fake_libraries(monkeypatch, {"libcuda.so.1": _FakeDriver(["NVIDIA A100", "NVIDIA H100"])})
    model = tmp_path / "model.onnx"
    model.write_bytes(b"graph")
    first, second = cache_key(model, device_id=0), cache_key(model, device_id=1)
    assert first.folder_name() != second.folder_name()


def test_no_driver_and_no_pytorch_is_none_quietly(monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "torch", None)
    _fake_libraries(monkeypatch, {})
    with caplog.at_level(logging.INFO, logger="vision.trt_cache"):
        assert gpu_name(0) == "none"
    assert not caplog.records  # a CPU machine: nothing worth a log line


def test_tensorrt_version_of_the_library_the_provider_links(monkeypatch):
    # A provider built for a TensorRT major this module did not list (libnvinfer.so.11) had
    # its version read as "none": a TensorRT upgrade then kept the folder, and its engines.
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # no Python bindings, as in the image
    monkeypatch.setattr(
        trt_cache, "provider_libraries", lambda short: ["libcudart.so.14", "libnvinfer.so.11"]
    )
    _fake_libraries(monkeypatch, {"libnvinfer.so.11": _FakeNvinfer(110203)})
    assert trt_cache.tensorrt_version() == "11.2.3"


def test_tensorrt_version_without_bindings_reads_libnvinfer_10(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    monkeypatch.setattr(trt_cache, "provider_libraries", lambda short: None)  # unreadable
    _fake_libraries(monkeypatch, {"libnvinfer.so.10": _FakeNvinfer(100300)})
    assert trt_cache.tensorrt_version() == "10.3.0"
    _fake_libraries(monkeypatch, {"libnvinfer.so.8": _FakeNvinfer(8601)})
    assert trt_cache.tensorrt_version() == "8.6.1"


def test_a_key_json_cut_short_is_written_again(tmp_path):
    # A full disk or a crash mid-write left half a key.json, which was never rewritten.
    folder = cache_folder(tmp_path, KEY)
    (folder / KEY_FILE).write_text('{"gpu_name": "NVIDIA H1', encoding="utf-8")
    assert cache_folder(tmp_path, KEY) == folder
    assert json.loads((folder / KEY_FILE).read_text(encoding="utf-8")) == asdict(KEY)


def test_key_json_that_cannot_be_written_does_not_stop_the_model(tmp_path, monkeypatch, caplog):
    # key.json is for people; a full disk or a read-only prebuilt cache made every model load
    # fail on it, though ONNX Runtime would build or load its engines regardless.
    refuse_writes_under(monkeypatch, tmp_path)
    with caplog.at_level(logging.WARNING, logger="vision.trt_cache"):
        folder = cache_folder(tmp_path, KEY)
    assert folder.is_dir() and folder.parent == tmp_path
    assert list(folder.iterdir()) == []  # nothing half-written left behind
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert KEY_FILE in warning.getMessage() and "No space left" in warning.getMessage()


def test_an_intact_key_json_is_not_rewritten(tmp_path):
    folder = cache_folder(tmp_path, KEY)
    key_path = folder / KEY_FILE
    os.utime(key_path, (1_000_000, 1_000_000))
    cache_folder(tmp_path, KEY)
    assert key_path.stat().st_mtime == 1_000_000
    assert key_path.stat().st_mode & 0o044 == 0o044  # readable by whoever finds the folder
    assert sorted(path.name for path in folder.iterdir()) == [KEY_FILE]


@pytest.mark.parametrize("fp16", [True, False])
def test_options_for_a_model_use_its_own_folder(tmp_path, monkeypatch, fp16):
    monkeypatch.setattr(trt_cache, "gpu_name", lambda device_id=0: "NVIDIA H100")
    monkeypatch.setattr(trt_cache, "tensorrt_version", lambda: "10.3.0")
    models = []
    for index in range(2):
        model = tmp_path / f"m{index}" / "model.onnx"
        model.parent.mkdir()
        model.write_bytes(f"weights {index}".encode())
        models.append(model)
    options = [
        trt_cache.tensorrt_options_for(
            model, tmp_path / "trt", input_name="pixels", input_size=224, fp16=fp16, max_batch=32
        )
        for model in models
    ]
    paths = {Path(o["trt_engine_cache_path"]) for o in options}
    assert len(paths) == 2 and all(path.parent.parent == tmp_path / "trt" for path in paths)
    for o in options:
        assert o["trt_fp16_enable"] is fp16
        assert o["trt_profile_opt_shapes"] == "pixels:32x3x224x224"
        assert o["trt_profile_max_shapes"] == "pixels:32x3x224x224"


def test_two_batch_profiles_of_one_model_use_two_folders(tmp_path, monkeypatch):
    # vision.gpu builds for batches up to 256, vision.session for max_photos_per_call when it
    # is larger: in one folder each start rebuilt (minutes) and overwrote the other's engine.
    monkeypatch.setattr(trt_cache, "gpu_name", lambda device_id=0: "NVIDIA H100")
    monkeypatch.setattr(trt_cache, "tensorrt_version", lambda: "10.3.0")
    model = tmp_path / "model.onnx"
    model.write_bytes(b"weights")

    def folder(max_batch: int) -> Path:
        options = trt_cache.tensorrt_options_for(
            model, tmp_path / "trt", input_name="pixels", input_size=224, max_batch=max_batch
        )
        return Path(options["trt_engine_cache_path"])

    assert folder(256) == folder(256) and folder(256).is_dir()
    assert folder(512) != folder(256) and folder(512).parent == folder(256).parent
    assert (folder(256).parent / KEY_FILE).is_file()  # one key.json per model and GPU
