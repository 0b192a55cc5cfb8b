"""A page's form over the body limit gets the HTML 413 page in the reader's language, on the
reader's own page (review finding F9); the API keeps its JSON answer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from serving.web.i18n import load_catalogues
from tests.serving.helpers import Service, jpeg, started
from tests.web.helpers import LATIN_WORD, csrf_from, language_links, main_words, page_client


@pytest.fixture
def small_web(tmp_path: Path) -> Iterator[Service]:
    """The page tests' app with a body limit of 200 kB."""
    with started(tmp_path, max_body_bytes=200_000) as service:
        yield service


def test_a_page_upload_over_the_body_limit_gets_the_page_in_the_readers_language(small_web):
    small_web.create_family("F1")
    inspector = page_client(small_web, "inspector", "ru")
    page = inspector.get("/ui/upload").text
    photos = [("files", (f"p{i}.jpg", jpeg(i, size=(1600, 1200)), "image/jpeg")) for i in range(3)]
    answer = inspector.post(
        "/ui/upload", data={"family_id": "F1", "csrf_token": csrf_from(page)}, files=photos
    )
    assert answer.status_code == 413
    assert answer.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    ru = load_catalogues()["ru"]
    assert '<html lang="ru">' in answer.text
    assert f"<h1>{ru['error_title.413']}</h1>" in answer.text
    assert ru["error_reason.body_too_large"] in answer.text
    assert not LATIN_WORD.search(main_words(answer.text)), main_words(answer.text)
    assert language_links(answer.text)["kk"] == "/ui/upload?lang=kk"
    # The reader's own page: their menu, and a sign-out form that works.
    assert "inspector" in answer.text
    out = inspector.post(
        "/ui/logout", data={"csrf_token": csrf_from(answer.text)}, follow_redirects=False
    )
    assert out.status_code == 303 and out.headers["location"] == "/ui/login"


def test_a_streamed_page_upload_over_the_limit_gets_the_page_and_the_api_keeps_json(small_web):
    small_web.create_family("F1")
    inspector = page_client(small_web, "inspector", "ru")

    def chunks():  # no Content-Length: counted as it streams
        for _ in range(3):
            yield b"x" * 100_000

    streamed = inspector.post(
        "/ui/upload", content=chunks(),
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )  # fmt: skip
    assert streamed.status_code == 413 and streamed.headers["content-type"].startswith("text/html")
    assert '<html lang="ru">' in streamed.text
    api = small_web.client.post(
        "/families/F1/photos",
        headers=small_web.headers("inspector"),
        files={"file": ("p.jpg", b"\xff\xd8\xff" + b"\x00" * 300_000)},
    )
    assert api.status_code == 413 and api.json()["code"] == "body_too_large"
