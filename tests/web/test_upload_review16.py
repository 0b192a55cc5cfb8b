"""The body limit under odd requests (review 16): a form to the upload page whose Content-Length
lies, or that streams past the limit, is refused in the reader's words before a photo is decoded
and files nothing; the limit itself counts the bytes that arrive, whatever is declared. The
upload page's other refusals: test_upload_page_review16.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from serving.api.body_limit import BodySizeLimit
from serving.web.i18n import load_catalogues
from tests.serving.body_limit_helpers import Recorder, run_limit
from tests.serving.helpers import PASSWORD, Service, jpeg, nothing_filed, started
from tests.web.helpers import MULTIPART_HEADERS, csrf_from, multipart_body, sign_in

RU = load_catalogues()["ru"]


@pytest.fixture
def small_web(tmp_path: Path) -> Iterator[Service]:
    """The page tests' app with a body limit of 200 kB."""
    with started(tmp_path, max_body_bytes=200_000) as service:
        yield service


@pytest.fixture
def no_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    import serving.pipeline as pipeline

    def never(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("decoded a body over the limit")

    monkeypatch.setattr(pipeline, "decode_image", never)


def _signed_in(web: Service) -> tuple[Any, str]:
    from fastapi.testclient import TestClient

    client = TestClient(web.app, base_url="http://127.0.0.1")
    assert sign_in(client, "inspector", PASSWORD).status_code == 303
    client.cookies.set("shanyraq_lang", "ru", path="/ui")
    return client, csrf_from(client.get("/ui/upload").text)


@pytest.mark.parametrize("declared", ["1000", "150000"], ids=["tiny", "under-the-limit"])
def test_a_content_length_smaller_than_the_body_does_not_pass_the_limit(
    small_web, no_decoding, declared
):
    small_web.create_family("F1")
    inspector, token = _signed_in(small_web)
    photos = [("files", f"p{i}.jpg", jpeg(i, size=(1600, 1200))) for i in range(3)]
    body = multipart_body({"csrf_token": token, "family_id": "F1"}, photos)
    assert len(body) > 200_000
    answer = inspector.post(
        "/ui/upload", content=body, headers={**MULTIPART_HEADERS, "Content-Length": declared}
    )
    assert answer.status_code == 413 and '<html lang="ru">' in answer.text
    assert RU["error_reason.body_too_large"] in answer.text
    assert nothing_filed(small_web)


def test_a_streamed_form_whose_first_photo_arrived_whole_files_nothing(small_web, no_decoding):
    small_web.create_family("F1")
    inspector, token = _signed_in(small_web)
    fields = {"csrf_token": token, "family_id": "F1"}
    first = [("files", "p1.jpg", jpeg(1))]
    big = [("files", f"p{i}.jpg", jpeg(i, size=(1600, 1200))) for i in (2, 3)]
    body = multipart_body(fields, first + big)
    assert len(multipart_body(fields, first)) < 200_000 < len(body)

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
        for start in range(0, len(body), 16_384):
            yield body[start : start + 16_384]

    answer = inspector.post("/ui/upload", content=chunks(), headers=MULTIPART_HEADERS)
    assert answer.status_code == 413 and answer.headers["connection"] == "close"
    assert nothing_filed(small_web)


@pytest.mark.parametrize(
    "declared", [b"101", b"99999999999999999999", b"-1", b"1e2", b"+50", b" 50"]
)
def test_a_declared_length_over_the_limit_or_not_a_number_is_refused_unread(declared):
    inner = Recorder()
    sent, reads = run_limit(
        BodySizeLimit(inner, max_bytes=100, max_json_bytes=100),
        [(b"content-length", declared)],
        [b"x" * 10],
    )
    assert not inner.called and reads == 0
    assert sent[0]["status"] == 413 and b"body_too_large" in sent[1]["body"]


@pytest.mark.parametrize("declared", [None, b"10", b"100"], ids=["chunked", "lying", "limit"])
def test_the_bytes_that_arrive_are_counted_whatever_is_declared(declared):
    inner = Recorder()
    headers = [(b"content-length", declared)] if declared else []
    sent, _ = run_limit(
        BodySizeLimit(inner, max_bytes=100, max_json_bytes=100), headers, [b"x" * 60, b"x" * 60]
    )
    assert [m["status"] for m in sent if "status" in m] == [413]
    assert b"stored" not in b"".join(m.get("body", b"") for m in sent)
    # At the limit exactly, the body passes.
    inner = Recorder()
    sent, _ = run_limit(
        BodySizeLimit(inner, max_bytes=100, max_json_bytes=100), headers, [b"x" * 50, b"x" * 50]
    )
    assert sent[0]["status"] == 200 and inner.body == b"x" * 100
