"""Review 22: /health answers 503 when the service cannot serve (database or store failing,
photo scoring stopped), each of its checks is bounded in time and a hung one is not started
again per call, and a busy SQLite writer does not make it fail."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine

from serving.api.routes import system

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

WAIT_S = 30  # how long a test waits for an answer that a hang would never give


def _get_health_in_thread(service: Any) -> Any:
    """GET /health from another thread; the answer, or a failure if none came in WAIT_S."""
    answers: list[Any] = []
    thread = threading.Thread(target=lambda: answers.append(service.client.get("/health")))
    thread.start()
    thread.join(WAIT_S)
    assert not thread.is_alive(), f"/health gave no answer within {WAIT_S} s"
    return answers[0]


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Set at the end of the test, so a check made to hang returns."""
    event = threading.Event()
    yield event
    event.set()


def test_health_answers_503_when_the_store_cannot_be_written(service, tmp_path, monkeypatch):
    not_a_folder = tmp_path / "not a folder"  # no probe file can be made in it
    not_a_folder.write_bytes(b"")
    monkeypatch.setattr(service.services.store, "root", not_a_folder)
    answer = service.client.get("/health")
    assert answer.status_code == 503, answer.text
    body = answer.json()
    assert body["store"].startswith("error:") and body["database"] == "ok"
    assert body["status"] == "unavailable"  # not "degraded", which the 200s say


def test_health_answers_503_when_the_database_cannot_be_reached(service, tmp_path, monkeypatch):
    gone = create_engine(f"sqlite:///{tmp_path / 'no such folder' / 'service.db'}")
    monkeypatch.setattr(service.services, "db_engine", gone)
    monkeypatch.setattr(service.services, "read_engine", gone)
    answer = service.client.get("/health")
    assert answer.status_code == 503, answer.text
    assert answer.json()["database"] == "error: OperationalError"
    assert answer.json()["store"] == "ok"


def test_a_healthy_service_without_models_still_answers_200(service):
    # Models not configured is a documented way to run (rules only): degraded, still serving.
    answer = service.client.get("/health")
    assert answer.status_code == 200 and answer.json()["status"] == "degraded"


def test_health_is_not_held_up_by_an_upload_holding_the_sqlite_writer(service):
    # The writers share one pooled connection; an upload holding it says nothing about health.
    with service.services.db_engine.connect() as held:
        held.exec_driver_sql("SELECT 1")
        answer = _get_health_in_thread(service)
    assert answer.status_code == 200, answer.text
    assert answer.json()["database"] == "ok"


def _hang_store(service: Any, monkeypatch: Any, release: threading.Event) -> list[int]:
    calls: list[int] = []

    def hung() -> str:
        calls.append(1)
        release.wait()
        return "ok"

    monkeypatch.setattr(service.services.store, "health", hung)
    return calls


def _hang_database(service: Any, monkeypatch: Any, release: threading.Event) -> list[int]:
    calls: list[int] = []

    def connect() -> sqlite3.Connection:
        calls.append(1)
        release.wait()
        return sqlite3.connect(":memory:", check_same_thread=False)

    hung = create_engine("sqlite://", creator=connect)
    monkeypatch.setattr(service.services, "db_engine", hung)
    monkeypatch.setattr(service.services, "read_engine", hung)
    return calls


@pytest.mark.parametrize(("field", "hang"), [("store", _hang_store), ("database", _hang_database)])
def test_a_hung_check_does_not_hang_health_nor_pile_up(service, monkeypatch, release, field, hang):
    monkeypatch.setattr(system, "HEALTH_CHECK_TIMEOUT_S", 0.2, raising=False)
    calls = hang(service, monkeypatch, release)
    first = _get_health_in_thread(service)
    second = _get_health_in_thread(service)
    for answer in (first, second):
        assert answer.status_code == 503, answer.text
        assert answer.json()[field].startswith("error: no answer within 0.2 s"), answer.text
    assert len(calls) == 1  # the second call waited on the hung check, it started no other
    other = "database" if field == "store" else "store"
    assert second.json()[other] == "ok"
    release.set()
    after = _get_health_in_thread(service)
    assert after.status_code == 200 and after.json()[field] == "ok", after.text


def test_health_answers_503_once_photo_scoring_has_stopped(
    make_service,
    model_dir,
):
    from vision.batcher_errors import BatcherStoppedError

    service = make_service(model_dir=model_dir)
    assert service.client.get("/health").status_code == 200
    batcher = service.services.pipeline._batcher
    assert batcher is not None
    # As the worker's death leaves it (tests/serving/test_batcher_queue_review21.py).
    batcher._stopped = BatcherStoppedError("the batch function raised KeyboardInterrupt")
    answer = service.client.get("/health")
    assert answer.status_code == 503, answer.text
    body = answer.json()
    assert body["status"] == "unavailable"
    assert any("photo scoring has stopped" in problem for problem in body["problems"]), body
    assert "KeyboardInterrupt" not in answer.text  # the reason is for the log, not the public


def test_the_openapi_declares_the_503_of_health(service):
    responses = service.client.get("/openapi.json").json()["paths"]["/health"]["get"]["responses"]
    assert "503" in responses and "200" in responses
