"""The body limit under real HTTP (review 22, helper p443): uvicorn on 127.0.0.1, raw sockets.

A JSON body is parsed whole, in the event loop, before the route checks who sent it; the
limit for photos (`max_body_bytes`, 32 MiB shipped) let anyone stall every request for
seconds with one. JSON bodies have a limit of their own, checked before anything is read;
photos (multipart) keep the larger one, counted as they stream.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from serving.api import strict_json
from serving.api.body_limit import BodySizeLimit
from serving.core.config import load_serving_settings
from serving.db.models import AuditEntry, Family, Photo
from tests.serving.body_limit_helpers import Recorder, run_limit
from tests.serving.helpers import cheap_hasher, family_body, jpeg, make_settings
from tests.web import live as live_server
from tests.web.live import LiveServer

MAX_BODY = 4 * 1024 * 1024  # over the JSON limit, so the two differ
MAX_JSON_BODY_BYTES = load_serving_settings().max_json_body_bytes  # configs/serving.yaml
assert MAX_JSON_BODY_BYTES < MAX_BODY


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    from serving.core import security

    tmp = tmp_path_factory.mktemp("body-limit")
    settings = make_settings(tmp, f"sqlite:///{tmp / 'db.sqlite'}", max_body_bytes=MAX_BODY)
    with pytest.MonkeyPatch.context() as patch:  # cheap hashing while users are seeded
        patch.setattr(security, "_HASHER", cheap_hasher())
        server = live_server.start(settings)
    try:
        assert server.api("inspector").post("/families", json=family_body("F1")).status_code == 201
        yield server
    finally:
        server.stop()


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of each JSON body the routes parsed."""
    real = strict_json.loads_strict
    sizes: list[int] = []

    def recording(body: bytes) -> Any:
        sizes.append(len(body))
        return real(body)

    monkeypatch.setattr(strict_json, "loads_strict", recording)
    return sizes


def _exchange(live: LiveServer, head: bytes, parts: Iterable[bytes] = ()) -> tuple[int, bytes]:
    """Send `head` then `parts` on one connection (stopping when the server hangs up); the
    status and the whole of what came back (head and body), read until the server closes."""
    port = int(live.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(head)
        for part in parts:
            try:
                conn.sendall(part)
            except OSError:  # refused mid-body: the answer is already on its way
                break
        received = b""
        while True:
            try:
                chunk = conn.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
    status = int(received.split(b" ", 2)[1]) if received.startswith(b"HTTP/1.1 ") else 0
    return status, received


def _chunked(body: bytes, size: int = 65536) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        part = body[start : start + size]
        yield b"%x\r\n" % len(part) + part + b"\r\n"
    yield b"0\r\n\r\n"


def _answer(received: bytes) -> dict[str, Any]:
    head, _, body = received.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower(), head
    assert b"connection: close" in head.lower(), head
    answer: dict[str, Any] = json.loads(body)
    return answer


def _post(path: str, *, token: str | None, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _padded_family(family_id: str, size: int) -> bytes:
    """A valid family record made `size` bytes long with whitespace (which JSON allows)."""
    body = json.dumps(family_body(family_id)).encode()
    return body[:-1] + b" " * (size - len(body)) + b"}"


def _count(live: LiveServer, model: Any, *where: Any) -> int:
    with live.app.state.services.sessions() as session:
        statement = select(func.count()).select_from(model).where(*where)
        return int(session.execute(statement).scalar_one())


# --- JSON bodies --------------------------------------------------------------------------


def test_a_json_body_over_its_limit_is_refused_unread_before_sign_in(live, parsed):
    """32 MiB of small objects was seconds of the event loop, every request waiting, and
    FastAPI reads the body before the route's sign-in check: anyone could send it."""
    body = _padded_family("J1", 2 * 1024 * 1024)
    head = _post(
        "/families",
        token=None,
        headers={"Content-Type": "application/json", "Content-Length": str(len(body))},
    )
    status, received = _exchange(live, head, [body])
    assert status == 413, received[:300]
    answer = _answer(received)
    assert answer["code"] == "body_too_large"
    assert f"larger than {MAX_JSON_BODY_BYTES} bytes" in answer["message"]
    assert "JSON" in answer["message"] and "photo" not in answer["message"]
    assert parsed == []
    # Counted by the metrics as a 413 (it was not counted: the limit ran outside them).
    metrics = live.api("admin").get("/metrics")
    assert re.search(
        r'shanyraq_http_requests_total\{method="POST",[^}]*status="413"\}', metrics.text
    )


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "Application/JSON; charset=utf-8", "application/merge-patch+json"],
)
def test_a_streamed_json_body_over_its_limit_is_refused_and_nothing_is_stored(
    live, parsed, content_type
):
    family_id = f"J-{len(content_type)}"
    body = _padded_family(family_id, MAX_JSON_BODY_BYTES + 1)
    head = _post(
        "/families",
        token=live.tokens["inspector"],
        headers={"Content-Type": content_type, "Transfer-Encoding": "chunked"},
    )
    status, received = _exchange(live, head, _chunked(body))
    assert status == 413, received[:300]
    assert _answer(received)["code"] == "body_too_large"
    assert parsed == []
    assert _count(live, Family, Family.id == family_id) == 0
    # Nothing audited for it; F1's entry is there (J-AT's is too once its test has run).
    created = AuditEntry.action == "family_created"
    assert _count(live, AuditEntry, created, AuditEntry.target == f"family:{family_id}") == 0
    assert _count(live, AuditEntry, created, AuditEntry.target == "family:F1") == 1


