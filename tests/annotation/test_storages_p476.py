"""Storages checked on every push, duplicates cleaned by init (p476).

`push_rows` checked that Label Studio serves the photos only when given `photos_dir`; a caller
without it (a library caller, or a test) imported tasks whose photos no storage serves, which
annotators never see (404). It now refuses, before importing anything, any photo below none of
the project's local-files storages.

A create of the storage whose answer was lost and that was sent again could leave two
storages at the photos folder, and `keep_oldest` did nothing when this run's storage could not
be told; a later `annotate init` left them too. Every init now keeps the oldest at its photos
folder and deletes the other ones it made there, saying so; others are left alone.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from label_studio_sdk.core import http_client

from annotation import project as project_module
from annotation.client import connect
from annotation.storage import STORAGE_TITLE, PhotosFolderNotServedError, check_photos_served
from annotation.tasks import push_rows
from shanyraq.taxonomy import Taxonomy
from tests.annotation.fake_projects_helpers import STORAGES, FakeProjects, init_on_fake
from tests.annotation.label_studio_helpers import QuietServer, running
from tests.annotation.project_helpers import init_on_server

from .helpers import make_manifest
from .label_studio_server_helpers import LabelStudioServer


def _storages(conn, project_id: int) -> list[tuple[int, str, str]]:
    listed = conn.sdk.import_storage.local.list(project=project_id)
    return sorted((int(s.id), s.title, s.path) for s in listed)


def test_photos_of_a_project_without_storages_are_refused_saying_so(tmp_path: Path):
    with pytest.raises(PhotosFolderNotServedError) as refused:
        check_photos_served(7, [], [tmp_path / "photos" / "a.jpg"])
    message = refused.value.message
    assert "project 7 has no local-files storage" in message and "a.jpg" in message
    assert "annotate init" in message and "nothing was imported" in message


# --- against a real Label Studio ---


@pytest.mark.integration
@pytest.mark.slow
def test_push_rows_without_photos_dir_refuses_photos_no_storage_serves(
    label_studio: LabelStudioServer, taxonomy: Taxonomy, tmp_path: Path
):
    conn = connect(label_studio.url, label_studio.personal_token)
    info = init_on_server(conn, "P476 unserved", taxonomy, label_studio)
    served = make_manifest(label_studio.photos_dir, tmp_path / "a.csv", 1, prefix="p476in")
    # Below the document root, but not below the storage's folder.
    elsewhere = label_studio.document_root / "p476-elsewhere"
    unserved = make_manifest(elsewhere, tmp_path / "b.csv", 1, prefix="p476out")
    headers = {"Authorization": f"Token {label_studio.legacy_token}"}
    photo = f"{label_studio.url}/data/local-files/?d=p476-elsewhere/p476out/photo_0.jpg"
    assert httpx.get(photo, headers=headers).status_code == 404  # what annotators would get

    def push(rows) -> int:
        return push_rows(
            conn, info.id, rows, manifest_root=tmp_path, document_root=label_studio.document_root,
            scores={}, taxonomy=taxonomy, sign_threshold=0.5, batch_size=1,
        ).created  # fmt: skip

    with pytest.raises(PhotosFolderNotServedError) as refused:
        push(served + unserved)  # the served photo first: its batch is not sent either
    message = refused.value.message
    assert str(info.photos_dir) in message and str(elsewhere.resolve()) in message
    assert "nothing was imported" in message and "\n" not in message
    assert list(conn.sdk.tasks.list(project=info.id)) == []
    assert push(served) == 1


@pytest.mark.integration
@pytest.mark.slow
def test_init_keeps_the_oldest_storage_of_its_folder_and_deletes_the_other(
    label_studio: LabelStudioServer, taxonomy: Taxonomy, caplog
):
    conn = connect(label_studio.url, label_studio.personal_token)
    title = "P476 duplicates"
    info = init_on_server(conn, title, taxonomy, label_studio)
    ((first, _, _),) = _storages(conn, info.id)
    other = label_studio.document_root / "p476-other"
    other.mkdir()
    local = conn.sdk.import_storage.local
    # A second one as a create sent again after its answer was lost leaves; one made by hand
    # at the same folder; one at another folder.
    second = local.create(project=info.id, path=str(info.photos_dir), title=STORAGE_TITLE).id
    local.create(project=info.id, path=str(info.photos_dir), title="made by hand")
    local.create(project=info.id, path=str(other), title="another folder")
    before = _storages(conn, info.id)

    with caplog.at_level(logging.WARNING, logger="annotation.storage"):
        assert init_on_server(conn, title, taxonomy, label_studio).id == info.id
    assert _storages(conn, info.id) == [s for s in before if s[0] != second]
    assert f"(id {second})" in caplog.text and f"oldest (id {first}) kept" in caplog.text

    caplog.clear()  # once is enough: a third run finds nothing to delete
    with caplog.at_level(logging.WARNING, logger="annotation.storage"):
        init_on_server(conn, title, taxonomy, label_studio)
    assert _storages(conn, info.id) == [s for s in before if s[0] != second]
    assert caplog.text == ""


# --- a storage create whose answers were lost (fake server) ---


class _DeletingServer(QuietServer):
    """The fake's HTTP server, also answering DELETE (as the fake's answer() says)."""

    def __init__(self, address: Any, handler: Any) -> None:
        super().__init__(address, type("Handler", (handler,), {"do_DELETE": handler.do_GET}))


@dataclass
class FakeLateStorages(FakeProjects):
    """FakeProjects whose next `late` storage creates are listed only once the following
    create has arrived (Label Studio still saving when a proxy answered), and which deletes."""

    late: int = 0
    hidden: set[int] = field(default_factory=set)
    deleted: list[int] = field(default_factory=list)

    def answer(self, method: str, target: str, auth: str, body: bytes) -> tuple[int, str]:
        split = urlsplit(target)
        path = split.path.rstrip("/") + "/"
        if self.authorised(auth) and path == STORAGES and method == "GET":
            project = int(parse_qs(split.query)["project"][0])
            listed = [s for s in self.storages if s["project"] == project]
            return 200, json.dumps([s for s in listed if s["id"] not in self.hidden])
        if self.authorised(auth) and method == "DELETE" and path.startswith(STORAGES):
            storage_id = int(path.removeprefix(STORAGES).strip("/"))
            self.storages = [s for s in self.storages if s["id"] != storage_id]
            self.deleted.append(storage_id)
            return 204, ""
        return super().answer(method, target, auth, body)

    def _create(self, path: str, sent: dict[str, Any]) -> tuple[int, str]:
        if path == STORAGES:
            self.hidden.clear()  # the one saved late is there by now
            if self.late:
                self.late -= 1
                self.hidden.add(len(self.storages) + 1)  # its id (no storage deleted yet)
        return super()._create(path, sent)


@pytest.fixture
def fake(monkeypatch) -> Iterator[FakeLateStorages]:
    monkeypatch.setattr(http_client, "INITIAL_RETRY_DELAY_SECONDS", 0.0)  # the SDK's backoff
    monkeypatch.setattr(project_module, "CREATE_RETRY_DELAY_S", 0.0)
    server = FakeLateStorages()
    with running(server, _DeletingServer):
        yield server


@pytest.fixture
def roots(tmp_path: Path) -> tuple[Path, Path]:
    photos = tmp_path / "root" / "photos"
    photos.mkdir(parents=True)
    return photos, tmp_path / "root"


def test_a_storage_sent_again_after_lost_answers_is_deleted_by_the_same_run(
    fake: FakeLateStorages, roots, taxonomy: Taxonomy, caplog
):
    # The first create is saved but listed late, and answered 502: not found, so sent again;
    # the second is saved too, its answer lost as well. Neither id is this run's for sure.
    fake.late, fake.failures[STORAGES] = 1, [(502, True), (502, True)]
    with caplog.at_level(logging.WARNING, logger="annotation.storage"):
        info = init_on_fake(fake, roots, taxonomy)
    assert fake.creates[STORAGES] == 2 and fake.deleted == [2]
    assert [(s["id"], s["path"]) for s in fake.storages] == [(1, str(info.photos_dir))]
    assert "(id 2)" in caplog.text and "oldest (id 1) kept" in caplog.text
    # Run again: the one storage is found, nothing made or deleted.
    init_on_fake(fake, roots, taxonomy)
    assert fake.creates[STORAGES] == 2 and fake.deleted == [2] and len(fake.storages) == 1
