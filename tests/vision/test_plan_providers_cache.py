"""plan_providers on its own never shares one TensorRT engine cache folder between models
(ONNX Runtime names a cached engine by graph file and tensor names, not weights), and
vision.session's provider options are what they were. The GPU is simulated (probe passes)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from tests.vision.engine_fixtures import make_artifact
from vision import providers, trt_cache
from vision import session as session_module
from vision.artifact import INPUT_NAME, ONNX_FILE
from vision.engine import load_engine_config
from vision.providers import ORT_NAMES, plan_providers


@pytest.fixture
def gpu(fresh_probe, monkeypatch):
    monkeypatch.setattr(providers, "probe", lambda: {"cpu": "", "cuda": "", "tensorrt": ""})
    monkeypatch.setattr(trt_cache, "gpu_name", lambda device_id=0: "NVIDIA H100")
    monkeypatch.setattr(trt_cache, "tensorrt_version", lambda: "10.3.0")


def _model(folder: Path, content: bytes) -> Path:
    """A model.onnx as every artifact names it; the bytes alone tell two models apart."""
    folder.mkdir(parents=True)
    path = folder / "model.onnx"
    path.write_bytes(content)
    return path


def _cache_path(plan) -> Path:
    name, options = plan.providers[0]
    assert name == ORT_NAMES["tensorrt"] and options["trt_engine_cache_enable"] is True
    assert options["trt_timing_cache_path"] == options["trt_engine_cache_path"]
    return Path(options["trt_engine_cache_path"])


def test_two_models_in_one_cache_dir_get_their_own_folders(gpu, tmp_path):
    root = tmp_path / "trt"
    first = _model(tmp_path / "a", b"weights of model a")
    second = _model(tmp_path / "b", b"weights of model b")
    plan = ["tensorrt", "cuda", "cpu"]
    one = _cache_path(plan_providers(plan, trt_cache_dir=root, model_path=first))
    other = _cache_path(plan_providers(plan, trt_cache_dir=root, model_path=second))
    assert one != other
    assert one.parent == root and other.parent == root
    assert one.name == trt_cache.cache_key(first).folder_name()
    assert json.loads((one / trt_cache.KEY_FILE).read_text())["model_sha256"] == (
        trt_cache.file_sha256(first)
    )
    # The same model (and GPU) finds its folder again.
    assert _cache_path(plan_providers(plan, trt_cache_dir=root, model_path=first)) == one


def test_the_folder_follows_the_device(gpu, tmp_path, monkeypatch):
    monkeypatch.setattr(trt_cache, "gpu_name", lambda device_id=0: f"GPU {device_id}")
    model = _model(tmp_path / "a", b"weights")
    root = tmp_path / "trt"
    plans = [plan_providers(["tensorrt"], device_id=d, trt_cache_dir=root, model_path=model)
             for d in (0, 1)]  # fmt: skip
    assert _cache_path(plans[0]) != _cache_path(plans[1])


def test_a_cache_dir_without_a_model_to_key_on_is_not_shared(gpu, tmp_path):
    plan = plan_providers(["tensorrt", "cpu"], fp16=True, trt_cache_dir=tmp_path / "trt")
    assert plan.providers[0] == (ORT_NAMES["tensorrt"], {"device_id": 0, "trt_fp16_enable": True})
    assert not (tmp_path / "trt").exists()


def test_an_unreadable_model_builds_without_a_cache_and_says_so(gpu, tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="vision.providers")
    missing = tmp_path / "gone" / "model.onnx"
    plan = plan_providers(["tensorrt", "cpu"], trt_cache_dir=tmp_path / "trt", model_path=missing)
    assert "trt_engine_cache_path" not in plan.providers[0][1]
    (warning,) = caplog.records
    assert str(missing) in warning.getMessage() and "built at every start" in warning.getMessage()


def test_vision_session_options_are_unchanged(gpu, tmp_path, taxonomy, monkeypatch):
    """open_session replaces the TensorRT options with its own per-model, per-profile folder:
    the options it opens the model with are exactly vision.trt_cache's."""
    asked: list[list[tuple[str, dict]]] = []
    open_real = session_module.open_onnx

    def on_cpu(path, *, sess_options, providers, provider_options):
        asked.append(list(zip(providers, provider_options, strict=True)))
        return open_real(path, sess_options=sess_options, providers=[ORT_NAMES["cpu"]])

    monkeypatch.setattr(session_module, "open_onnx", on_cpu)
    folder = make_artifact(tmp_path / "m", taxonomy, seed=0)
    runtime = load_engine_config().runtime.model_copy(
        update={"providers": ("tensorrt", "cuda", "cpu"), "trt_cache_dir": tmp_path / "trt",
                "fp16": False, "device_id": 0, "trt_cache_keep_unused_days": None}
    )  # fmt: skip
    session_module.open_session(folder, runtime, input_size=32, max_batch=8)
    expected_trt = trt_cache.tensorrt_options_for(
        folder / ONNX_FILE, tmp_path / "trt", input_name=INPUT_NAME, input_size=32,
        device_id=0, fp16=False, max_batch=trt_cache.DEFAULT_MAX_BATCH, keep_unused_days=None,
    )  # fmt: skip
    assert asked == [
        [
            (ORT_NAMES["tensorrt"], expected_trt),
            (ORT_NAMES["cuda"], {"device_id": 0, "cudnn_conv_algo_search": "HEURISTIC"}),
            (ORT_NAMES["cpu"], {}),
        ]
    ]
    # Only the session's own per-model, per-profile folder was made under the cache root.
    (key_folder,) = (tmp_path / "trt").iterdir()
    assert [p.name for p in key_folder.iterdir() if p.is_dir()] == ["batch-1-to-256-32px"]
