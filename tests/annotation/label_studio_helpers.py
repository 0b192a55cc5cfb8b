"""A tiny local server that answers as Label Studio does (whoami, token refresh, paged task
lists under an optional path prefix) for the client tests, the same server taking a project's
task imports (which can fail), a server class that stays quiet about clients that left, the
thread that serves each such test server (`served`), and reading a project's task ids through
the client."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt

from annotation.client import Connection, connect

LEGACY = "0123456789abcdef0123456789abcdef01234567"


def jwt_token(token_type: str, *, expires_in_s: float) -> str:
    claims = {"token_type": token_type, "exp": int(time.time() + expires_in_s), "user_id": 1}
    return jwt.encode(claims, "test-only-signing-key-of-enough-length", algorithm="HS256")


@dataclass
class FakeLabelStudio:
    """Label Studio's whoami, token refresh and task list (DRF page numbers: a page past the
    last is 404 'Invalid page.'), under an optional path prefix; records every request."""

    prefix: str = ""
    tasks: list[int] = field(default_factory=list)  # task ids, in id order
    personal_token: str = ""
    access_tokens: set[str] = field(default_factory=set)
    access_lifetime_s: float = 300.0
    refresh_answer: tuple[int, str] | None = None  # instead of a new access token
    on_tasks_page: Callable[[FakeLabelStudio, int], tuple[int, str] | None] | None = None
    hang: threading.Event | None = None  # set: every answer waits until it is cleared
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # method, path, auth
    url: str = ""

    def authorised(self, auth: str) -> bool:
        return auth == f"Token {LEGACY}" or (
            auth.startswith("Bearer ") and auth.removeprefix("Bearer ") in self.access_tokens
        )

    def answer(self, method: str, target: str, auth: str, body: bytes) -> tuple[int, str]:
        split = urlsplit(target)
        if not split.path.startswith(self.prefix + "/"):
            return 404, "<html><title>Not Found</title></html>"
        path = split.path.removeprefix(self.prefix).rstrip("/") + "/"
        query = parse_qs(split.query)
        if method == "POST" and path == "/api/token/refresh/":
            if self.refresh_answer is not None:
                return self.refresh_answer
            if json.loads(body).get("refresh") != self.personal_token:
                return 401, '{"detail": "Token is invalid or expired"}'
            access = jwt_token("access", expires_in_s=self.access_lifetime_s)
            self.access_tokens.add(access)
            return 200, json.dumps({"access": access})
        if not self.authorised(auth):
            return 401, '{"detail": "Authentication credentials were not provided."}'
        if path == "/api/current-user/whoami/":
            return 200, '{"id": 1, "email": "lead@shanyraq.test"}'
        if path == "/api/tasks/":
            page = int(query.get("page", ["1"])[0])
            if self.on_tasks_page is not None and (special := self.on_tasks_page(self, page)):
                return special
            size = int(query.get("page_size", ["100"])[0])
            items = self.tasks[(page - 1) * size : page * size]
            if page > 1 and not items:
                return 404, '{"detail": "Invalid page."}'
            rows = [{"id": i, "data": {"image": f"/p/{i}.jpg"}, "annotations": []} for i in items]
            return 200, json.dumps({"tasks": rows, "total": len(self.tasks)})
        return 404, '{"detail": "Not found."}'


def _handler(server: FakeLabelStudio) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            auth = self.headers.get("Authorization", "")
            server.requests.append((self.command, self.path, auth))
            if server.hang is not None:
                server.hang.wait(10)
            status, text = server.answer(self.command, self.path, auth, body)
            redirect = 300 <= status < 400  # an answer (3xx, location) redirects there
            data = b"" if redirect else text.encode()
            self.send_response(status)
            if redirect:
                self.send_header("Location", text)
            kind = "text/html" if text.lstrip().startswith("<") else "application/json"
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_POST = do_GET

        def log_message(self, *args: object) -> None:
            pass

    return Handler


# How often a test server's loop looks whether it is told to stop: `shutdown` waits for that
# look, and the library's default of 0.5 s cost most tests of such a server half a second idle.
STOP_POLL_S = 0.01


@contextmanager
def served(http: ThreadingHTTPServer) -> Iterator[ThreadingHTTPServer]:
    """`http` answering in a thread until the block ends, then stopped and closed."""
    threading.Thread(target=http.serve_forever, args=(STOP_POLL_S,), daemon=True).start()
    try:
        yield http
    finally:
        http.shutdown()
        http.server_close()


@contextmanager
def running(
    server: Any, http_class: type[ThreadingHTTPServer] = ThreadingHTTPServer
) -> Iterator[None]:
    """`server` answering on 127.0.0.1 (its `url` set) in a thread until the block ends."""
    http = http_class(("127.0.0.1", 0), _handler(server))
    server.url = f"http://127.0.0.1:{http.server_address[1]}"
    with served(http):
        yield


def read_task_ids(conn: Connection, page_size: int) -> list[int]:
    with conn.errors("reading tasks"):
        tasks: list[Any] = list(conn.sdk.tasks.list(project=1, page_size=page_size))
    return [t.id for t in tasks]


def listed_task_ids(fake: FakeLabelStudio, page_size: int) -> list[int]:
    return read_task_ids(connect(fake.url, LEGACY, timeout_s=5), page_size)


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out and left: its broken pipe is the point of the test


PROJECT = 7


@dataclass
class FakeImporting(FakeLabelStudio):
    """FakeLabelStudio plus a project's task import and a task list with their data.

    `import_failures` holds, in order, how the next imports fail: (status, stored), where
    `stored` says whether the tasks were saved before the error was answered."""

    stored: list[dict[str, Any]] = field(default_factory=list)  # id and data, in id order
    import_failures: list[tuple[int, bool]] = field(default_factory=list)
    imports: int = 0
    import_hang: threading.Event | None = None  # set: the next import waits for it, stored
    served: list[str] = field(default_factory=list)  # the paths of the project's storages
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, method: str, target: str, auth: str, body: bytes) -> tuple[int, str]:
        path = urlsplit(target).path.rstrip("/") + "/"
        if not self.authorised(auth):
            return super().answer(method, target, auth, body)
        if method == "POST" and path == f"/api/projects/{PROJECT}/import/":
            return self._import(json.loads(body))
        if method == "GET" and path == "/api/tasks/":
            return self._list(parse_qs(urlsplit(target).query))
        if method == "GET" and path == "/api/storages/localfiles/":  # push_rows checks them
            storages = [{"id": i + 1, "project": PROJECT, "path": p, "title": "shanyraq photos"}
                        for i, p in enumerate(self.served)]  # fmt: skip
            return 200, json.dumps(storages)
        return super().answer(method, target, auth, body)

    def _import(self, sent: list[dict[str, Any]]) -> tuple[int, str]:
        with self.lock:
            self.imports += 1
            status, stored = self.import_failures.pop(0) if self.import_failures else (201, True)
            ids = []
            if stored:
                for task in sent:
                    ids.append(len(self.stored) + 1)
                    self.stored.append({"id": ids[-1], "data": task["data"], "annotations": []})
        if self.import_hang is not None:
            hang, self.import_hang = self.import_hang, None
            hang.wait(10)  # the client's read times out first
        if status >= 300:
            return status, '{"detail": "A server error occurred."}'
        return status, json.dumps({"task_count": len(ids), "task_ids": ids})

    def _list(self, query: dict[str, list[str]]) -> tuple[int, str]:
        page = int(query.get("page", ["1"])[0])
        size = int(query.get("page_size", ["100"])[0])
        items = self.stored[(page - 1) * size : page * size]
        if page > 1 and not items:
            return 404, '{"detail": "Invalid page."}'
        return 200, json.dumps({"tasks": items, "total": len(self.stored)})

    def sha256s(self) -> list[str]:
        return [str(t["data"]["sha256"]) for t in self.stored]