def test_a_json_body_at_its_limit_is_read(live, parsed):
    body = _padded_family("J-AT", MAX_JSON_BODY_BYTES)
    # "Connection: close": an accepted request's connection is otherwise kept open, and the
    # answer is read until the server closes it (its keep-alive timeout, 5 s).
    headers = {
        "Content-Type": "application/json",
        "Content-Length": str(len(body)),
        "Connection": "close",
    }
    head = _post("/families", token=live.tokens["inspector"], headers=headers)
    status, received = _exchange(live, head, [body])
    assert status == 201, received[-300:]
    assert parsed == [MAX_JSON_BODY_BYTES]


@pytest.mark.parametrize(
    ("content_type", "refused"),
    [
        ("application/json", True),
        ("application/problem+json", True),
        ("multipart/form-data; boundary=b", False),
        (None, False),
    ],
)
def test_only_a_json_body_has_the_json_limit(content_type, refused):
    inner = Recorder()
    headers = [(b"content-length", b"300")]
    if content_type:
        headers.append((b"content-type", content_type.encode()))
    limit = BodySizeLimit(inner, max_bytes=1000, max_json_bytes=200)
    sent, reads = run_limit(limit, headers, [b"x" * 300])
    assert inner.called is not refused
    assert sent[0]["status"] == (413 if refused else 200)
    if refused:
        assert reads == 0 and b"200 bytes" in sent[1]["body"]


# --- photos -------------------------------------------------------------------------------


def _multipart(photo: bytes) -> bytes:
    return (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="p.jpg"\r\n'
        b"Content-Type: image/jpeg\r\n\r\n" + photo + b"\r\n--b--\r\n"
    )


def test_a_photo_over_the_json_limit_but_under_the_body_limit_is_filed(live):
    photo = jpeg(1, size=(2400, 1800))
    assert MAX_JSON_BODY_BYTES < len(photo) < MAX_BODY
    answer = live.api("inspector").post("/families/F1/photos", files={"file": ("p.jpg", photo)})
    assert answer.status_code == 201, answer.text


def test_a_streamed_upload_over_the_limit_is_refused_and_nothing_is_filed(live):
    refused = AuditEntry.action.in_(["photo_uploaded", "photo_refused"])
    photos_before, audited_before = _count(live, Photo), _count(live, AuditEntry, refused)
    body = _multipart(jpeg(2, size=(2400, 1800)) * 3)
    assert len(body) > MAX_BODY
    head = _post(
        "/families/F1/photos",
        token=live.tokens["inspector"],
        headers={"Content-Type": "multipart/form-data; boundary=b", "Transfer-Encoding": "chunked"},
    )
    status, received = _exchange(live, head, _chunked(body))
    assert status == 413, received[:300]
    answer = _answer(received)
    assert answer == {
        "code": "body_too_large",
        "message": f"the request is larger than {MAX_BODY} bytes; send a smaller photo "
        "(one photo per request)",
    }
    assert _count(live, Photo) == photos_before
    assert _count(live, AuditEntry, refused) == audited_before


def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_asked_for(live):
    """Expect: 100-continue: the 413 comes instead of the 100, so no byte of it is sent."""
    head = _post(
        "/families/F1/photos",
        token=live.tokens["inspector"],
        headers={
            "Content-Type": "multipart/form-data; boundary=b",
            "Content-Length": str(MAX_BODY + 1),
            "Expect": "100-continue",
        },
    )
    status, received = _exchange(live, head)
    assert status == 413 and b"100 Continue" not in received
    assert _answer(received)["code"] == "body_too_large"
