"""Set-ups for the tests of projects on the real Label Studio server: `init_project` on the
server's photos and document root; for a project gone, or seeming gone: a project with tasks, a
reverse proxy in front of the server that starts answering JSON 404 ({"detail": "Not found."},
as Label Studio words its own) for the routes it lost, and a listing of a project's tasks
through it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from annotation.client import Connection, LabelStudioError, connect
from annotation.project import init_project

from .label_studio_helpers import served
from .label_studio_server_helpers import LabelStudioServer

PAGE = 2  # tasks per page: five tasks make three pages
NOT_FOUND = b'{"detail": "Not found."}'
_HOP_BY_HOP = {"connection", "content-encoding", "content-length", "transfer-encoding", "host"}

# Which requests the proxy answers 404 once its routes are lost: (path, query, project) -> bool.
Route = Callable[[str, dict[str, list[str]], int], bool]


def project_with_tasks(conn: Connection, title: str, count: int = 5) -> tuple[int, list[int]]:
    """A new project holding `count` tasks: its id and its tasks' ids."""
    with conn.errors("making a project"):
        project = conn.sdk.projects.create(title=title)
        tasks = [
            {"data": {"image": f"/photo_{i}.jpg", "sha256": f"{i:064x}"}} for i in range(count)
        ]
        conn.sdk.projects.import_tasks(project.id, request=tasks)
        ids = [int(t.id) for t in conn.sdk.tasks.list(project=project.id, page_size=100)]
    assert len(ids) == count
    return int(project.id), ids


def _is_the_projects_tasks(path: str, query: dict[str, list[str]], project: int) -> bool:
    return path.startswith("/api/tasks") and query.get("project") == [str(project)]


def the_projects_urls(path: str, query: dict[str, list[str]], project: int) -> bool:
    """A route for the project gone from the proxy: its tasks and its own address."""
    return path.startswith(f"/api/projects/{project}/") or _is_the_projects_tasks(
        path, query, project
    )


def every_url(path: str, query: dict[str, list[str]], project: int) -> bool:
    """A proxy that lost every route to Label Studio (or a base path gone wrong)."""
    return True


@dataclass(frozen=True)
class Proxy:
    """A running proxy: its URL, and the event that, once set, makes it answer JSON 404 for
    the routes it lost (it sets it itself once the first page of the project's tasks went
    through; a test may set it earlier)."""

    url: str
    routes_lost: threading.Event


@contextmanager
def json_404_proxy(upstream: str, project: int, lost: Route) -> Iterator[Proxy]:
    """A reverse proxy on 127.0.0.1 forwarding to `upstream` until its routes are lost (after
    the first page of the project's tasks, or when a test sets `routes_lost`); from then on it
    answers JSON 404 where `lost` says, and forwards the rest."""
    routes_lost = threading.Event()
    client = httpx.Client(base_url=upstream, timeout=30.0)

    class Handler(BaseHTTPRequestHandler):
        def _forward(self) -> None:
            split = urlsplit(self.path)
            query = parse_qs(split.query)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if routes_lost.is_set() and lost(split.path, query, project):
                self._send(404, {"Content-Type": "application/json"}, NOT_FOUND)
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            answer = client.request(self.command, self.path, headers=headers, content=body)
            kept = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP}
            # Lost before the page is sent, not after: the client may ask for the next page
            # before this thread runs again (it did, on a busy machine).
            if _is_the_projects_tasks(split.path, query, project):
                routes_lost.set()
            self._send(answer.status_code, kept, answer.content)

        def _send(self, status: int, headers: dict[str, str], data: bytes) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_DELETE = _forward

        def log_message(self, *args: object) -> None:
            pass

    try:
        with served(ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as http:
            yield Proxy(f"http://127.0.0.1:{http.server_address[1]}", routes_lost)
    finally:
        client.close()


def list_through_proxy(label_studio: LabelStudioServer, title: str, lost: Route) -> str:
    """The message of the error listing a fresh project's tasks through the proxy."""
    direct = connect(label_studio.url, label_studio.legacy_token)
    project_id, _ = project_with_tasks(direct, title)
    with json_404_proxy(label_studio.url, project_id, lost) as proxy:
        conn = connect(proxy.url, label_studio.legacy_token)
        read: list[int] = []
        with pytest.raises(LabelStudioError) as caught, conn.errors("listing the project's tasks"):
            for task in conn.sdk.tasks.list(project=project_id, page_size=PAGE):
                read.append(int(task.id))
    assert len(read) == PAGE  # nothing of the second page was handed on
    assert direct.sdk.projects.get(project_id).id == project_id  # never deleted
    message = caught.value.message
    assert proxy.url in message  # the address that answered so
    return message


def init_on_server(conn, title, taxonomy, label_studio):
    """`init_project` on the test server's photos and document root."""
    return init_project(
        conn,
        title=title,
        taxonomy=taxonomy,
        photos_dir=label_studio.photos_dir,
        document_root=label_studio.document_root,
    )
