"""The folder Label Studio really serves (review 23).

`annotate push` refused photos outside project.photos_folder as configs/annotation.yaml says it
now, not as the project's local-files storage has it: with the folder changed since `init`,
push imported tasks whose photos Label Studio never shows (404). It now checks the storages
the project lists, and refuses, naming both folders.

`annotate init` on two machines at once (one server; each machine's local lock is its own)
could each find no storage and make one: two storages for one path, or one per machine's
photos folder. A run now lists the storages after its create and deletes its own when an older
one is at its path (or is another run's at another path, which it then refuses).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from annotation import local_lock
from annotation.cli import app
from annotation.client import connect
from annotation.project import ProjectInfo, init_project
from annotation.storage import STORAGE_TITLE, PhotosFolderNotServedError, StorageElsewhereError
from annotation.tasks import push_rows
from shanyraq.taxonomy import Taxonomy
from tests.annotation.project_helpers import init_on_server

from .helpers import make_manifest
from .label_studio_server_helpers import LabelStudioServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

runner = CliRunner()
STORAGES = "/api/storages/localfiles"


def _config(path: Path, *, url: str, title: str, root: Path, photos_folder: str) -> Path:
    config = {
        "server": {"url": url, "timeout_s": 10},
        "project": {"title": title, "document_root": str(root), "photos_folder": photos_folder},
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def _tasks(conn, project_id: int) -> list:
    return list(conn.sdk.tasks.list(project=project_id))


def _storages(conn, project_id: int) -> list[tuple[str, str]]:
    return [(s.title, s.path) for s in conn.sdk.import_storage.local.list(project=project_id)]


def test_push_refuses_a_photos_folder_changed_since_init_naming_both(
    label_studio: LabelStudioServer, tmp_path: Path, monkeypatch
):
    monkeypatch.setenv("SHANYRAQ_LABEL_STUDIO_TOKEN", label_studio.legacy_token)
    monkeypatch.delenv("SHANYRAQ_LABEL_STUDIO_URL", raising=False)
    root, title, url = label_studio.document_root, "Review 23 folder changed", label_studio.url
    before = _config(tmp_path / "a.yaml", url=url, title=title, root=root, photos_folder="photos")
    assert runner.invoke(app, ["init", "--config", str(before)]).exit_code == 0
    # photos_folder changed afterwards, init not run again.
    after = _config(tmp_path / "b.yaml", url=url, title=title, root=root, photos_folder="r23-moved")
    moved = root / "r23-moved"
    make_manifest(moved, tmp_path / "m.csv", 2, prefix="r23")
    headers = {"Authorization": f"Token {label_studio.legacy_token}"}
    gone = httpx.get(f"{url}/data/local-files/?d=r23-moved/r23/photo_0.jpg", headers=headers)
    assert gone.status_code == 404  # what the annotators would have seen

    result = runner.invoke(app, ["push", str(tmp_path / "m.csv"), "--config", str(after)])
    assert isinstance(result.exception, PhotosFolderNotServedError), result.output
    message = result.exception.message
    assert str(label_studio.photos_dir.resolve()) in message and str(moved.resolve()) in message
    assert "photos_folder" in message and "annotate init" in message and "\n" not in message
    conn = connect(url, label_studio.legacy_token)
    (project,) = [p for p in conn.sdk.projects.list() if p.title == title]
    assert _tasks(conn, project.id) == []


def test_push_rows_with_photos_dir_refuses_a_project_without_its_storage(
    label_studio: LabelStudioServer, taxonomy: Taxonomy, tmp_path: Path
):
    conn = connect(label_studio.url, label_studio.personal_token)
    info = init_on_server(conn, "Review 23 storage gone", taxonomy, label_studio)
    for storage in conn.sdk.import_storage.local.list(project=info.id):
        conn.sdk.import_storage.local.delete(storage.id)
    rows = make_manifest(label_studio.photos_dir, tmp_path / "m.csv", 2, prefix="r23gone")

    def push() -> int:
        return push_rows(
            conn, info.id, rows, manifest_root=tmp_path, document_root=label_studio.document_root,
            scores={}, taxonomy=taxonomy, sign_threshold=0.5, batch_size=10,
            photos_dir=label_studio.photos_dir,
        ).created  # fmt: skip

    with pytest.raises(PhotosFolderNotServedError) as refused:
        push()
    message = refused.value.message
    assert "no local-files storage" in message and "annotate init" in message
    assert _tasks(conn, info.id) == []
    # As the message says: init makes the storage again, and the photos go in.
    assert init_on_server(conn, "Review 23 storage gone", taxonomy, label_studio).id == info.id
    assert push() == 2


def _race(
    label_studio: LabelStudioServer, taxonomy: Taxonomy, title: str, photos_dirs: list[Path]
) -> list[ProjectInfo | Exception]:
    """`init_project` run at once, one thread per photos folder (a machine each): every run
    has listed the storages, and found none, before any sends its create."""
    barrier = threading.Barrier(len(photos_dirs), timeout=60)
    outcomes: list[ProjectInfo | Exception] = [RuntimeError("did not finish")] * len(photos_dirs)

    def creates_together(request: httpx.Request) -> None:
        if request.method == "POST" and request.url.path.rstrip("/") == STORAGES:
            barrier.wait()

    def machine(i: int, photos_dir: Path) -> None:
        conn = connect(label_studio.url, label_studio.personal_token)
        conn.sdk._client_wrapper.httpx_client.httpx_client.event_hooks["request"].append(
            creates_together
        )
        try:
            outcomes[i] = init_project(
                conn, title=title, taxonomy=taxonomy, photos_dir=photos_dir,
                document_root=label_studio.document_root,
            )  # fmt: skip
        except Exception as exc:
            outcomes[i] = exc

    threads = [
        threading.Thread(target=machine, args=(i, d), name=f"machine-{i}")
        for i, d in enumerate(photos_dirs)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    return outcomes


@pytest.fixture
def project_without_storage(
    label_studio: LabelStudioServer, taxonomy: Taxonomy, tmp_path: Path, monkeypatch, request
) -> ProjectInfo:
    """A project `init` made, whose storage is gone (a first init stopped before making it);
    each thread's lock file in its own folder, as on two machines."""
    monkeypatch.setattr(
        local_lock, "lock_path", lambda name: tmp_path / threading.current_thread().name / name
    )
    conn = connect(label_studio.url, label_studio.personal_token)
    title = f"Review 23 race {request.node.name[-12:]}"  # titles: 50 characters at most
    info = init_on_server(conn, title, taxonomy, label_studio)
    for storage in conn.sdk.import_storage.local.list(project=info.id):
        conn.sdk.import_storage.local.delete(storage.id)
    return info


