"""`shanyraq store sweep`: photo files no photo row names, removed safely and audited."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from serving import storage, store_sweep
from serving.audit_cli import app as audit_app
from serving.db.models import AuditEntry, Photo
from serving.storage import PhotoStore
from serving.store_sweep_cli import app as store_app
from shanyraq.errors import CommandUsageError, ConfigError
from tests.serving.helpers import jpeg, make_settings
from tests.serving.sweep_helpers import HOUR_NS, age


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """Real SQLite only (the conftest's fixture adds PostgreSQL)."""
    return f"sqlite:///{tmp_path / 'service.db'}"


def _removals(service) -> list[AuditEntry]:
    with service.services.sessions() as session:
        query = select(AuditEntry).where(AuditEntry.action == store_sweep.AUDIT_ACTION)
        return list(session.execute(query).scalars())


def _rows(service, sha256: str) -> int:
    with service.services.sessions() as session:
        query = select(func.count()).select_from(Photo).where(Photo.sha256 == sha256)
        return int(session.execute(query).scalar_one())


@pytest.fixture
def layout(service):
    """A filed photo, an old orphan with a browser copy and a young orphan; the filed photo's
    file and its browser copy are older than the orphan's, so age alone never decides."""
    store = service.services.store
    service.create_family("F1")
    filed = service.upload("F1", jpeg(1)).json()["sha256"]
    store.served_jpeg(filed, max_pixels=10**8)
    old = store.put(jpeg(2)).sha256
    store.served_jpeg(old, max_pixels=10**8)
    young = store.put(jpeg(3)).sha256
    for sha256, hours in ((filed, 500), (old, 48), (young, 0.5)):
        age(store.path_for(sha256), hours)
        served = store.path_for(sha256, folder=store.served)
        if served.exists():
            age(served, hours)
    return {"filed": filed, "old": old, "young": young}


def _files(store: PhotoStore, sha256: str) -> tuple[bool, bool]:
    return store.path_for(sha256).exists(), store.path_for(sha256, folder=store.served).exists()


def test_dry_run_lists_and_keeps(service, layout, config):
    store = service.services.store
    before = {sha: store.path_for(sha).stat().st_mtime_ns for sha in layout.values()}
    result = CliRunner().invoke(store_app, ["sweep", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert layout["old"] in result.output
    assert layout["filed"] not in result.output and layout["young"] not in result.output
    old = (store.path_for(layout["old"]), store.path_for(layout["old"], folder=store.served))
    size = sum(path.stat().st_size for path in old)
    assert f"older than 24 h: 1 ({size} bytes)" in result.output
    assert "dry run: nothing was removed" in result.output
    for sha256, mtime in before.items():
        assert store.path_for(sha256).stat().st_mtime_ns == mtime
    assert _files(store, layout["old"]) == (True, True)
    assert _removals(service) == []


def test_apply_removes_only_orphans_past_the_grace_and_audits_them(service, layout, config):
    store = service.services.store
    filed_bytes = store.read(layout["filed"])
    old = (store.path_for(layout["old"]), store.path_for(layout["old"], folder=store.served))
    size = sum(path.stat().st_size for path in old)
    runner = CliRunner()
    result = runner.invoke(store_app, ["sweep", "--apply", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert f"removed 1 ({size} bytes)" in result.output
    assert store_sweep.AUDIT_ACTION in result.output
    assert _files(store, layout["old"]) == (False, False)
    assert _files(store, layout["filed"]) == (True, True)  # a row names it: never touched
    assert store.read(layout["filed"]) == filed_bytes
    assert _files(store, layout["young"]) == (True, False)  # within the grace
    [entry] = _removals(service)
    assert entry.actor == "cli" and entry.target == f"photo_file:{layout['old']}"
    assert entry.details["original"] and entry.details["browser_copy"]
    assert entry.details["size_bytes"] == size and entry.details["modified"].endswith("+00:00")
    assert runner.invoke(audit_app, ["verify", "--config", str(config)]).exit_code == 0
    # The young one goes once past a shorter grace; the filed photo still stays.
    again = runner.invoke(
        store_app, ["sweep", "--apply", "--older-than", "1", "--config", str(config)]
    )
    assert again.exit_code == 0 and "removed 0" in again.output
    age(store.path_for(layout["young"]), 2)
    last = runner.invoke(
        store_app, ["sweep", "--apply", "--older-than", "1", "--config", str(config)]
    )
    assert last.exit_code == 0 and "removed 1" in last.output, last.output
    assert _files(store, layout["young"]) == (False, False)
    assert _files(store, layout["filed"]) == (True, True)


@pytest.mark.parametrize("hours", ["-5", "0", "0.5", "nan"])
def test_a_grace_under_an_hour_is_refused(service, layout, config, hours):
    result = CliRunner().invoke(
        store_app, ["sweep", "--apply", "--older-than", hours, "--config", str(config)]
    )
    assert result.exit_code != 0
    assert isinstance(result.exception, CommandUsageError)
    assert "--older-than must be a number of hours of at least 1" in str(result.exception)
    assert _files(service.services.store, layout["old"]) == (True, True)


def test_the_grace_setting_has_the_same_floor(tmp_path, database_url):
    assert make_settings(tmp_path, database_url).store_sweep_grace_hours == 24  # shipped
    with pytest.raises(ConfigError, match="store_sweep_grace_hours"):
        make_settings(tmp_path, database_url, store_sweep_grace_hours=0.5)


def _find(service) -> list[store_sweep.Orphan]:
    services = service.services
    return store_sweep.find_orphans(services.store, services.sessions, grace_hours=24)


def _remove(service, orphan: store_sweep.Orphan) -> bool:
    services = service.services
    return store_sweep.remove_orphan(
        services.store, services.sessions, services.signing_key, orphan
    )


def test_upload_between_the_check_and_the_removal_keeps_the_file(service):
    """The upload's put finds the file (old mtime) after the sweep asked the database; its row
    commits only after the sweep is done. The touch of `put` is what saves it."""
    store, data = service.services.store, jpeg(4)
    sha256 = store.put(data).sha256
    age(store.path_for(sha256), 48)
    [orphan] = _find(service)
    assert not store.put(data).created  # the upload: the bytes are there already
    assert not _remove(service, orphan)
    assert store.read(sha256) == data
    service.create_family("F1")
    assert service.upload("F1", data).status_code == 201  # the row commits now
    assert store.read(sha256) == data and _rows(service, sha256) == 1
    assert _removals(service) == []
    assert list(store.originals.rglob(".sweeping-*")) == []


def _old_orphan(service, *, seed: int):
    """A photo file stored two days ago with no row, listed by the sweep: (store, its bytes,
    sha256, the orphan listed)."""
    store, data = service.services.store, jpeg(seed)
    sha256 = store.put(data).sha256
    age(store.path_for(sha256), 48)
    [orphan] = _find(service)
    return store, data, sha256, orphan


def test_upload_while_the_file_is_set_aside_keeps_the_bytes(service, monkeypatch):
    """The upload's put runs after the sweep renamed the file away: it finds no file, writes
    the bytes again, and the sweep deletes only the copy it set aside."""
    store, data, sha256, orphan = _old_orphan(service, seed=5)
    real = PhotoStore.set_aside

    def set_aside_then_upload(self: PhotoStore, name: str) -> Path | None:
        moved = real(self, name)
        assert store.put(data).created  # written again under its name
        return moved

    monkeypatch.setattr(PhotoStore, "set_aside", set_aside_then_upload)
    assert _remove(service, orphan)  # the set-aside copy: removed and audited
    monkeypatch.undo()
    assert store.read(sha256) == data
    service.create_family("F1")
    assert service.upload("F1", data).status_code == 201
    assert store.read(sha256) == data and store.verify(sha256)


def test_row_committed_while_the_file_is_set_aside_puts_it_back(service, monkeypatch):
    """A row that names the bytes by the re-check (here: an upload filed whole while the file
    was set aside) keeps the file, whatever its mtime says."""
    service.create_family("F1")
    store, data, sha256, orphan = _old_orphan(service, seed=6)
    real = PhotoStore.set_aside

    def set_aside_then_file(self: PhotoStore, name: str) -> Path | None:
        moved = real(self, name)
        assert service.upload("F1", data).status_code == 201
        return moved

    monkeypatch.setattr(PhotoStore, "set_aside", set_aside_then_file)
    assert not _remove(service, orphan)
    assert store.read(sha256) == data and _rows(service, sha256) == 1
    assert _removals(service) == [] and list(store.originals.rglob(".sweeping-*")) == []


def test_put_writes_again_a_file_renamed_away_under_it(tmp_path, monkeypatch):
    """A sweep renames the file between put's check that it holds the bytes and its touch."""
    store = PhotoStore(tmp_path / "photos")
    store.prepare()
    data = jpeg(7)
    first = store.put(data)
    real = storage._holds

    def holds_then_swept(path: Path, given: bytes) -> bool:
        found = real(path, given)
        store.set_aside(first.sha256)
        return found

    monkeypatch.setattr(storage, "_holds", holds_then_swept)
    again = store.put(data)
    assert again.created and again.path.read_bytes() == data


def test_put_marks_a_file_it_finds_as_stored_now(tmp_path):
    store = PhotoStore(tmp_path / "photos")
    store.prepare()
    stored = store.put(jpeg(8))
    age(stored.path, 48)
    assert not store.put(jpeg(8)).created
    assert time.time_ns() - stored.path.stat().st_mtime_ns < HOUR_NS


def test_an_interrupted_sweep_is_undone_at_start_and_by_the_next_sweep(service, config):
    store, data = service.services.store, jpeg(9)
    service.create_family("F1")
    sha256 = service.upload("F1", data).json()["sha256"]
    assert store.set_aside(sha256) is not None  # a sweep stopped after step 2
    assert not store.path_for(sha256).exists()
    assert store.prepare() == 0 and store.read(sha256) == data  # the service's start
    store.set_aside(sha256)
    result = CliRunner().invoke(store_app, ["sweep", "--apply", "--config", str(config)])
    assert result.exit_code == 0 and "put back 1 photo file(s)" in result.output
    assert store.read(sha256) == data and _removals(service) == []


def test_a_failed_commit_leaves_an_orphan_the_sweep_finds(service, monkeypatch):
    """The problem itself: the file is stored, the row's transaction fails."""
    from serving.api.routes import photos

    def failing_commit(*args: object, **kwargs: object) -> object:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(photos, "record_request", failing_commit)
    service.create_family("F1")
    data = jpeg(10)
    with pytest.raises(RuntimeError):
        service.upload("F1", data)
    sha256 = hashlib.sha256(data).hexdigest()
    assert _find(service) == []  # within the grace
    later = time.time_ns() + 25 * HOUR_NS
    [orphan] = store_sweep.find_orphans(
        service.services.store, service.services.sessions, grace_hours=24, now_ns=later
    )
    assert orphan.sha256 == sha256 and orphan.size_bytes == len(data) and not orphan.served
