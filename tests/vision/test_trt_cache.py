"""TensorRT engine cache: the key covers model bytes, GPU and versions; options use the folder."""

from __future__ import annotations

import json

import pytest

from vision.trt_cache import (
    KEY_FILE,
    CacheKey,
    cache_folder,
    cache_key,
    provider_options,
)

KEY = CacheKey("ab" * 32, "NVIDIA H100 80GB HBM3", "10.3.0", "1.20.1")


@pytest.mark.parametrize(
    "change",
    [
        {"model_sha256": "cd" * 32},
        {"gpu_name": "NVIDIA H200"},
        {"tensorrt_version": "10.4.0"},
        {"onnxruntime_version": "1.21.0"},
    ],
)
def test_every_part_of_the_key_changes_the_folder(change):
    other = CacheKey(**{**KEY.__dict__, **change})
    assert other.folder_name() != KEY.folder_name()
    assert KEY.folder_name() == CacheKey(**KEY.__dict__).folder_name()


def test_folder_is_readable_and_records_its_key(tmp_path):
    folder = cache_folder(tmp_path, KEY)
    assert folder.name.startswith("abababababab-nvidia-h100-80gb-hbm3-")
    assert json.loads((folder / KEY_FILE).read_text())["gpu_name"] == KEY.gpu_name
    assert cache_folder(tmp_path, KEY) == folder  # idempotent


def test_key_from_a_model_file(tmp_path):
    model = tmp_path / "model.onnx"
    model.write_bytes(b"graph-1")
    first = cache_key(model)
    model.write_bytes(b"graph-2")
    assert cache_key(model).model_sha256 != first.model_sha256
    assert first.onnxruntime_version  # the installed onnxruntime's version


def test_provider_options_build_once_and_cover_the_batch_range(tmp_path):
    options = provider_options(tmp_path, input_name="pixels", input_size=224, max_batch=256)
    assert options["trt_fp16_enable"] is True
    assert options["trt_engine_cache_enable"] is True
    assert options["trt_engine_cache_path"] == str(tmp_path)
    assert options["trt_timing_cache_path"] == str(tmp_path)
    assert options["trt_profile_min_shapes"] == "pixels:1x3x224x224"
    assert options["trt_profile_opt_shapes"] == "pixels:64x3x224x224"
    assert options["trt_profile_max_shapes"] == "pixels:256x3x224x224"
    with pytest.raises(ValueError):
        provider_options(tmp_path, input_name="pixels", input_size=224, max_batch=8, opt_batch=64)
