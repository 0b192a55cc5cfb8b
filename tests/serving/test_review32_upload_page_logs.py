"""The upload page logs a photo's 5xx refusal by the API's rule (serving.api.errors
`server_error_level`): a passing 503 (a planned stop) once as a warning, another unlogged 5xx
(scoring stopped) once as an error, a 503 the pipeline logged itself (a timed-out model) not
again, and a 4xx not at all. It caught each photo's refusal to show it and logged none of
them: through the page a stop's 503 left no trace, and scoring stopped was silent."""

from __future__ import annotations

import html
import logging
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from serving import pipeline_refusals as refusals
from serving.web.i18n import load_catalogues
from tests.serving import scoring_fixtures
from tests.serving.helpers import PASSWORD, Service, hung_model, jpeg
from tests.serving.upload_helpers import stop_scoring
from tests.web.helpers import csrf_from, sign_in

database_url = scoring_fixtures.database_url  # SQLite only: overrides the folder's

PAGE = "/ui/upload"
PAGE_LOGGER = "serving.web.routes.upload"
EN = load_catalogues()["en"]
OUTCOME = re.compile(r'<article class="result[^"]*" data-outcome="([a-z]+)"')
NOT_A_PHOTO = b"these bytes are no photo at all"


def _browser(service: Service) -> tuple[TestClient, str]:
    """A client signed in as the inspector through the form, and the upload form's token."""
    browser = TestClient(service.app, base_url="http://127.0.0.1")
    assert sign_in(browser, "inspector", PASSWORD).status_code == 303
    return browser, csrf_from(browser.get(PAGE).text)


def _send(browser: TestClient, token: str, *photos: bytes) -> Any:
    """The photos for family F1 in one post of the page's form, as its script sends them."""
    answer = browser.post(
        PAGE,
        data={"csrf_token": token, "family_id": "F1"},
        files=[("files", (f"p{i}.jpg", photo, "image/jpeg")) for i, photo in enumerate(photos)],
        headers={"X-Requested-With": "fetch"},
    )
    assert answer.status_code == 200, answer.text
    return answer


def _shown(answer: Any) -> tuple[list[str], int]:
    """Each photo's outcome on the page, and how many say the service could not check it."""
    return OUTCOME.findall(answer.text), html.unescape(answer.text).count(
        EN["upload_error.unavailable"]
    )


def _said(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str, str]]:
    """Each record at WARNING or above: its logger, level and words."""
    return [
        (r.name, r.levelname, r.getMessage())
        for r in caplog.records
        if r.levelno >= logging.WARNING
    ]


def _refused_on_the_page(code: str, message: str) -> str:
    return f"page {PAGE} refused a photo: {code} {message}"


def test_a_stops_503_through_the_page_is_one_warning_and_a_4xx_is_not_logged(
    make_service,
    model_dir,
    caplog,
):
    service = make_service(model_dir=model_dir)
    service.create_family("F1")
    browser, token = _browser(service)
    service.client.portal.call(service.services.pipeline.aclose)  # the service's planned stop
    stopping = refusals.shutting_down()
    with caplog.at_level(logging.INFO):
        answer = _send(browser, token, NOT_A_PHOTO, jpeg(1))
    # Both refused; only the photo is "could not be checked" (the other bytes: a 4xx).
    assert _shown(answer) == (["refused", "refused"], 1), answer.text
    # Was: nothing at all; the API logs the same refusal as this warning.
    assert _said(caplog) == [
        (PAGE_LOGGER, "WARNING", _refused_on_the_page(stopping.code, stopping.message))
    ]
    assert not any("these bytes" in r.getMessage() for r in caplog.records)


def test_scoring_stopped_through_the_page_is_one_error_line_for_each_photo(
    make_service,
    model_dir,
    monkeypatch,
    caplog,
):
    service = make_service(model_dir=model_dir)
    service.create_family("F1")
    browser, token = _browser(service)
    stop_scoring(service, monkeypatch)  # its worker's death is logged here, as before
    caplog.clear()
    with caplog.at_level(logging.INFO):
        answer = _send(browser, token, jpeg(2), jpeg(3))
    assert _shown(answer) == (["refused", "refused"], 2), answer.text
    stopped = refusals.scoring_stopped("x").message.split("(", 1)[0]
    said = _said(caplog)
    # Was: nothing; through the API each is an ERROR.
    assert [(name, level) for name, level, _ in said] == [(PAGE_LOGGER, "ERROR")] * 2
    for _, _, words in said:
        assert words.startswith(_refused_on_the_page("unavailable", stopped)), words


def test_a_503_the_pipeline_logged_is_not_logged_again_by_the_page(
    make_service,
    model_dir,
    monkeypatch,
    caplog,
):
    service = make_service(model_dir=model_dir, batching={"score_timeout_s": 0.5})
    service.create_family("F1")
    browser, token = _browser(service)
    with caplog.at_level(logging.INFO), hung_model(service, monkeypatch):
        answer = _send(browser, token, jpeg(4))
        said = _said(caplog)
    assert _shown(answer) == (["refused"], 1), answer.text
    # The pipeline's own line only: how long the upload waited, and which model.
    assert [(name, level) for name, level, _ in said] == [("serving.pipeline", "ERROR")], said
    assert "did not answer within 0.5 s" in said[0][2]
