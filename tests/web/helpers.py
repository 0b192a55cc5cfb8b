"""Helpers of the page tests: photos that look like homes, blurred ones, a form's multipart body
as a browser writes it, signing in by form, a signed-in client reading the pages in a language,
and what a page says: a text it holds, its visible words, its language links and its decision
form."""

from __future__ import annotations

import html
import io
import os
import re
from html.parser import HTMLParser
from typing import Any

import numpy as np
from PIL import Image

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

CSRF_INPUT = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')
LANGUAGE_LINK = re.compile(r'<li><a href="([^"]*)" lang="(\w+)" hreflang')
LATIN_WORD = re.compile(r"[A-Za-z]{3,}")  # an English word or an internal code
# A refusal's card on a page (the text inside it).
ERROR_CARD = re.compile(r'<p class="error" role="alert">(.*?)</p>', re.S)


def encode_jpeg(pixels: np.ndarray, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def home_photo(
    seed: int,
    *,
    room: str = "kitchen",
    condition: int = 2,
    signs: tuple[str, ...] = ("damp_mould",),
    size: int = 512,
) -> bytes:
    """A synthetic photo of a room (training.synth), sharp enough to pass the quality gate."""
    from training.synth.photos import render_photo
    from training.synth.spec import PhotoSpec

    spec = PhotoSpec(
        room=room, condition=condition, signs=frozenset(signs), style=seed % 4, wear=0.7
    )
    return encode_jpeg(render_photo(spec, size=size, rng=np.random.default_rng(seed)).image)


def blurred_photo(seed: int) -> bytes:
    """A room-like photo blurred far below the gate's blur threshold (quality `fail`)."""
    import cv2

    from tests.vision.engine_fixtures import room_scene

    return encode_jpeg(cv2.GaussianBlur(room_scene(seed), (0, 0), 8))


def csrf_from(html: str) -> str:
    found = CSRF_INPUT.search(html)
    assert found, "the page has no CSRF field"
    return found.group(1)


BOUNDARY = "b0undary"  # multipart_body's, unless given
MULTIPART_HEADERS = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


def multipart_body(
    fields: dict[str, str], files: list[tuple[str, str, bytes]], boundary: str = BOUNDARY
) -> bytes:
    """A multipart body as a browser writes it (a file part keeps `filename=""`): `files` as
    (field, file name, bytes)."""
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    for field, filename, data in files:
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; '
            f'filename="{filename}"\r\nContent-Type: image/jpeg\r\n\r\n'
        )
        parts.append(head.encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode()


def sign_in(client: Any, username: str, password: str) -> Any:
    """Sign in through the page's form; the client keeps the session cookie."""
    page = client.get("/ui/login")
    return client.post(
        "/ui/login",
        data={"username": username, "password": password, "csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )


def page_client(service: Any, username: str, language: str = "en") -> Any:
    """A client of the service's app signed in as `username` through the page's form (the
    test users' password), reading the pages in `language`."""
    from fastapi.testclient import TestClient

    from tests.serving.helpers import PASSWORD

    client = TestClient(service.app, base_url="http://127.0.0.1")
    assert sign_in(client, username, PASSWORD).status_code == 303
    client.cookies.set("shanyraq_lang", language, path="/ui")
    return client


def found_text(pattern: str, page: str) -> str:
    """The text `pattern`'s first group matches in `page` (across lines), unescaped and
    stripped; the test fails naming the pattern if the page has none."""
    found = re.search(pattern, page, re.S)
    assert found, f"the page has no {pattern!r}"
    return html.unescape(found.group(1)).strip()


def main_words(page: str) -> str:
    """The visible words of the page's main part (tags and attributes left out), one space
    between each two."""
    main = page.split('<main id="main" tabindex="-1">')[1].split("</main>")[0]
    return " ".join(html.unescape(re.sub(r"<[^>]*>", " ", main)).split())


def language_links(page: str) -> dict[str, str]:
    """Where the page's language links lead, by language."""
    return {code: html.unescape(href) for href, code in LANGUAGE_LINK.findall(page)}


def assessment_id(page: str) -> str:
    """The assessment a family page's decision form decides on."""
    return page.split('name="assessment_id" value="')[1].split('"')[0]


def decision_form(page: str, **fields: str) -> dict[str, str]:
    """The fields of a family page's decision form as sent: an override with nothing chosen,
    but for `fields`."""
    return {
        "csrf_token": csrf_from(page), "assessment_id": assessment_id(page), "kind": "override",
        "level": "", "reason_code": "", "reason": "", **fields,
    }  # fmt: skip


class _Inputs(HTMLParser):
    def __init__(self, by: str) -> None:
        super().__init__()
        self.by = by
        self.fields: dict[str, dict[str, str | None]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "input" and found.get(self.by):
            self.fields[str(found[self.by])] = found


def inputs(page: str, *, by: str = "name") -> dict[str, dict[str, str | None]]:
    """The attributes of each <input> of `page`, by its `by` attribute (name or id)."""
    parser = _Inputs(by)
    parser.feed(page)
    return parser.fields
