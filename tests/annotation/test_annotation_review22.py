"""`annotate init` edges (review 22): its lock file is kept in this user's cache folder, not
in the shared temp folder, where another user could make it first; a run whose photos folder
is not that of the project's storage (another checkout's document root, another photos folder)
is refused, naming the storage's path, instead of giving the project a second storage."""

from __future__ import annotations

import logging
import stat
import tempfile
import threading
from pathlib import Path

import pytest

from annotation import project as project_module
from annotation.client import connect
from annotation.project import STORAGE_TITLE, StorageElsewhereError, init_project
from shanyraq.taxonomy import Taxonomy
from tests.annotation.project_helpers import init_on_server
from tests.vision.trt_cache_helpers import locked_by_someone

from .label_studio_server_helpers import LabelStudioServer

URL = "http://ls.test:8080"


@pytest.fixture
def folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """(the temp folder, this user's cache folder), both empty, in place of the real ones."""
    shared, cache = tmp_path / "tmp", tmp_path / "cache"
    shared.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(shared))
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return shared, cache


def test_the_init_lock_is_in_this_users_cache_not_the_shared_temp_folder(folders):
    shared, cache = folders
    locks = cache / "shanyraq" / "locks"
    with project_module._local_lock(URL, "Shanyraq photos") as held:
        assert held
        assert list(shared.iterdir()) == []  # another user could have made it there first
        [lock] = list(locks.iterdir())
        assert locked_by_someone(lock)
        assert stat.S_IMODE(locks.stat().st_mode) & 0o077 == 0  # no one else makes files there
    assert list(locks.iterdir()) == []  # removed after use: none piles up


def test_one_lock_per_server_and_title(folders):
    _, cache = folders
    with (
        project_module._local_lock(URL, "A"),
        project_module._local_lock(URL, "B"),
        project_module._local_lock("http://other.test", "A"),
    ):
        assert len(list((cache / "shanyraq" / "locks").iterdir())) == 3


class _Waiting(logging.Handler):
    """Sets `event` once a run says it waits for the lock (after opening the file)."""

    def __init__(self) -> None:
        super().__init__()
        self.event = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "waiting for another" in record.getMessage():
            self.event.set()


def test_a_run_that_waited_holds_the_lock_on_the_file_there_not_on_the_removed_one(folders, caplog):
    _, cache = folders
    locks = cache / "shanyraq" / "locks"
    waiting, seen = _Waiting(), list[bool]()

    def second() -> None:
        with project_module._local_lock(URL, "T") as held:
            # A third run, opening the path now, would wait: the lock is on the file there.
            seen.append(held and any(locked_by_someone(lock) for lock in locks.iterdir()))

    logger = logging.getLogger("annotation.project")
    logger.addHandler(waiting)
    try:
        with caplog.at_level(logging.INFO, logger=logger.name):
            with project_module._local_lock(URL, "T"):
                thread = threading.Thread(target=second)
                thread.start()
                assert waiting.event.wait(timeout=60)
            thread.join(timeout=60)
    finally:
        logger.removeHandler(waiting)
    assert not thread.is_alive()
    assert seen == [True]
    assert list(locks.iterdir()) == []


def test_a_cache_folder_that_cannot_be_made_leaves_init_unlocked(folders, caplog):
    _, cache = folders
    cache.write_text("a file where the cache folder would be")
    with (
        caplog.at_level(logging.INFO, logger="annotation.local_lock"),
        project_module._local_lock(URL, "Shanyraq photos") as held,
    ):
        assert not held
    assert "going on without it" in caplog.text


def _storages(conn, project_id: int) -> list[tuple[str, str]]:
    return [(s.title, s.path) for s in conn.sdk.import_storage.local.list(project=project_id)]


def test_init_with_another_photos_folder_is_refused_not_given_a_second_storage(
    label_studio: LabelStudioServer, taxonomy: Taxonomy
):
    conn = connect(label_studio.url, label_studio.personal_token)
    title = "Review 22 storage"
    info = init_on_server(conn, title, taxonomy, label_studio)
    root = label_studio.document_root
    # Another checkout whose document root is a folder below the server's, and another photos
    # folder under the same root: both paths Label Studio itself would accept as a storage.
    elsewhere = [(root / "checkout2", root / "checkout2" / "photos"), (root, root / "r22-other")]
    for document_root, photos_dir in elsewhere:
        photos_dir.mkdir(parents=True)
        with pytest.raises(StorageElsewhereError) as refused:
            init_project(
                conn, title=title, taxonomy=taxonomy, photos_dir=photos_dir,
                document_root=document_root,
            )  # fmt: skip
        assert str(info.photos_dir) in refused.value.message
        assert str(photos_dir) in refused.value.message
        assert refused.value.code == "annotation_storage_elsewhere"
        assert _storages(conn, info.id) == [(STORAGE_TITLE, str(info.photos_dir))]
    assert init_on_server(conn, title, taxonomy, label_studio).id == info.id  # still found


def test_a_storage_added_by_hand_elsewhere_does_not_stop_init(
    label_studio: LabelStudioServer, taxonomy: Taxonomy
):
    conn = connect(label_studio.url, label_studio.personal_token)
    title = "Review 22 extra storage"
    info = init_on_server(conn, title, taxonomy, label_studio)
    extra = label_studio.document_root / "r22-extra"
    extra.mkdir()
    conn.sdk.import_storage.local.create(project=info.id, path=str(extra), title="more photos")
    again = init_on_server(conn, title, taxonomy, label_studio)
    assert again.id == info.id
    assert sorted(_storages(conn, info.id)) == sorted(
        [(STORAGE_TITLE, str(info.photos_dir)), ("more photos", str(extra))]
    )
