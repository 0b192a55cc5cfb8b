"""A project's tasks listed through a reverse proxy that starts answering JSON 404 for the
project after the first page, on the real Label Studio server behind it.

The proxy's 404 reads like Label Studio's own ({"detail": "Not found."}), so the project's own
address answering 404 proves nothing: only Label Studio answering as itself, without the project,
shows the project gone. A project really deleted between two pages is still named as gone
(test_review32_project_gone.test_a_project_deleted_between_two_pages_is_named_as_gone).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from annotation.client import LabelStudioError, connect

from .conftest import LabelStudioServer
from .test_review32_project_gone import PAGE, _project_with_tasks

NOT_FOUND = b'{"detail": "Not found."}'
_HOP_BY_HOP = {"connection", "content-encoding", "content-length", "transfer-encoding", "host"}

# Which requests the proxy answers 404 once the first page of tasks went through: (path, query)
# -> bool, for project `project`.
Route = Callable[[str, dict[str, list[str]], int], bool]


def _the_projects_urls(path: str, query: dict[str, list[str]], project: int) -> bool:
    """A route for the project gone from the proxy: its tasks and its own address."""
    return path.startswith(f"/api/projects/{project}/") or (
        path.startswith("/api/tasks") and query.get("project") == [str(project)]
    )


def _every_url(path: str, query: dict[str, list[str]], project: int) -> bool:
    """A proxy that lost every route to Label Studio (or a base path gone wrong)."""
    return True


@contextmanager
def _proxy(upstream: str, project: int, lost: Route) -> Iterator[str]:
    """A reverse proxy on 127.0.0.1 forwarding to `upstream`, until the first page of the
    project's tasks has gone through; from then on it answers JSON 404 where `lost` says.
    Yields its URL."""
    first_page_served = threading.Event()
    client = httpx.Client(base_url=upstream, timeout=30.0)

    class Handler(BaseHTTPRequestHandler):
        def _forward(self) -> None:
            split = urlsplit(self.path)
            query = parse_qs(split.query)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if first_page_served.is_set() and lost(split.path, query, project):
                self._send(404, {"Content-Type": "application/json"}, NOT_FOUND)
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            answer = client.request(self.command, self.path, headers=headers, content=body)
            kept = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP}
            self._send(answer.status_code, kept, answer.content)
            if split.path.startswith("/api/tasks") and query.get("project") == [str(project)]:
                first_page_served.set()

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

    http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{http.server_address[1]}"
    finally:
        http.shutdown()
        http.server_close()
        client.close()


def _list_through_proxy(label_studio: LabelStudioServer, title: str, lost: Route) -> str:
    """The message of the error listing a fresh project's tasks through the proxy."""
    direct = connect(label_studio.url, label_studio.legacy_token)
    project_id, _ = _project_with_tasks(direct, title)
    with _proxy(label_studio.url, project_id, lost) as proxy_url:
        conn = connect(proxy_url, label_studio.legacy_token)
        read: list[int] = []
        with pytest.raises(LabelStudioError) as caught, conn.errors("listing the project's tasks"):
            for task in conn.sdk.tasks.list(project=project_id, page_size=PAGE):
                read.append(int(task.id))
    assert len(read) == PAGE  # nothing of the second page was handed on
    assert direct.sdk.projects.get(project_id).id == project_id  # never deleted
    message = caught.value.message
    assert proxy_url in message  # the address that answered so
    return message


@pytest.mark.parametrize(
    "lost", [_the_projects_urls, _every_url], ids=["project-routes", "every-route"]
)
def test_a_proxys_json_404_is_not_taken_for_the_project_gone(
    label_studio: LabelStudioServer, lost: Route
):
    message = _list_through_proxy(label_studio, f"Behind a proxy ({lost.__name__})", lost)
    assert "has no project" not in message and "annotate init" not in message
    assert "incomplete" in message
    assert "did not answer as expected" in message
    assert "SHANYRAQ_LABEL_STUDIO_URL" in message and "proxy" in message
