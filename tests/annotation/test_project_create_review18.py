"""`annotate init` creates its project and storage once (review 18): a create Label Studio
stored but answered 5xx for (or whose answer was lost) is not sent again, the SDK's own
retries would make two projects with one title or two storages on one project; a create that
was not stored is sent again; a 400 is one clear error; running init again reuses both."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from label_studio_sdk.core import http_client

from annotation import project as project_module
from annotation.client import LabelStudioError, connect
from annotation.project import ProjectInfo, init_project
from shanyraq.taxonomy import Taxonomy
from tests.annotation.test_label_studio import _init as init_on_server
from tests.annotation.test_push_retry_review17 import _QuietServer

from .conftest import LabelStudioServer
from .test_client_review17 import LEGACY, FakeLabelStudio, running

TITLE = "Shanyraq photos"
PROJECTS, STORAGES = "/api/projects/", "/api/storages/localfiles/"


class _Dropped(Exception):
    """Raised by the fake to close the connection without answering (a connection reset)."""


@dataclass
class FakeProjects(FakeLabelStudio):
    """FakeLabelStudio plus the project list and create, and the local-files storages.

    `failures[path]` holds, in order, how the next creates at that path fail: (status,
    stored), `stored` saying whether it was saved before the error was answered; status 0
    closes the connection without an answer."""

    projects: list[dict[str, Any]] = field(default_factory=list)
    storages: list[dict[str, Any]] = field(default_factory=list)
    failures: dict[str, list[tuple[int, bool]]] = field(default_factory=dict)
    creates: dict[str, int] = field(default_factory=dict)
    create_hang: threading.Event | None = None  # set: the next create at `hang_at` waits
    hang_at: str = PROJECTS
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, method: str, target: str, auth: str, body: bytes) -> tuple[int, str]:
        split = urlsplit(target)
        path, query = split.path.rstrip("/") + "/", parse_qs(split.query)
        if not self.authorised(auth):
            return super().answer(method, target, auth, body)
        if path in (PROJECTS, STORAGES) and method == "POST":
            return self._create(path, json.loads(body))
        if path == PROJECTS and method == "GET":
            title = query.get("title", [None])[0]
            page = int(query.get("page", ["1"])[0])
            found = [p for p in self.projects if title is None or p["title"] == title]
            if page > 1:
                return 404, '{"detail": "Invalid page."}'
            return 200, json.dumps({"count": len(found), "results": found})
        if path == STORAGES and method == "GET":
            project = int(query["project"][0])
            return 200, json.dumps([s for s in self.storages if s["project"] == project])
        return super().answer(method, target, auth, body)

    def _create(self, path: str, sent: dict[str, Any]) -> tuple[int, str]:
        with self.lock:
            self.creates[path] = self.creates.get(path, 0) + 1
            queue = self.failures.get(path) or []
            status, stored = queue.pop(0) if queue else (201, True)
            kept = self.projects if path == PROJECTS else self.storages
            item = {**sent, "id": len(kept) + 1}
            if stored:
                kept.append(item)
        if self.create_hang is not None and path == self.hang_at:
            hang, self.create_hang = self.create_hang, None
            hang.wait(10)  # the client's read times out first
        if status == 0:
            raise _Dropped
        if status >= 300:
            return status, '{"detail": "A server error occurred."}'
        return status, json.dumps(item)


@pytest.fixture
def fake(monkeypatch) -> Iterator[FakeProjects]:
    monkeypatch.setattr(http_client, "INITIAL_RETRY_DELAY_SECONDS", 0.0)  # the SDK's backoff
    monkeypatch.setattr(project_module, "CREATE_RETRY_DELAY_S", 0.0)
    server = FakeProjects()
    with running(server, _QuietServer):
        try:
            yield server
        finally:
            if server.create_hang is not None:
                server.create_hang.set()


@pytest.fixture
def roots(tmp_path) -> tuple[Path, Path]:
    photos = tmp_path / "root" / "photos"
    photos.mkdir(parents=True)
    return photos, tmp_path / "root"


def _init(
    fake: FakeProjects, roots: tuple[Path, Path], taxonomy: Taxonomy, *, timeout_s: float = 5
) -> ProjectInfo:
    photos_dir, document_root = roots
    return init_project(
        connect(fake.url, LEGACY, timeout_s=timeout_s),
        title=TITLE,
        taxonomy=taxonomy,
        photos_dir=photos_dir,
        document_root=document_root,
    )


def _one_each(fake: FakeProjects, info: ProjectInfo) -> None:
    assert [(p["id"], p["title"]) for p in fake.projects] == [(info.id, TITLE)]
    assert [(s["project"], s["path"]) for s in fake.storages] == [(info.id, str(info.photos_dir))]


@pytest.mark.parametrize("status", [500, 502, 503, 0])  # 0: the connection dropped
@pytest.mark.parametrize("path", [PROJECTS, STORAGES])
def test_a_create_stored_but_answered_an_error_is_not_sent_again(
    fake, roots, taxonomy, path, status
):
    fake.failures[path] = [(status, True)]
    info = _init(fake, roots, taxonomy)
    _one_each(fake, info)
    assert info.created
    assert fake.creates == {PROJECTS: 1, STORAGES: 1}


@pytest.mark.parametrize("status", [500, 502, 503, 0])
@pytest.mark.parametrize("path", [PROJECTS, STORAGES])
def test_a_create_answered_an_error_before_storing_is_sent_again_once(
    fake, roots, taxonomy, path, status
):
    fake.failures[path] = [(status, False)]
    info = _init(fake, roots, taxonomy)
    _one_each(fake, info)
    assert fake.creates == {PROJECTS: 1, STORAGES: 1, path: 2}


@pytest.mark.parametrize("path", [PROJECTS, STORAGES])
def test_a_create_refused_as_invalid_is_one_clear_error_not_sent_again(fake, roots, taxonomy, path):
    fake.failures[path] = [(400, False)]
    with pytest.raises(LabelStudioError) as caught:
        _init(fake, roots, taxonomy)
    message = caught.value.message
    assert "400" in message and fake.url in message and "\n" not in message
    assert fake.creates[path] == 1


def test_a_create_failing_every_time_stops_with_a_clear_error(fake, roots, taxonomy):
    fake.failures[PROJECTS] = [(500, False)] * 10
    with pytest.raises(LabelStudioError) as caught:
        _init(fake, roots, taxonomy)
    message = caught.value.message
    assert "500" in message and "run the command again" in message and "\n" not in message
    assert fake.creates[PROJECTS] == project_module.CREATE_ATTEMPTS and fake.projects == []


@pytest.mark.parametrize("path", [PROJECTS, STORAGES])
def test_a_create_whose_answer_timed_out_after_storing_is_taken_as_done(
    fake, roots, taxonomy, path
):
    fake.create_hang, fake.hang_at = threading.Event(), path
    hang = fake.create_hang
    try:
        info = _init(fake, roots, taxonomy, timeout_s=0.5)
    finally:
        hang.set()
    _one_each(fake, info)
    assert fake.creates == {PROJECTS: 1, STORAGES: 1}


def test_a_project_create_timed_out_unstored_is_not_sent_again(fake, roots, taxonomy):
    # Label Studio may still be creating it: the run stops, and the next one looks first.
    fake.failures[PROJECTS] = [(201, False)]  # hangs, then answers without having stored
    fake.create_hang = hang = threading.Event()
    try:
        with pytest.raises(LabelStudioError) as caught:
            _init(fake, roots, taxonomy, timeout_s=0.5)
    finally:
        hang.set()
    message = caught.value.message
    assert "ReadTimeout" in message and "wait a minute" in message and "\n" not in message
    assert fake.creates == {PROJECTS: 1} and fake.projects == []


def test_init_run_again_reuses_the_project_and_its_storage(fake, roots, taxonomy):
    fake.failures[STORAGES] = [(400, False)]  # the first run stops after making the project
    with pytest.raises(LabelStudioError):
        _init(fake, roots, taxonomy)
    again = _init(fake, roots, taxonomy)
    assert not again.created
    third = _init(fake, roots, taxonomy)
    assert third.id == again.id and not third.created
    _one_each(fake, third)
    assert fake.creates == {PROJECTS: 1, STORAGES: 2}


@pytest.mark.integration
@pytest.mark.slow
def test_a_real_create_answered_500_after_storing_makes_one_project_and_storage(
    label_studio: LabelStudioServer, taxonomy, monkeypatch
):
    """Real Label Studio stores the project and the storage; each first answer is turned into
    a 500 on the way back (as a proxy or a failure after the commit would)."""
    monkeypatch.setattr(http_client, "INITIAL_RETRY_DELAY_SECONDS", 0.0)
    monkeypatch.setattr(project_module, "CREATE_RETRY_DELAY_S", 0.0)
    conn = connect(label_studio.url, label_studio.legacy_token)
    title = "Create retry"
    failed: list[str] = []

    def fail_first_creates(response: httpx.Response) -> None:
        request = response.request
        path = request.url.path.rstrip("/") + "/"
        if request.method == "POST" and path in (PROJECTS, STORAGES) and path not in failed:
            failed.append(path)
            response.status_code = 500

    client = conn.sdk._client_wrapper.httpx_client.httpx_client  # the one connect() built
    client.event_hooks["response"].append(fail_first_creates)

    def init() -> ProjectInfo:
        return init_on_server(conn, title, taxonomy, label_studio)

    info = init()
    assert sorted(failed) == sorted([PROJECTS, STORAGES])
    projects: list[Any] = list(conn.sdk.projects.list(title=title))
    assert [p.id for p in projects if p.title == title] == [info.id]
    storages = conn.sdk.import_storage.local.list(project=info.id)
    assert [s.path for s in storages] == [str(info.photos_dir)]
    again = init()
    assert again.id == info.id and not again.created
    assert len(conn.sdk.import_storage.local.list(project=info.id)) == 1
