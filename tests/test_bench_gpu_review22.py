"""benchmarks/bench_gpu.py on a simulated GPU (review 22): what a lent GPU's run would do.

The provider probe passes as on a GPU machine; the GPU scorer is vision.gpu's tensor scorer on
device "cpu" (the same code but for CUDA streams and nvJPEG), reporting the provider it was
opened for. Timings are cut to a few milliseconds: only what is measured and written is
checked, never a rate.
"""

from __future__ import annotations

import io
import json
import math
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from benchmarks import bench_gpu
from benchmarks import run as bench_run
from tests.vision.engine_fixtures import make_artifact, room_scene
from vision import providers
from vision import session as session_module
from vision.engine import get_engine_config
from vision.gpu import TensorBytesScorer
from vision.providers import ORT_NAMES

ALL_USABLE = {"cpu": "", "cuda": "", "tensorrt": ""}


def _jpeg(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(room_scene(seed, height=48, width=64)).save(buffer, format="JPEG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def model(tmp_path_factory, taxonomy) -> Path:
    return make_artifact(tmp_path_factory.mktemp("bench_gpu") / "model", taxonomy)


@pytest.fixture
def quick(monkeypatch, model):
    """Millisecond rates, the tiny test model, small JPEGs and small end-to-end batches."""
    monkeypatch.setattr(bench_gpu, "MIN_SECONDS", 0.002)
    monkeypatch.setattr(bench_gpu, "E2E_BATCHES", (3,))
    monkeypatch.setattr(bench_gpu, "_export", lambda folder: model)
    monkeypatch.setattr(bench_gpu, "_jpegs", lambda n, *, width=0: [_jpeg(i) for i in range(2)])


@pytest.fixture
def gpu(monkeypatch) -> list[Any]:
    """A GPU machine as vision sees it; returns the engine config of each GPU scorer opened."""
    from vision import gpu as gpu_module

    monkeypatch.setattr(providers, "probe", lambda: dict(ALL_USABLE))
    monkeypatch.setattr(gpu_module, "gpu_usable", lambda device_id=0: (True, ""))
    opened: list[Any] = []

    def open_scorer(folder: Path, config: Any) -> TensorBytesScorer:
        opened.append(config)
        scorer = TensorBytesScorer(
            folder, device="cpu", config=config, max_pixels=bench_gpu.MAX_PIXELS
        )
        scorer.provider = ORT_NAMES[config.runtime.providers[0]]
        return scorer

    monkeypatch.setattr(bench_gpu, "_open_gpu_scorer", open_scorer)
    return opened


def test_a_gpu_run_measures_both_providers_at_issue_5s_batches_and_writes_its_results(
    quick, gpu, tmp_path, monkeypatch, capsys
):
    page = tmp_path / "benchmarks.md"
    before = "# Benchmarks\n\n- date: then\n\n| a | b |\n| --- | --- |\n| other | 1 |\n"
    page.write_text(before)
    monkeypatch.setattr(bench_run, "OUTPUT", page)
    out = tmp_path / "out"

    assert bench_gpu.main(["--out", str(out)]) == 0

    record = json.loads((out / bench_gpu.RESULTS_FILE).read_text())
    assert record["finished"] and record["command"].endswith(f"--out {out}")
    names = [r["name"] for r in record["results"]]
    for provider in ("tensorrt, fp16", "cuda, fp32"):
        for n in (1, 32, 256):
            assert f"GPU model only, batch {n}, {bench_gpu.VARIANT} ({provider})" in names
    for label in ("1.9 MP", "4 MP"):
        assert f"GPU re-score {label} JPEGs, batch 3 (tensorrt)" in names  # the best provider
    assert "re-score 1.9 MP JPEGs on the CPU path (cpu)" in names
    assert all(math.isfinite(r["ratio"]) and r["ratio"] > 0 for r in record["results"])
    merged = (out / bench_gpu.PAGE_FILE).read_text()
    assert "| other | 1 |" in merged and all(f"| {name} |" in merged for name in names)
    assert page.read_text() == before  # the repository's page is left alone
    assert [c.runtime.providers for c in gpu] == [("tensorrt", "cuda", "cpu"), ("cuda", "cpu")]
    assert "GPU re-score 4 MP JPEGs, batch 3 (tensorrt)" in capsys.readouterr().out


def test_tensorrt_gets_one_engine_for_every_batch_the_run_uses(model, gpu, tmp_path, monkeypatch):
    """Without a cache folder vision.gpu gives TensorRT no batch profile: an engine is built
    for the first batch and rebuilt (minutes each) for every larger one."""
    from vision import artifact as artifact_module
    from vision.artifact import read_artifact
    from vision.gpu import _open_session

    asked: list[dict[str, Any]] = []
    open_real = artifact_module.open_onnx

    def on_cpu(path, *, sess_options, providers, provider_options=None):
        asked.append(dict(zip(providers, provider_options or [], strict=True)))
        return open_real(path, sess_options=sess_options, providers=[ORT_NAMES["cpu"]])

    monkeypatch.setattr(artifact_module, "open_onnx", on_cpu)
    config = bench_gpu.gpu_config(get_engine_config(), "tensorrt", tmp_path / "trt")
    _open_session(model, read_artifact(model), device="cuda", config=config)

    options = asked[0][ORT_NAMES["tensorrt"]]
    size = read_artifact(model).preprocessing.size
    largest = max(*bench_gpu.MODEL_BATCHES, *bench_gpu.E2E_BATCHES)
    assert options["trt_profile_min_shapes"] == f"pixels:1x3x{size}x{size}"
    assert options["trt_profile_max_shapes"] == f"pixels:{largest}x3x{size}x{size}"
    assert Path(options["trt_engine_cache_path"]).is_relative_to(tmp_path / "trt")


def test_the_cpu_path_row_runs_on_the_cpu_provider_where_a_gpu_is_usable(model, monkeypatch):
    # As `rescore --device cpu`: a GPU machine must not run the "CPU path" row's model on
    # TensorRT (building an engine, minutes of a lent GPU's time, for a mislabelled figure).
    monkeypatch.setattr(providers, "probe", lambda: dict(ALL_USABLE))
    monkeypatch.setattr(bench_gpu, "MIN_SECONDS", 0.002, raising=False)
    asked: list[list[str]] = []
    open_real = session_module.open_onnx

    def on_cpu(path, *, sess_options, providers, provider_options=None):
        asked.append(list(providers))
        return open_real(path, sess_options=sess_options, providers=[ORT_NAMES["cpu"]])

    monkeypatch.setattr(session_module, "open_onnx", on_cpu)
    row = bench_gpu._cpu_rows(model, [_jpeg(0), _jpeg(1)])
    assert asked and all(p == [ORT_NAMES["cpu"]] for p in asked)
    assert row.name == "re-score 1.9 MP JPEGs on the CPU path (cpu)"


def test_no_tensorrt_engine_is_started_without_time_for_it_and_the_skips_are_named(
    model, gpu, quick
):
    jpegs = {"1.9 MP": [_jpeg(0)], "4 MP": [_jpeg(1)]}
    run = bench_gpu.Run(deadline=time.monotonic() + bench_gpu.TRT_RESERVE_S / 2)
    bench_gpu._gpu_rows(model, jpegs, run, trt_cache=model.parent / "trt")
    assert [c.runtime.providers[0] for c in gpu] == ["cuda"]  # TensorRT never opened
    assert any(s.startswith("tensorrt rows: not started") for s in run.skipped)
    assert {r.name.rsplit("(", 1)[1] for r in run.results} == {"cuda, fp32)", "cuda)"}

    spent = bench_gpu.Run(deadline=time.monotonic())
    bench_gpu._gpu_rows(model, jpegs, spent, trt_cache=model.parent / "trt")
    assert spent.results == [] and len(gpu) == 1
    assert [s.split(":")[0] for s in spent.skipped] == ["tensorrt rows", "cuda rows"]


def test_photos_that_fail_are_not_counted_as_scored(model, gpu, quick):
    scorer = bench_gpu._open_gpu_scorer(model, get_engine_config())
    cpu = bench_gpu._cpu_path(model)
    run = bench_gpu.Run(deadline=time.monotonic() + 60)
    broken = b"\xff\xd8\xff\xe0" + b"\x00" * 40
    bench_gpu._e2e_rows(scorer, "cuda", cpu, {"1.9 MP": [_jpeg(0), broken]}, run)
    assert run.results == []
    assert run.skipped and "1 of 3 not scored" in run.skipped[0]


def test_a_run_cut_short_keeps_the_rows_it_measured(quick, gpu, tmp_path, monkeypatch):
    def killed(folder: Path, jpegs: list[bytes]) -> Any:
        raise KeyboardInterrupt  # the call's time limit, after the GPU rows

    monkeypatch.setattr(bench_gpu, "_cpu_rows", killed)
    with pytest.raises(KeyboardInterrupt):
        bench_gpu.main(["--out", str(tmp_path)])
    record = json.loads((tmp_path / bench_gpu.RESULTS_FILE).read_text())
    assert not record["finished"]
    assert len(record["results"]) == 2 * len(bench_gpu.MODEL_BATCHES) + 2


def test_one_provider_failing_leaves_the_others_rows(model, gpu, quick, monkeypatch):
    opened = bench_gpu._open_gpu_scorer

    def tensorrt_fails(folder: Path, config: Any) -> Any:
        if config.runtime.providers[0] == "tensorrt":
            raise RuntimeError("TensorRT EP could not build the engine")
        return opened(folder, config)

    monkeypatch.setattr(bench_gpu, "_open_gpu_scorer", tensorrt_fails)
    run = bench_gpu.Run(deadline=time.monotonic() + 600)
    bench_gpu._gpu_rows(model, {"1.9 MP": [_jpeg(0)]}, run, trt_cache=model.parent / "trt")
    assert run.skipped == ["tensorrt rows: RuntimeError: TensorRT EP could not build the engine"]
    assert len(run.results) == len(bench_gpu.MODEL_BATCHES) + 1  # CUDA's, end-to-end on it


def test_require_gpu_refuses_at_once_and_says_why(tmp_path, monkeypatch, capsys):
    from vision import gpu as gpu_module

    why = "ONNX Runtime cannot use the GPU: this onnxruntime build has no such provider"
    monkeypatch.setattr(gpu_module, "gpu_usable", lambda device_id=0: (False, why))
    monkeypatch.setattr(bench_gpu, "measure", lambda run: pytest.fail("measured"))
    assert bench_gpu.main(["--require-gpu", "--out", str(tmp_path)]) == 2
    assert why in capsys.readouterr().err
