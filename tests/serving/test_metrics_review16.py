"""Review 16: a request that fails unhandled is still measured; the decision counter says what
it counts; configs/engine.yaml `runtime` refuses thread counts that are not integers and
providers listed after cpu."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
import yaml

from shanyraq.errors import ConfigError
from tests.serving.helpers import ROOT, make_settings, small_fusion_model

OVERRIDE = {"kind": "override", "level": 2, "reason_code": "income_evidence",
            "reason": "employer letter shows wage arrears"}  # fmt: skip


# --- 1. the request-metrics middleware and unhandled exceptions ----------------------------


def test_a_request_failing_unhandled_is_counted_as_500_and_timed(tmp_path, caplog):
    from fastapi.testclient import TestClient

    from serving.app import create_app

    app = create_app(make_settings(tmp_path, f"sqlite:///{tmp_path / 'service.db'}"))

    def fail() -> None:
        raise RuntimeError("a bug in a handler")

    app.add_api_route("/review16/fail/{item}", fail)
    with (
        caplog.at_level(logging.ERROR),
        TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False) as client,
    ):
        answer = client.get("/review16/fail/x1")
        again = client.get("/review16/fail/x2")
        text = client.get("/metrics").text
    # The existing error handling still answers: the project's 500 body, logged once each.
    assert answer.status_code == again.status_code == 500
    assert answer.json()["code"] == "internal_error", answer.text
    logged = [r.getMessage() for r in caplog.records if r.name == "serving.api.errors"]
    assert logged == [
        f"GET /review16/fail/{item} failed: unexpected error" for item in ("x1", "x2")
    ]
    route = "/review16/fail/{item}"
    assert f'shanyraq_http_requests_total{{method="GET",route="{route}",status="500"}} 2.0' in text
    assert f'shanyraq_http_request_seconds_count{{route="{route}"}} 2.0' in text
    assert "x1" not in text  # the route template, not the path


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_answered_requests_are_still_counted_once(service):
    service.client.get("/health")
    text = service.client.get("/metrics").text
    assert 'shanyraq_http_requests_total{method="GET",route="/health",status="200"} 1.0' in text


# --- 2. the decision counter ----------------------------------------------------------------


def _decide(service, assessment_id, body):
    return service.client.post(
        f"/assessments/{assessment_id}/decisions", json=body, headers=service.headers("commission")
    )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_decision_counter_counts_every_decision_by_kind(make_service, tmp_path):
    # A fusion model, so the system gives a level and the commission may accept it.
    service = make_service(fusion_dir=small_fusion_model(tmp_path / "fusion"))
    service.create_family("F1")
    made = service.client.post("/families/F1/assessments", headers=service.headers("inspector"))
    assert made.status_code == 201, made.text
    assert made.json()["level"] is not None, made.text
    aid = made.json()["assessment_id"]
    assert _decide(service, aid, {"kind": "accept"}).status_code == 201
    for level in [other for other in range(1, 7) if other != made.json()["level"]][:2]:
        overridden = _decide(service, aid, {**OVERRIDE, "level": level})
        assert overridden.status_code == 201, overridden.text
    metrics = service.services.metrics
    assert not hasattr(metrics, "overrides")  # it never counted overrides only
    text = service.client.get("/metrics").text
    assert 'shanyraq_decisions_total{kind="accept"} 1.0' in text
    assert 'shanyraq_decisions_total{kind="override"} 2.0' in text
    help_line = re.search(r"^# HELP shanyraq_decisions_total (.*)$", text, re.MULTILINE)
    assert help_line is not None
    assert "accept" in help_line.group(1) and "override" in help_line.group(1)


# --- 3. configs/engine.yaml `runtime` is strict ---------------------------------------------


def _engine_yaml(tmp_path: Path, **runtime: object) -> Path:
    data = yaml.safe_load((ROOT / "configs" / "engine.yaml").read_text(encoding="utf-8"))
    data["runtime"].update(runtime)
    path = tmp_path / "engine.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def test_the_shipped_engine_config_loads():
    from vision.engine import load_engine_config

    runtime = load_engine_config(ROOT / "configs" / "engine.yaml").runtime
    assert runtime.providers[-1] == "cpu"
    assert isinstance(runtime.intra_op_threads, int)


@pytest.mark.parametrize("key", ["intra_op_threads", "inter_op_threads"])
@pytest.mark.parametrize("bad", [True, False, "2", 2.0, "0"])
def test_a_thread_count_that_is_no_integer_is_refused(tmp_path, key, bad):
    from vision.engine import load_engine_config

    path = _engine_yaml(tmp_path, **{key: bad})
    with pytest.raises(ConfigError) as info:
        load_engine_config(path)
    message = str(info.value)
    assert str(path) in message and f"key 'runtime.{key}'" in message, message
    assert "integer" in message


@pytest.mark.parametrize(
    ("providers", "late"),
    [
        (["cpu", "cuda"], "cuda"),
        (["cuda", "cpu", "tensorrt"], "tensorrt"),
        (["cpu", "tensorrt", "cuda"], "tensorrt"),
    ],
)
def test_a_gpu_provider_after_cpu_is_refused(tmp_path, providers, late):
    from vision.engine import load_engine_config

    path = _engine_yaml(tmp_path, providers=providers)
    with pytest.raises(ConfigError) as info:
        load_engine_config(path)
    message = str(info.value)
    assert str(path) in message and "key 'runtime.providers'" in message, message
    assert late in message and "before cpu" in message, message


@pytest.mark.parametrize(
    "providers", [["cpu"], ["cuda", "cpu"], ["tensorrt", "cuda", "cpu"], ["cuda"], ["tensorrt"]]
)
def test_sensible_provider_orders_load(tmp_path, providers):
    from vision.engine import load_engine_config

    config = load_engine_config(_engine_yaml(tmp_path, providers=providers))
    assert config.runtime.providers == tuple(providers)


def test_integer_thread_counts_load(tmp_path):
    from vision.engine import load_engine_config

    config = load_engine_config(_engine_yaml(tmp_path, intra_op_threads=2, inter_op_threads=0))
    assert (config.runtime.intra_op_threads, config.runtime.inter_op_threads) == (2, 0)
