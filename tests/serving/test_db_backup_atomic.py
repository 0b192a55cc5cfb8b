"""`shanyraq db backup OUT` without --overwrite never replaces a file: one that appears at OUT
while the copy is written (after the command's first check) is kept, and the command says
so, with hard links and on a file system without them; the copy it publishes is 0600 and
its folder is flushed once OUT is in place."""

from __future__ import annotations

import errno
import os
import sqlite3
import stat
from pathlib import Path
from typing import Any

import pytest

from serving import db_backup
from serving.db_backup import backup_sqlite
from shanyraq import atomic
from shanyraq.errors import OutputExistsError

THEIRS = b"a backup another run wrote meanwhile"


def _database(tmp_path: Path) -> Path:
    database = tmp_path / "data" / "shanyraq.db"
    database.parent.mkdir()
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE families (id INTEGER PRIMARY KEY, name TEXT)")
        connection.execute("INSERT INTO families (name) VALUES ('Amina')")
    connection.close()
    return database


def _out_appears_before_publishing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Another writer makes OUT after the command checked it and verified its copy, just
    before the copy is given OUT's name."""
    verify = db_backup._verify

    def verify_then_another_writer_makes_out(tmp: Path, *, expected: Any, out: Path) -> Any:
        revision = verify(tmp, expected=expected, out=out)
        out.write_bytes(THEIRS)
        return revision

    monkeypatch.setattr(db_backup, "_verify", verify_then_another_writer_makes_out)


@pytest.fixture(params=["hard links", "no hard links"])
def file_system(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """As on most file systems, and as on one without hard links (FAT, some network mounts),
    where link() fails with EPERM."""
    if request.param == "no hard links":

        def no_link(*args: Any, **kwargs: Any) -> None:
            raise OSError(errno.EPERM, "Operation not permitted")

        monkeypatch.setattr(os, "link", no_link)
    return str(request.param)


def test_an_out_that_appears_while_the_copy_is_written_is_kept(tmp_path, monkeypatch, file_system):
    database, out = _database(tmp_path), tmp_path / "backups" / "copy.db"
    _out_appears_before_publishing(monkeypatch)
    with pytest.raises(OutputExistsError) as refusal:
        backup_sqlite(f"sqlite:///{database}", out)

    assert out.read_bytes() == THEIRS  # untouched
    message = str(refusal.value)
    assert str(out) in message and "appeared" in message and "--overwrite" in message
    assert refusal.value.code == "output_exists"
    assert sorted(p.name for p in out.parent.iterdir()) == ["copy.db"]  # no temporary left


def test_a_new_out_is_private_and_its_folder_flushed_once_it_is_there(
    tmp_path, monkeypatch, file_system
):
    database, out = _database(tmp_path), tmp_path / "backups" / "copy.db"
    out.parent.mkdir()
    flushed: list[list[str]] = []
    sync_folder = atomic._sync_folder

    def record(folder: Path) -> None:
        flushed.append(sorted(p.name for p in folder.iterdir()))
        sync_folder(folder)

    monkeypatch.setattr(atomic, "_sync_folder", record)
    old_umask = os.umask(0o022)  # a usual umask: files 0644 unless made otherwise
    try:
        made = backup_sqlite(f"sqlite:///{database}", out)
    finally:
        os.umask(old_umask)

    assert made.path == out and made.size_bytes == out.stat().st_size
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert out.stat().st_nlink == 1  # the temporary name is gone, not a second link
    assert flushed == [["copy.db"]]  # flushed after OUT is in place and the temporary gone
    copy = sqlite3.connect(f"{out.resolve().as_uri()}?mode=ro", uri=True)
    try:
        assert copy.execute("SELECT name FROM families").fetchall() == [("Amina",)]
    finally:
        copy.close()


def test_overwrite_still_replaces_an_out_that_appears(tmp_path, monkeypatch):
    database, out = _database(tmp_path), tmp_path / "copy.db"
    _out_appears_before_publishing(monkeypatch)
    backup_sqlite(f"sqlite:///{database}", out, overwrite=True)
    assert out.read_bytes().startswith(b"SQLite format 3\x00")
