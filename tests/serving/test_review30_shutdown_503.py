"""Review 30: stopped (SIGTERM) with an upload waiting on a hung photo model, `shanyraq serve`
answered it with uvicorn's bare 500 ("Internal Server Error", text/plain, no Retry-After) when
`shutdown_requests_s` ran out, and logged a CancelledError traceback: uvicorn tells the app
nothing before it cancels the requests. Now the server tells the pipeline as its stop begins,
and an upload still waiting on the model a little before the cancel is answered with the
service's own "shutting down" 503 and its Retry-After; nothing is stored. An upload whose model
answers within the grace is still filed (201)."""

from __future__ import annotations

import asyncio
import signal
import socket
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import numpy as np
import pytest

from serving.core.config import Batching
from serving.errors import UnavailableError
from serving.pipeline import PhotoPipeline
from serving.pipeline_refusals import SHUTDOWN_RETRY_AFTER_S
from shanyraq.taxonomy import get_taxonomy
from tests.serving.helpers import HungEngine
from tests.serving.shutdown_helpers import BOUND_S, serve_held, upload_in_thread, wait_until
from tests.serving.subprocess_runs import START_BOUND_S, ended
from tests.vision.engine_fixtures import make_artifact


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_artifact(tmp_path_factory.mktemp("model"), get_taxonomy(), seed=3)


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=START_BOUND_S).close()
    except ConnectionRefusedError:
        return False
    return True


def _photos_stored(tmp_path: Path) -> tuple[int, list[Path]]:
    """The photo rows in the database and the files in the photo store."""
    with sqlite3.connect(tmp_path / "web.db") as db:
        (rows,) = db.execute("SELECT count(*) FROM photos").fetchone()
    store = tmp_path / "data" / "photos"
    return rows, [p for p in store.rglob("*") if p.is_file()] if store.exists() else []


@pytest.fixture(params=[True, False], ids=["micro-batcher", "one call each"])
def batching(request: pytest.FixtureRequest) -> bool:
    """Each test runs with the micro-batcher, and with one model call an upload."""
    return bool(request.param)


Stopped = tuple[Any, int, threading.Thread, dict[str, Any]]


@pytest.fixture
def stop_with_an_upload_held(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model_dir: Path, batching: bool
) -> Callable[[float], Stopped]:
    """`stop(shutdown_requests_s)`: `serve` (`serve_held`, `batching` as the test is run) sent
    SIGTERM once an upload's photo is held in the model; (the process, its port, the upload's
    thread and its outcome, as `upload_in_thread`)."""

    def stop(shutdown_requests_s: float) -> Stopped:
        process, port, token = serve_held(
            tmp_path, monkeypatch, model_dir, shutdown_requests_s=shutdown_requests_s,
            batching={"enabled": batching, "score_timeout_s": 60, "shutdown_wait_s": 1},
        )  # fmt: skip
        thread, outcome = upload_in_thread(port, token)
        wait_until((tmp_path / "called").exists, "the model was called")
        process.send_signal(signal.SIGTERM)
        return process, port, thread, outcome

    return stop


@pytest.mark.slow  # `serve` runs in a process of its own
def test_an_upload_waiting_on_a_hung_model_at_a_stop_gets_the_services_503(
    tmp_path, stop_with_an_upload_held
):
    process, _, thread, outcome = stop_with_an_upload_held(2)
    thread.join(BOUND_S)
    _, stderr = ended(process, bound_s=BOUND_S, what="serve, sent SIGTERM,")
    answer = outcome.get("answer")
    assert isinstance(answer, httpx.Response), (answer, stderr)
    # Was: 500, text/plain "Internal Server Error", no Retry-After, once uvicorn cancelled it.
    assert answer.status_code == 503, (answer.text, stderr)
    assert answer.headers["retry-after"] == str(SHUTDOWN_RETRY_AFTER_S)
    assert answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert body["code"] == "unavailable"
    assert "shutting down" in body["message"] and "nothing was stored" in body["message"]
    assert "Traceback" not in stderr and "CancelledError" not in stderr, stderr
    assert "timeout graceful shutdown exceeded" not in stderr, stderr  # answered before
    assert "the stop let go 1 upload(s) still waiting on the photo model" in stderr, stderr
    assert process.returncode == -signal.SIGTERM, stderr
    assert _photos_stored(tmp_path) == (0, [])


@pytest.mark.slow  # `serve` runs in a process of its own
def test_an_upload_whose_model_answers_within_the_grace_is_filed(
    tmp_path, stop_with_an_upload_held
):
    process, port, thread, outcome = stop_with_an_upload_held(30)
    # The stop has begun once the server takes no more connections; then the model answers.
    wait_until(lambda: not _listening(port), "serve stopped listening")
    (tmp_path / "release").touch()
    thread.join(BOUND_S)
    _, stderr = ended(process, bound_s=BOUND_S, what="serve, sent SIGTERM,")
    answer = outcome.get("answer")
    assert isinstance(answer, httpx.Response), (answer, stderr)
    assert answer.status_code == 201, (answer.text, stderr)
    assert "Traceback" not in stderr and "the stop let go" not in stderr, stderr
    rows, files = _photos_stored(tmp_path)
    assert rows == 1 and len(files) == 1, (rows, files)


def _pipeline(engine: HungEngine, *, batching: bool, score_timeout_s: float) -> PhotoPipeline:
    settings = Batching(
        enabled=batching, max_batch=2, max_wait_ms=0.0, score_timeout_s=score_timeout_s,
        shutdown_wait_s=0.0, max_queued=4,
    )  # fmt: skip
    return PhotoPipeline.from_config(engine, settings)  # type: ignore[arg-type]


_PHOTO: Any = SimpleNamespace(
    model_input=np.zeros((3, 32, 32), np.float32), quality=None,
    decoded=SimpleNamespace(sha256="0" * 64),
)  # fmt: skip


def _refused_after_the_stop_begins(
    pipeline: PhotoPipeline, *, deadline_in_s: float
) -> BaseException | None:
    """The pipeline's stop begun, its deadline `deadline_in_s` away, `_PHOTO` scored: the
    UnavailableError it is refused with (None: it was scored); the pipeline closed."""

    async def main() -> BaseException | None:
        pipeline.stop.begin(asyncio.get_running_loop().time() + deadline_in_s)
        try:
            await pipeline.score(_PHOTO)
        except UnavailableError as refused:
            return refused
        finally:
            await pipeline.aclose()
        return None

    return asyncio.run(main())


def test_after_the_stops_deadline_an_upload_is_refused_at_once_without_a_model_call(batching):
    engine = HungEngine()
    engine.release.set()  # a model that answers at once
    pipeline = _pipeline(engine, batching=batching, score_timeout_s=60)

    refused = _refused_after_the_stop_begins(pipeline, deadline_in_s=0.0)  # its deadline has come
    assert isinstance(refused, UnavailableError), refused
    assert "shutting down" in refused.message
    assert refused.retry_after_s == SHUTDOWN_RETRY_AFTER_S
    assert engine.batches == []


def test_an_upload_whose_own_timeout_comes_before_the_stops_deadline_is_refused_for_it(batching):
    engine = HungEngine()  # never answers within the test (HUNG_CALL_BOUND_S)
    pipeline = _pipeline(engine, batching=batching, score_timeout_s=0.5)

    refused = _refused_after_the_stop_begins(pipeline, deadline_in_s=BOUND_S)
    engine.release.set()
    assert isinstance(refused, UnavailableError), refused
    assert "did not answer within 0.5 s" in refused.message
