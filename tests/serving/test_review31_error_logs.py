"""Review 31: one log line for each 5xx, at the level its cause asks for.

1. A timed-out upload's 503 and a "not answering" model's 503 were each logged twice as an
   ERROR: by the pipeline (how long it waited, how many calls, which model) and again by
   serving.api.errors ("unavailable: ..." with the client's words). The pipeline's line stays;
   the error it raises says it was logged (LoggedUnavailableError), and is not logged again.
2. The pages (serving.web.errors) logged every 5xx as an ERROR, a busy model's and a planned
   stop's too: they follow the API's rule now, through the one helper both use. No error page
   meets the pipeline's 503s today (the upload page shows each refused photo in its results and
   logs it by the same rule: test_review32_upload_page_logs), so the rule is checked on a page
   of a test app that raises them.
"""

from __future__ import annotations

import logging

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from serving import pipeline_refusals as refusals
from serving.api.errors import install_error_handlers, server_error_level
from serving.errors import StorageError
from serving.web.session import PREFIX
from tests.serving import scoring_fixtures
from tests.serving.helpers import Service, hung_model, jpeg

database_url = scoring_fixtures.database_url  # SQLite only: overrides the folder's


def _said(records: list[logging.LogRecord]) -> list[tuple[str, str, str]]:
    """Each record at WARNING or above: its logger, level and words."""
    return [(r.name, r.levelname, r.getMessage()) for r in records if r.levelno >= logging.WARNING]


def _uploads_refused_503(metrics: str) -> float:
    """The /metrics count of uploads answered 503."""
    labels = 'method="POST",route="/families/{family_id}/photos",status="503"'
    for line in metrics.splitlines():
        if line.startswith(f"shanyraq_http_requests_total{{{labels}}} "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


# --- 1. the pipeline's own 503s, through the app ------------------------------------------


@pytest.mark.parametrize("batched", [True, False], ids=["micro-batcher", "one call each"])
def test_a_timed_out_upload_and_a_not_answering_model_are_each_one_error_line(
    make_service,
    model_dir,
    monkeypatch,
    caplog,
    batched,
):
    service = make_service(
        model_dir=model_dir,
        batching={"enabled": batched, "max_batch": 1, "max_wait_ms": 1, "score_timeout_s": 0.5},
    )
    service.create_family("F1")
    with caplog.at_level(logging.INFO), hung_model(service, monkeypatch):
        timed_out = service.upload("F1", jpeg(1))
        said_timed_out = _said(caplog.records)
        caplog.clear()
        not_answering = service.upload("F1", jpeg(2))
        said_not_answering = _said(caplog.records)
    assert timed_out.status_code == 503, timed_out.text
    assert "did not answer within 0.5 s" in timed_out.json()["message"]
    assert not_answering.status_code == 503, not_answering.text
    assert "the photo model is not answering" in not_answering.json()["message"]

    # Was also: ("serving.api.errors", "ERROR", "unavailable: the photo model did not ...").
    model = service.services.pipeline.model_version
    assert said_timed_out == [
        (
            "serving.pipeline",
            "ERROR",
            f"the photo model did not answer within 0.5 s (model {model}); the upload was "
            "refused with 503 and nothing was stored",
        )
    ]
    assert [(name, level) for name, level, _ in said_not_answering] == [
        ("serving.pipeline", "ERROR")
    ]
    assert said_not_answering[0][2].startswith("the photo model is not answering: 1 of its ")
    assert f"past their uploads' 0.5 s (model {model})" in said_not_answering[0][2]

    # Still counted, each, as a 503 the upload route answered.
    metrics = service.client.get("/metrics")
    assert metrics.status_code == 200, metrics.text
    assert _uploads_refused_503(metrics.text) == 2


def test_a_refusal_the_pipeline_has_logged_is_still_answered_as_before():
    logged = refusals.timed_out(0.5, logged=True)
    plain = refusals.timed_out(0.5)
    assert isinstance(logged, refusals.LoggedUnavailableError)
    assert not isinstance(plain, refusals.LoggedUnavailableError)
    app = FastAPI()
    install_error_handlers(app)

    def refused(which: str) -> None:
        raise logged if which == "logged" else plain

    app.add_api_route("/refused/{which}", refused)
    client = TestClient(app)
    answers = [client.get(f"/refused/{which}") for which in ("logged", "plain")]
    assert answers[0].status_code == answers[1].status_code == 503
    assert answers[0].json() == answers[1].json()
    assert answers[0].headers["Retry-After"] == answers[1].headers["Retry-After"] == "1"


# --- 2. one rule for the API's 5xx and the pages' -----------------------------------------


@pytest.mark.parametrize(
    ("error", "level"),
    [
        (refusals.shutting_down(), logging.WARNING),
        (refusals.busy(256, score_timeout_s=30.0), logging.WARNING),
        (refusals.timed_out(30.0), logging.ERROR),
        (refusals.timed_out(30.0, logged=True), None),
        (refusals.not_answering(2, score_timeout_s=30.0), logging.ERROR),
        (refusals.not_answering(2, score_timeout_s=30.0, logged=True), None),
        (refusals.scoring_stopped("its worker died"), logging.ERROR),
        (StorageError("the photo store is full"), logging.ERROR),
        (RuntimeError("a bug"), logging.ERROR),
    ],
    ids=[
        "shutting down", "busy", "timed out", "timed out, logged", "not answering",
        "not answering, logged", "scoring stopped", "storage", "unexpected",
    ],
)  # fmt: skip
def test_the_level_a_5xx_is_logged_at(error, level):
    assert server_error_level(error) == level


def _raising_page(service: Service, error: Exception) -> str:
    """The address of a page added to `service`'s app that fails with `error`."""

    def refused() -> None:
        raise error

    service.app.add_api_route(f"{PREFIX}/refused", refused)
    return f"{PREFIX}/refused"


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (refusals.shutting_down(), ["WARNING"]),
        (refusals.busy(256, score_timeout_s=30.0), ["WARNING"]),
        (refusals.scoring_stopped("its worker died"), ["ERROR"]),
        (StorageError("the photo store is full"), ["ERROR"]),
        (refusals.not_answering(1, score_timeout_s=30.0, logged=True), []),
    ],
    ids=["shutting down", "busy", "scoring stopped", "storage", "not answering, logged"],
)
def test_a_pages_5xx_is_logged_by_the_apis_rule(service, error, said, caplog):
    page = _raising_page(service, error)
    with caplog.at_level(logging.DEBUG, logger="serving.web.errors"):
        answer = service.client.get(page)
    assert answer.status_code == error.http_status  # type: ignore[attr-defined]
    assert "text/html" in answer.headers["content-type"]
    records = [r for r in caplog.records if r.name == "serving.web.errors"]
    # Was: an ERROR for each, the busy model's and the planned stop's too.
    assert [r.levelname for r in records] == said
    for record in records:
        assert record.getMessage() == (
            f"page {page} failed: {error.code} {error.message}"  # type: ignore[attr-defined]
        )
