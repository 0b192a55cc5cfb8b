"""Review 31: the rest of the stop's 503 (serving/shutdown_stop.py).

1. A planned stop's 503 ("shutting down", Retry-After) and a busy model's were each logged as
   an ERROR (serving.api.errors logs every 5xx so): neither is an error an operator must chase,
   so they are logged as warnings now, in the same words; the other 5xx stay errors.
2. How long before the server cancels the requests in flight the uploads waiting on the model
   are let go was a constant in code; it is `shutdown_answer_margin_s` in serving.yaml now,
   read and checked with the service's settings.
"""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient

from serving import pipeline_refusals as refusals
from serving.api.errors import install_error_handlers
from serving.core.config import load_serving_settings
from serving.errors import StorageError
from serving.shutdown_stop import StopSignals
from shanyraq.errors import ConfigError
from shanyraq.taxonomy import get_taxonomy
from tests.serving.helpers import ROOT
from tests.serving.shutdown_helpers import BOUND_S, serve_held, upload_in_thread, wait_until
from tests.serving.subprocess_runs import ended
from tests.vision.engine_fixtures import make_artifact

SHUTTING_DOWN = "unavailable: the service is shutting down"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_artifact(tmp_path_factory.mktemp("model"), get_taxonomy(), seed=3)


# --- 1. the log level of a 503 that passes by itself --------------------------------------


@pytest.mark.slow  # `serve` runs in a process of its own
def test_a_stops_503_is_logged_as_a_warning_and_no_error_is_written_for_it(
    tmp_path, monkeypatch, model_dir
):
    process, port, token = serve_held(
        tmp_path, monkeypatch, model_dir, shutdown_requests_s=2,
        batching={"enabled": True, "score_timeout_s": 60, "shutdown_wait_s": 1},
    )  # fmt: skip
    thread, outcome = upload_in_thread(port, token)
    wait_until((tmp_path / "called").exists, "the model was called")
    process.send_signal(signal.SIGTERM)
    thread.join(BOUND_S)
    _, stderr = ended(process, bound_s=BOUND_S, what="serve, sent SIGTERM,")
    answer = outcome.get("answer")
    assert isinstance(answer, httpx.Response) and answer.status_code == 503, (answer, stderr)
    said = [line for line in stderr.splitlines() if SHUTTING_DOWN in line]
    # Was: "... ERROR serving.api.errors: unavailable: the service is shutting down ...".
    assert len(said) == 1, stderr
    assert " WARNING serving.api.errors: " in said[0], said
    assert [line for line in stderr.splitlines() if " ERROR " in line] == [], stderr


def _answered(error: Exception, caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """What serving.api.errors logged answering a request that raised `error` (with its
    status, as the API answers it)."""
    app = FastAPI()
    install_error_handlers(app)

    def refused() -> None:
        raise error

    app.add_api_route("/refused", refused)
    with caplog.at_level(logging.DEBUG, logger="serving.api.errors"):
        status = TestClient(app).get("/refused").status_code
    assert status == getattr(error, "http_status", None)
    return [r for r in caplog.records if r.name == "serving.api.errors"]


@pytest.mark.parametrize(
    "error",
    [refusals.shutting_down(), refusals.busy(256, score_timeout_s=30.0)],
    ids=["shutting down", "busy"],
)
def test_a_503_that_passes_by_itself_is_one_warning(error, caplog):
    records = _answered(error, caplog)
    assert [(r.levelname, r.getMessage()) for r in records] == [
        ("WARNING", f"unavailable: {error.message}")
    ]


@pytest.mark.parametrize(
    "error",
    [
        refusals.scoring_stopped("its worker died"),
        refusals.timed_out(30.0),
        refusals.not_answering(1, score_timeout_s=30.0),
        StorageError("the photo store is full"),
    ],
    ids=["scoring stopped", "timed out", "not answering", "storage"],
)
def test_another_5xx_is_still_one_error(error, caplog):
    records = _answered(error, caplog)
    assert [(r.levelname, r.getMessage()) for r in records] == [
        ("ERROR", f"{error.code}: {error.message}")
    ]


# --- 2. shutdown_answer_margin_s -----------------------------------------------------------


def _signals(tmp_path: Path, **settings: Any) -> StopSignals:
    path = tmp_path / "serving.yaml"
    path.write_text(yaml.safe_dump({"data_dir": str(tmp_path), **settings}), encoding="utf-8")
    return StopSignals.from_settings(FastAPI(), load_serving_settings(path), on_stop=print)


def test_the_answer_margin_is_read_from_serving_yaml_and_sets_the_stops_deadline(
    tmp_path, monkeypatch
):
    monkeypatch.delenv("SHANYRAQ_SERVING__SHUTDOWN_ANSWER_MARGIN_S", raising=False)
    monkeypatch.delenv("SHANYRAQ_SERVING__SHUTDOWN_REQUESTS_S", raising=False)
    shipped = yaml.safe_load((ROOT / "configs" / "serving.yaml").read_text())
    margin_s = shipped["shutdown_answer_margin_s"]
    assert _signals(tmp_path, shutdown_requests_s=10).deadline(now=100.0) == 110.0 - margin_s
    wider = _signals(tmp_path, shutdown_requests_s=10, shutdown_answer_margin_s=3.5)
    assert wider.deadline(now=100.0) == 106.5
    # Half the grace if that is shorter.
    short = _signals(tmp_path, shutdown_requests_s=2, shutdown_answer_margin_s=3.5)
    assert short.deadline(now=100.0) == 101.0


def test_the_answer_margin_is_read_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SHANYRAQ_SERVING__SHUTDOWN_ANSWER_MARGIN_S", "0.25")
    settings = load_serving_settings(data_dir=tmp_path, shutdown_requests_s=10)
    assert settings.shutdown_answer_margin_s == 0.25


@pytest.mark.parametrize(
    ("value", "reason"),
    [(0, "greater than 0"), (-1, "greater than 0"), ("inf", "finite number"), ("x", "number")],
)
def test_an_answer_margin_not_a_number_of_seconds_above_zero_is_refused(tmp_path, value, reason):
    # 0 would answer no later than the server cancels: a race the 503 may lose to uvicorn's 500.
    path = tmp_path / "serving.yaml"
    path.write_text(yaml.safe_dump({"shutdown_answer_margin_s": value}), encoding="utf-8")
    with pytest.raises(
        ConfigError, match=rf"key 'shutdown_answer_margin_s': Input should be .*{reason}"
    ):
        load_serving_settings(path)
