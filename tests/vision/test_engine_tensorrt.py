"""The engine's TensorRT session options, on a simulated GPU: one engine-cache folder per model,
unused engines kept as long as configs/engine.yaml says, batch profiles without a cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.vision.engine_fixtures import make_artifact, small_call_config
from vision import providers
from vision import session as session_module
from vision.engine import Engine, EngineConfig
from vision.providers import ORT_NAMES


@pytest.fixture(scope="module")
def config() -> EngineConfig:
    return small_call_config()


def _simulated_gpu(monkeypatch) -> list[dict[str, dict]]:
    """The provider probe passes as on a GPU; sessions open on the CPU after their provider
    options are recorded in the returned list (one {provider: options} per session)."""
    monkeypatch.setattr(providers, "probe", lambda: {"cpu": "", "cuda": "", "tensorrt": ""})
    asked: list[dict[str, dict]] = []
    open_real = session_module.open_onnx

    def on_cpu(path, *, sess_options, providers, provider_options=None):
        asked.append(dict(zip(providers, provider_options or [], strict=True)))
        return open_real(path, sess_options=sess_options, providers=[ORT_NAMES["cpu"]])

    monkeypatch.setattr(session_module, "open_onnx", on_cpu)
    return asked


def test_tensorrt_engine_cache_is_one_folder_per_model(tmp_path, taxonomy, config, monkeypatch):
    # ONNX Runtime names a cached TensorRT engine by the graph's file name and tensor names, not
    # its weights: two artifacts of one backbone (model.onnx both) in one trt_cache_dir would
    # share an engine, the second scoring with the first's weights. The GPU is simulated (the
    # probe passes); the session itself opens on the CPU, after its options are recorded.
    asked = _simulated_gpu(monkeypatch)
    runtime = config.runtime.model_copy(update={"trt_cache_dir": tmp_path / "trt"})
    with_cache = config.model_copy(update={"runtime": runtime})
    for seed in (0, 1):
        Engine.load(make_artifact(tmp_path / f"m{seed}", taxonomy, seed=seed), config=with_cache)
    first, second = (options[ORT_NAMES["tensorrt"]] for options in asked)
    assert first["trt_engine_cache_path"] != second["trt_engine_cache_path"]
    for options in (first, second):
        assert Path(options["trt_engine_cache_path"]).parent.parent == tmp_path / "trt"
        assert options["trt_profile_min_shapes"].startswith("pixels:1x3x")  # no per-size rebuild


@pytest.mark.parametrize("keep_days", [7.0, None])
def test_the_engine_cache_keeps_unused_engines_as_long_as_configured(
    tmp_path, taxonomy, config, monkeypatch, keep_days
):
    """runtime.trt_cache_keep_unused_days (configs/engine.yaml) is the age at which other
    models' cached engines are pruned; null keeps them (it was a constant of 30 days)."""
    from vision import trt_cache

    _simulated_gpu(monkeypatch)
    pruned: list[float] = []
    monkeypatch.setattr(
        trt_cache, "prune_cache", lambda root, in_use, *, unused_days: pruned.append(unused_days)
    )
    runtime = config.runtime.model_copy(
        update={"trt_cache_dir": tmp_path / "trt", "trt_cache_keep_unused_days": keep_days}
    )
    Engine.load(
        make_artifact(tmp_path / "m", taxonomy, seed=0),
        config=config.model_copy(update={"runtime": runtime}),
    )
    assert pruned == ([] if keep_days is None else [keep_days])


def test_tensorrt_without_a_cache_folder_still_gets_batch_profiles(
    tmp_path, taxonomy, config, monkeypatch
):
    """Without trt_cache_dir the engine is built at every start, but once for every batch size
    up to the largest call (not again for each new size). GPU simulated as above."""
    asked = _simulated_gpu(monkeypatch)
    runtime = config.runtime.model_copy(update={"trt_cache_dir": None, "fp16": True})
    Engine.load(
        make_artifact(tmp_path / "m", taxonomy, seed=0),
        config=config.model_copy(update={"runtime": runtime}),
    )
    (options,) = (a[ORT_NAMES["tensorrt"]] for a in asked)
    assert options["trt_profile_min_shapes"].startswith("pixels:1x3x")
    assert options["trt_profile_max_shapes"].startswith("pixels:256x3x")
    assert options["trt_fp16_enable"] is True and "trt_engine_cache_path" not in options
