"""`annotate init` creates its project and storage once (review 18): a create Label Studio
stored but answered 5xx for (or whose answer was lost) is not sent again, the SDK's own
retries would make two projects with one title or two storages on one project; a create that
was not stored is sent again; a 400 is one clear error; running init again reuses both."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from label_studio_sdk.core import http_client

from annotation import project as project_module
from annotation.client import LabelStudioError, connect
from annotation.project import ProjectInfo
from tests.annotation.fake_projects_helpers import (
    PROJECTS,
    STORAGES,
    TITLE,
    FakeProjects,
    init_on_fake,
)
from tests.annotation.label_studio_helpers import QuietServer, running
from tests.annotation.project_helpers import init_on_server

from .label_studio_server_helpers import LabelStudioServer


@pytest.fixture
def fake(monkeypatch) -> Iterator[FakeProjects]:
    monkeypatch.setattr(http_client, "INITIAL_RETRY_DELAY_SECONDS", 0.0)  # the SDK's backoff
    monkeypatch.setattr(project_module, "CREATE_RETRY_DELAY_S", 0.0)
    server = FakeProjects()
    with running(server, QuietServer):
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


def _one_each(fake: FakeProjects, info: ProjectInfo) -> None:
    assert [(p["id"], p["title"]) for p in fake.projects] == [(info.id, TITLE)]
    assert [(s["project"], s["path"]) for s in fake.storages] == [(info.id, str(info.photos_dir))]


@pytest.mark.parametrize("status", [500, 502, 503, 0])  # 0: the connection dropped
@pytest.mark.parametrize("path", [PROJECTS, STORAGES])
def test_a_create_stored_but_answered_an_error_is_not_sent_again(
    fake, roots, taxonomy, path, status
):
    fake.failures[path] = [(status, True)]
    info = init_on_fake(fake, roots, taxonomy)
    _one_each(fake, info)
    assert info.created
    assert fake.creates == {PROJECTS: 1, STORAGES: 1}


@pytest.mark.parametrize("status", [500, 502, 503, 0])
@pytest.mark.parametrize("path", [PROJECTS, STORAGES])
def test_a_create_answered_an_error_before_storing_is_sent_again_once(
    fake, roots, taxonomy, path, status
):
    fake.failures[path] = [(status, False)]
    info = init_on_fake(fake, roots, taxonomy)
    _one_each(fake, info)
    assert fake.creates == {PROJECTS: 1, STORAGES: 1, path: 2}


@pytest.mark.parametrize("path", [PROJECTS, STORAGES])
def test_a_create_refused_as_invalid_is_one_clear_error_not_sent_again(fake, roots, taxonomy, path):
    fake.failures[path] = [(400, False)]
    with pytest.raises(LabelStudioError) as caught:
        init_on_fake(fake, roots, taxonomy)
    message = caught.value.message
    assert "400" in message and fake.url in message and "\n" not in message
    assert fake.creates[path] == 1


def test_a_create_failing_every_time_stops_with_a_clear_error(fake, roots, taxonomy):
    fake.failures[PROJECTS] = [(500, False)] * 10
    with pytest.raises(LabelStudioError) as caught:
        init_on_fake(fake, roots, taxonomy)
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
        info = init_on_fake(fake, roots, taxonomy, timeout_s=0.5)
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
            init_on_fake(fake, roots, taxonomy, timeout_s=0.5)
    finally:
        hang.set()
    message = caught.value.message
    assert "ReadTimeout" in message and "wait a minute" in message and "\n" not in message
    assert fake.creates == {PROJECTS: 1} and fake.projects == []


def test_init_run_again_reuses_the_project_and_its_storage(fake, roots, taxonomy):
    fake.failures[STORAGES] = [(400, False)]  # the first run stops after making the project
    with pytest.raises(LabelStudioError):
        init_on_fake(fake, roots, taxonomy)
    again = init_on_fake(fake, roots, taxonomy)
    assert not again.created
    third = init_on_fake(fake, roots, taxonomy)
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
