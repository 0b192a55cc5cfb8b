"""The data folder's personal data is private: a fresh one is 0700 with the database 0600 (its
-wal and -shm files alike) and the photo store closed to others; an existing folder open to
others is reported once at start and left as the operator set it."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from serving.app import create_app
from serving.db.session import make_engine
from tests.serving.helpers import Service, jpeg, make_settings, seed_users


@pytest.fixture(autouse=True)
def _usual_umask() -> Iterator[None]:
    """The common default umask (022), under which new files are world-readable."""
    before = os.umask(0o022)
    yield
    os.umask(before)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _start(data_dir: Path, *, first: bool = True) -> Iterator[Service]:
    """The service on the default SQLite database in `data_dir`, with its own key file;
    `first`: its first start, which makes the accounts."""
    settings = make_settings(data_dir.parent, "", data_dir=data_dir, secret_key=None)
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        tokens = seed_users(client.app) if first else {}
        yield Service(client=client, app=client.app, tokens=tokens)


def test_a_fresh_data_folder_and_its_database_are_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "site" / "data"
    for service in _start(data_dir):
        service.create_family("F1")
        assert service.upload("F1", jpeg(1)).status_code == 201
        database = data_dir / "shanyraq.db"
        written = [database, database.with_name("shanyraq.db-wal")]
        shm = database.with_name("shanyraq.db-shm")
        assert written[1].exists()  # WAL: the service has written through it
        for path in written + ([shm] if shm.exists() else []):
            assert _mode(path) == 0o600, path
    assert _mode(data_dir) == 0o700
    assert _mode(data_dir / "secret_key") == 0o600
    store = data_dir / "photos"
    assert _mode(store) == 0o700
    photos = [p for p in (store / "originals").rglob("*") if p.is_file()]
    assert photos and all(_mode(p) & 0o077 == 0 for p in photos)
    folders = [p for p in store.rglob("*") if p.is_dir()]
    assert folders and all(_mode(p) == 0o700 for p in folders)


def test_a_new_sqlite_file_is_private_wherever_the_url_points(tmp_path: Path) -> None:
    database = tmp_path / "elsewhere" / "service.db"
    engine = make_engine(f"sqlite:///{database}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
        connection.execute(text("INSERT INTO t VALUES (1)"))
        assert _mode(database.with_name("service.db-wal")) == 0o600
    engine.dispose()
    assert (_mode(database.parent), _mode(database)) == (0o700, 0o600)
    reader = make_engine(f"sqlite:///{tmp_path / 'absent' / 'x.db'}", read_only=True)
    reader.dispose()
    assert not (tmp_path / "absent").exists()  # a read-only engine makes nothing


def test_an_existing_open_data_folder_is_reported_once_and_left_as_it_is(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    os.chmod(data_dir, 0o755)
    with caplog.at_level(logging.WARNING, logger="serving.data_dir"):
        for service in _start(data_dir):
            service.create_family("F1")
            assert service.upload("F1", jpeg(2)).status_code == 201
    warnings = [r.getMessage() for r in caplog.records if r.name == "serving.data_dir"]
    assert len(warnings) == 1, warnings
    assert str(data_dir) in warnings[0] and "755" in warnings[0] and "chmod 700" in warnings[0]
    assert _mode(data_dir) == 0o755  # the operator's choice is not changed
    assert _mode(data_dir / "shanyraq.db") == 0o600  # what the service made is still private

    caplog.clear()
    os.chmod(data_dir, 0o700)
    with caplog.at_level(logging.WARNING, logger="serving.data_dir"):
        for _ in _start(data_dir, first=False):
            pass
    assert not [r for r in caplog.records if r.name == "serving.data_dir"]
