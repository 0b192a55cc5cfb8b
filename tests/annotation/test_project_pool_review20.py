"""Review 20: `annotate init` run twice at once (or after a create that timed out but was
saved) leaves one project, the oldest, or refuses naming both ids; later commands refuse a
title held by two projects instead of picking one. The experiment's pool scores with the
providers and threads configs/engine.yaml gives, not its own."""

from __future__ import annotations

import json
import logging
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest
from label_studio_sdk.core import http_client

from annotation import project as project_module
from annotation.client import connect
from annotation.label_config import build_label_config, taxonomy_marker
from annotation.project import DuplicateProjectsError, ProjectInfo, init_project, open_project
from shanyraq.taxonomy import Taxonomy
from tests.annotation.fake_projects_helpers import (
    PROJECTS,
    STORAGES,
    TITLE,
    FakeProjects,
    init_on_fake,
)
from tests.annotation.label_studio_helpers import LEGACY, QuietServer, running

from .label_studio_server_helpers import LabelStudioServer


def _made_by_init(project_id: int, taxonomy: Taxonomy, **more: Any) -> dict[str, Any]:
    """A project as another `annotate init` with this taxonomy makes it."""
    return {
        "id": project_id,
        "title": TITLE,
        "label_config": build_label_config(taxonomy),
        "description": f"Shanyraq photo labelling. {taxonomy_marker(taxonomy)}",
        **more,
    }


@dataclass
class RacingProjects(FakeProjects):
    """FakeProjects that also deletes projects, lists their task counts, and runs a hook just
    before or just after the next project create is stored: another run's create landing."""

    task_numbers: dict[int, int] = field(default_factory=dict)  # 0 when not named
    deleted: list[int] = field(default_factory=list)
    before_create: Callable[[RacingProjects], None] | None = None
    after_create: Callable[[RacingProjects], None] | None = None

    def answer(self, method: str, target: str, auth: str, body: bytes) -> tuple[int, str]:
        path = urlsplit(target).path.rstrip("/") + "/"
        if not self.authorised(auth):
            return super().answer(method, target, auth, body)
        if method == "DELETE" and path.startswith(PROJECTS):
            gone = int(path.removeprefix(PROJECTS).strip("/"))
            with self.lock:
                self.projects = [p for p in self.projects if p["id"] != gone]
                self.deleted.append(gone)
            return 204, ""
        if method == "POST" and path == PROJECTS:
            before, self.before_create = self.before_create, None
            if before is not None:
                before(self)
            answer = super().answer(method, target, auth, body)
            after, self.after_create = self.after_create, None
            if after is not None:
                after(self)
            return answer
        status, text = super().answer(method, target, auth, body)
        if method == "GET" and path == PROJECTS and status == 200:
            listing = json.loads(text)
            for p in listing["results"]:
                p["task_number"] = self.task_numbers.get(p["id"], 0)
            text = json.dumps(listing)
        return status, text

    def other_run_creates(self, taxonomy: Taxonomy) -> Callable[[RacingProjects], None]:
        def create(server: RacingProjects) -> None:
            with server.lock:
                server.projects.append(_made_by_init(len(server.projects) + 1, taxonomy))

        return create


class _DeletingServer(QuietServer):
    """The fake's handler answers DELETE as it does GET and POST."""

    def __init__(self, address: Any, handler: Any) -> None:
        super().__init__(address, type("Handler", (handler,), {"do_DELETE": handler.do_GET}))


@pytest.fixture
def fake(monkeypatch, tmp_path) -> Iterator[RacingProjects]:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # init's lock files go there
    monkeypatch.setattr(http_client, "INITIAL_RETRY_DELAY_SECONDS", 0.0)  # the SDK's backoff
    monkeypatch.setattr(project_module, "CREATE_RETRY_DELAY_S", 0.0)
    server = RacingProjects()
    with running(server, _DeletingServer):
        yield server


@pytest.fixture
def roots(tmp_path) -> tuple[Path, Path]:
    photos = tmp_path / "root" / "photos"
    photos.mkdir(parents=True)
    return photos, tmp_path / "root"


def _ids(fake: RacingProjects) -> list[int]:
    return [p["id"] for p in fake.projects]


def test_a_project_another_run_made_first_is_used_and_this_runs_own_deleted(fake, roots, taxonomy):
    fake.before_create = fake.other_run_creates(taxonomy)  # id 1 lands just before ours (2)
    info = init_on_fake(fake, roots, taxonomy)
    assert (info.id, info.created) == (1, False)
    assert _ids(fake) == [1] and fake.deleted == [2]
    assert [(s["project"], s["path"]) for s in fake.storages] == [(1, str(info.photos_dir))]
    assert open_project(connect(fake.url, LEGACY, timeout_s=5), title=TITLE, taxonomy=taxonomy) == 1


def test_a_second_project_made_after_this_runs_is_refused_naming_both_and_not_deleted(
    fake, roots, taxonomy
):
    fake.after_create = fake.other_run_creates(taxonomy)  # ours is 1, the other run's 2
    with pytest.raises(DuplicateProjectsError) as caught:
        init_on_fake(fake, roots, taxonomy)
    message = caught.value.message
    assert "id 1 (0 tasks), id 2 (0 tasks)" in message and "run again" in message
    assert _ids(fake) == [1, 2] and fake.deleted == [] and fake.storages == []
    fake.projects.pop()  # the other run removes its own second: a run again settles on 1
    again = init_on_fake(fake, roots, taxonomy)
    assert (again.id, again.created) == (1, False) and len(fake.storages) == 1


