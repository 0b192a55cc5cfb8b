"""Review 16: provider choice matches the installed onnxruntime build, stays quiet without a GPU
and is what /health reports; Prometheus metrics are well named, bounded and per app."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from onnxruntime.capi import build_and_package_info

from tests.vision.engine_fixtures import make_artifact
from vision import providers
from vision.engine import Engine, load_engine_config
from vision.providers import ORT_NAMES, SHORT_NAMES, plan_providers
from vision.session import session_options

CUDA_MAJOR = build_and_package_info.cuda_version.split(".")[0]


@pytest.fixture
def gpu_machine(fresh_probe, monkeypatch):
    """One visible GPU; `present` holds the sonames that load (fill it per test)."""
    present: set[str] = set()
    monkeypatch.setattr(providers, "cuda_device_count", lambda: 1)
    monkeypatch.setattr(providers, "_preload_nvidia_wheels", lambda: None)

    def load_any(names):
        return next((name for name in names if name in present), None)

    monkeypatch.setattr(providers, "_load_any", load_any)
    return present


def test_provider_needs_are_read_from_the_installed_build():
    cuda = providers.provider_libraries("cuda")
    tensorrt = providers.provider_libraries("tensorrt")
    assert cuda is not None and tensorrt is not None
    assert f"libcublasLt.so.{CUDA_MAJOR}" in cuda and f"libcudart.so.{CUDA_MAJOR}" in cuda
    assert any(name.startswith("libnvinfer.so.") for name in tensorrt)
    assert not any(name.startswith(("libc.so", "libstdc++")) for name in cuda + tensorrt)


def test_elf_needed_refuses_a_file_that_is_not_elf(tmp_path):
    (tmp_path / "fake.so").write_bytes(b"MZ not an ELF file" * 10)
    assert providers.elf_needed(tmp_path / "fake.so") is None
    assert providers.elf_needed(tmp_path / "absent.so") is None


def test_libraries_of_another_cuda_major_do_not_make_cuda_usable(gpu_machine):
    # The old probe took libcublasLt.so.12 or .13 and libcudnn 8 or 9: a CUDA 12 machine
    # passed for a CUDA 13 build, and ORT then printed a screen of errors at session start.
    other = "12" if CUDA_MAJOR != "12" else "13"
    gpu_machine.update(
        {f"lib{lib}.so.{other}" for lib in ("cublasLt", "cublas", "cudart")}
        | {"libcurand.so.10", "libcuda.so.1", "libcudnn.so.8", "libnvinfer.so.8"}
    )
    plan = plan_providers(["tensorrt", "cuda", "cpu"])
    assert plan.name == "cpu"
    assert f"libcublasLt.so.{CUDA_MAJOR}" in plan.skipped["cuda"]
    assert f"CUDA {build_and_package_info.cuda_version}" in plan.skipped["cuda"]
    assert plan.skipped["tensorrt"]


def test_every_needed_library_present_gives_tensorrt_then_cuda(gpu_machine):
    gpu_machine.update(providers.provider_libraries("cuda") or [])
    gpu_machine.update(providers.provider_libraries("tensorrt") or [])
    plan = plan_providers(["tensorrt", "cuda", "cpu"])
    names = [name for name, _ in plan.providers]
    assert names == [ORT_NAMES["tensorrt"], ORT_NAMES["cuda"], ORT_NAMES["cpu"]]
    assert plan.skipped == {}


def test_tensorrt_without_its_parser_library_is_skipped(gpu_machine):
    gpu_machine.update(providers.provider_libraries("cuda") or [])
    gpu_machine.update(
        name
        for name in providers.provider_libraries("tensorrt") or []
        if not name.startswith("libnvonnxparser")
    )
    plan = plan_providers(["tensorrt", "cuda", "cpu"])
    assert plan.name == "cuda" and "libnvonnxparser" in plan.skipped["tensorrt"]


def test_device_id_past_the_last_gpu_falls_back_with_a_reason(gpu_machine):
    gpu_machine.update(providers.provider_libraries("cuda") or [])
    gpu_machine.update(providers.provider_libraries("tensorrt") or [])
    plan = plan_providers(["tensorrt", "cuda", "cpu"], device_id=1)
    assert plan.name == "cpu"
    assert "device_id 1" in plan.skipped["cuda"] and "1 CUDA device" in plan.skipped["cuda"]
    assert plan_providers(["cuda"], device_id=0).name == "cuda"


def test_a_provider_listed_twice_is_asked_for_once(fresh_probe):
    plan = plan_providers(["cpu", "cpu"])
    assert plan.providers == [(ORT_NAMES["cpu"], {})]


# --- a real session on this machine --------------------------------------------------------


@pytest.fixture(scope="module")
def artifact_folder(tmp_path_factory, taxonomy) -> Path:
    return make_artifact(tmp_path_factory.mktemp("review16") / "model", taxonomy)


@pytest.mark.skipif(providers.cuda_device_count() > 0, reason="a GPU is present")
def test_session_start_without_gpu_prints_and_logs_nothing_alarming(
    artifact_folder, capfd, caplog, fresh_probe
):
    capfd.readouterr()
    with caplog.at_level(logging.DEBUG):
        engine = Engine.load(artifact_folder)
    out, err = capfd.readouterr()
    assert engine.provider == "cpu"
    assert not re.search(r"cuda|tensorrt|error|warn|fail", out + err, re.IGNORECASE), out + err
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert loud == [], [r.getMessage() for r in loud]
    # The fallback is still said, quietly: at info, with each skipped provider's reason.
    said = " ".join(r.getMessage() for r in caplog.records if r.name == "vision.providers")
    assert "cuda not used" in said and "tensorrt not used" in said


def test_thread_counts_from_config_reach_the_session(artifact_folder):
    shipped = load_engine_config()
    runtime = shipped.runtime.model_copy(update={"intra_op_threads": 2, "inter_op_threads": 1})
    options = session_options(runtime)
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (2, 1)
    engine = Engine.load(artifact_folder, config=shipped.model_copy(update={"runtime": runtime}))
    used = engine._session.get_session_options()
    assert (used.intra_op_num_threads, used.inter_op_num_threads) == (2, 1)


@pytest.mark.parametrize("bad", [-1, 1.5, "two"])
def test_invalid_thread_counts_are_refused(bad):
    shipped = load_engine_config().runtime.model_dump()
    with pytest.raises(ValueError, match="intra_op_threads"):
        type(load_engine_config().runtime).model_validate({**shipped, "intra_op_threads": bad})


# --- serving: /health and /metrics ---------------------------------------------------------


def _client(tmp_path: Path, **overrides):
    from fastapi.testclient import TestClient

    from serving.app import create_app
    from tests.serving.helpers import make_settings

    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'service.db'}", **overrides)
    return TestClient(create_app(settings), base_url="http://127.0.0.1")


def test_health_reports_the_provider_the_session_really_uses(tmp_path, artifact_folder):
    with _client(tmp_path, model_dir=artifact_folder) as client:
        engine = client.app.state.services.pipeline.engine
        assert engine is not None
        health = client.get("/health").json()
    assert health["inference_provider"] == SHORT_NAMES[engine._session.get_providers()[0]]


def test_two_apps_in_one_process_each_count_their_own_requests(tmp_path):
    with _client(tmp_path / "a") as first, _client(tmp_path / "b") as second:
        first.get("/health")
        first.get("/health")
        second.get("/health")
        line = 'shanyraq_http_requests_total{method="GET",route="/health",status="200"}'
        assert f"{line} 2.0" in first.get("/metrics").text
        assert f"{line} 1.0" in second.get("/metrics").text


def test_invented_http_methods_do_not_add_time_series(tmp_path):
    with _client(tmp_path) as client:
        for i in range(5):
            client.request(f"PROBE{i}", "/health")
        text = client.get("/metrics").text
    methods = set(re.findall(r'shanyraq_http_requests_total\{method="([^"]*)"', text))
    assert methods == {"other"}  # the /metrics call itself is counted after it renders
    assert 'method="other",route="/health",status="405"} 5.0' in text


def test_metric_names_and_labels_follow_prometheus_conventions(tmp_path):
    with _client(tmp_path) as client:
        client.get("/families/FAM-0001-private")  # an id in the path, without sign-in
        client.get("/no/such/page-with-a-secret")
        text = client.get("/metrics").text
    # prometheus_client adds a `<name>_created` gauge per labelled family; not ours to name.
    found = re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE)
    types = {name: kind for name, kind in found if not name.endswith("_created")}
    assert types == {
        "shanyraq_http_requests_total": "counter",
        "shanyraq_http_request_seconds": "histogram",
        "shanyraq_photos_uploaded_total": "counter",
        "shanyraq_decisions_total": "counter",
        "shanyraq_photo_model_calls_past_deadline": "gauge",  # set as /metrics is read
        "shanyraq_reuse_unreadable_photos": "gauge",  # likewise
    }
    routes = set(re.findall(r'route="([^"]*)"', text))
    assert "/families/{family_id}" in routes and "unmatched" in routes
    assert "FAM-0001" not in text and "secret" not in text
    buckets = [float(b) for b in re.findall(r'le="([0-9.]+)"', text)]
    assert min(buckets) <= 0.01 and max(buckets) >= 10


def test_metrics_refused_to_an_unlisted_client(tmp_path):
    with _client(tmp_path, metrics_allowed_clients=["10.0.0.0/8"]) as client:
        response = client.get("/metrics")
    assert response.status_code == 403
    assert response.json()["code"] == "metrics_client_not_allowed"
