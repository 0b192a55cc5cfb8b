"""plan_providers sets up no TensorRT engine cache (ONNX Runtime names a cached engine by graph
file and tensor names, not weights, so only vision.trt_cache's per-model folders may hold one),
and vision.session's provider options are vision.trt_cache's. The GPU is simulated."""

from __future__ import annotations

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


def test_plan_providers_gives_tensorrt_no_engine_cache(gpu):
    plan = plan_providers(["tensorrt", "cuda", "cpu"], fp16=True)
    assert plan.providers[0] == (ORT_NAMES["tensorrt"], {"device_id": 0, "trt_fp16_enable": True})


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