@pytest.mark.parametrize("holds", ["tasks", "storage"])
def test_this_runs_own_second_is_kept_and_refused_once_it_holds_anything(
    fake, roots, taxonomy, holds
):
    def other_first_and_ours_used(server: RacingProjects) -> None:
        server.other_run_creates(taxonomy)(server)
        if holds == "tasks":  # another run (a push) found ours meanwhile
            server.task_numbers[2] = 3
        else:
            server.storages.append({"id": 9, "project": 2, "path": "/elsewhere"})

    fake.before_create = other_first_and_ours_used
    with pytest.raises(DuplicateProjectsError, match=r"id 1 \(0 tasks\), id 2"):
        init_on_fake(fake, roots, taxonomy)
    assert _ids(fake) == [1, 2] and fake.deleted == []


def test_a_title_held_twice_already_is_refused_by_init_and_by_later_commands(fake, roots, taxonomy):
    fake.projects = [_made_by_init(1, taxonomy), _made_by_init(2, taxonomy)]
    fake.task_numbers = {1: 5, 2: 0}
    with pytest.raises(DuplicateProjectsError) as caught:
        init_on_fake(fake, roots, taxonomy)
    assert "2 projects titled 'Shanyraq photos': id 1 (5 tasks), id 2 (0 tasks)" in str(
        caught.value.message
    )
    assert fake.creates == {} and fake.deleted == [] and fake.storages == []
    conn = connect(fake.url, LEGACY, timeout_s=5)
    with pytest.raises(DuplicateProjectsError, match=r"id 1 .*id 2"):
        open_project(conn, title=TITLE, taxonomy=taxonomy)


class _Waiting(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.seen = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "waiting for another `annotate init`" in record.getMessage():
            self.seen.set()


def test_two_runs_on_one_machine_take_turns_and_make_one_project(fake, roots, taxonomy):
    held, release = threading.Event(), threading.Event()

    def hold(server: RacingProjects) -> None:  # the first run's create, on the server
        held.set()
        release.wait(10)

    fake.before_create = hold
    waiting = _Waiting()
    logger = logging.getLogger("annotation.project")
    old_level, results = logger.level, []
    logger.addHandler(waiting)
    logger.setLevel(logging.INFO)
    first = threading.Thread(target=lambda: results.append(init_on_fake(fake, roots, taxonomy)))
    second = threading.Thread(target=lambda: results.append(init_on_fake(fake, roots, taxonomy)))
    try:
        first.start()
        assert held.wait(10)
        second.start()
        assert waiting.seen.wait(10), "the second run did not wait for the first"
    finally:
        release.set()
        first.join(10)
        second.join(10)
        logger.removeHandler(waiting)
        logger.setLevel(old_level)
    assert [(r.id, r.created) for r in results] == [(1, True), (1, False)]
    assert fake.creates == {PROJECTS: 1, STORAGES: 1} and _ids(fake) == [1]


@pytest.mark.integration
@pytest.mark.slow
def test_a_real_second_project_made_by_this_run_is_deleted(
    label_studio: LabelStudioServer, taxonomy, monkeypatch
):
    """Real Label Studio: another run's project with the title is saved just before this run's
    create; the run keeps that one (the oldest) and deletes its own, which is empty."""
    conn = connect(label_studio.url, label_studio.legacy_token)
    other = connect(label_studio.url, label_studio.legacy_token)
    title = "Review20 concurrent init"
    made: list[int] = []

    def other_run_first(request: httpx.Request) -> None:
        path = request.url.path.rstrip("/") + "/"
        if request.method == "POST" and path == PROJECTS and not made:
            made.append(
                other.sdk.projects.create(
                    title=title,
                    label_config=build_label_config(taxonomy),
                    description=f"Shanyraq photo labelling. {taxonomy_marker(taxonomy)}",
                ).id
            )

    client = conn.sdk._client_wrapper.httpx_client.httpx_client  # the one connect() built
    client.event_hooks["request"].append(other_run_first)
    info: ProjectInfo = init_project(
        conn, title=title, taxonomy=taxonomy, photos_dir=label_studio.photos_dir,
        document_root=label_studio.document_root,
    )  # fmt: skip
    client.event_hooks["request"].remove(other_run_first)
    listed: list[Any] = list(conn.sdk.projects.list(title=title))
    assert [p.id for p in listed if p.title == title] == made == [info.id]
    assert not info.created
    assert len(conn.sdk.import_storage.local.list(project=info.id)) == 1


# --- the pool's engine ---


def test_the_pool_scores_with_the_engine_config_providers_and_threads(monkeypatch, taxonomy):
    import vision.engine
    from annotation import pool as pool_module

    shipped = vision.engine.get_engine_config()
    runtime = shipped.runtime.model_copy(
        update={"providers": ("cuda", "cpu"), "intra_op_threads": 3, "inter_op_threads": 2}
    )
    configured = shipped.model_copy(update={"runtime": runtime})
    monkeypatch.setattr(vision.engine, "get_engine_config", lambda: configured)
    monkeypatch.setattr(
        vision.engine,
        "read_artifact",
        lambda folder: SimpleNamespace(
            check_taxonomy=lambda taxonomy: None, preprocessing=SimpleNamespace(size=32)
        ),
    )
    opened: list[Any] = []

    class Opened(Exception):
        pass

    def open_session(folder: Path, runtime: Any, **sizes: Any) -> Any:
        opened.append(runtime)
        raise Opened

    monkeypatch.setattr(vision.engine, "open_session", open_session)
    with pytest.raises(Opened):
        pool_module._score_images([np.zeros((8, 8, 3), np.uint8)], Path("model"), taxonomy)
    (used,) = opened
    assert used.providers == ("cuda", "cpu")
    assert (used.intra_op_threads, used.inter_op_threads) == (3, 2)
    assert used.allow_spinning == runtime.allow_spinning_alone  # scoring is the only work