def test_two_inits_at_once_leave_one_storage_for_the_path(
    label_studio: LabelStudioServer, taxonomy: Taxonomy, project_without_storage, caplog
):
    info = project_without_storage
    with caplog.at_level(logging.WARNING, logger="annotation.storage"):
        outcomes = _race(label_studio, taxonomy, info.title, [info.photos_dir] * 2)
    assert [o.id if isinstance(o, ProjectInfo) else o for o in outcomes] == [info.id] * 2
    conn = connect(label_studio.url, label_studio.personal_token)
    assert _storages(conn, info.id) == [(STORAGE_TITLE, str(info.photos_dir))]
    assert "also made by another run" in caplog.text


def test_two_inits_at_once_with_other_folders_leave_one_and_refuse_the_other(
    label_studio: LabelStudioServer, taxonomy: Taxonomy, project_without_storage
):
    info = project_without_storage
    other = label_studio.document_root / "r23-other-machine"
    other.mkdir()
    outcomes = _race(label_studio, taxonomy, info.title, [info.photos_dir, other])
    refused = [o for o in outcomes if isinstance(o, Exception)]
    done = [
        (o, d) for o, d in zip(outcomes, [info.photos_dir, other], strict=True) if o not in refused
    ]
    assert len(refused) == 1 and isinstance(refused[0], StorageElsewhereError), outcomes
    ((kept, folder),) = done
    assert isinstance(kept, ProjectInfo) and kept.id == info.id
    conn = connect(label_studio.url, label_studio.personal_token)
    assert _storages(conn, info.id) == [(STORAGE_TITLE, str(folder.resolve()))]
    assert str(folder.resolve()) in refused[0].message
