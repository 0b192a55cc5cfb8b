"""Review 20: atomic writes through symbolic links, and the photo store sweep on I/O errors.

atomic_file and atomic_folder follow a link at the path, as writing the file would: the file or
folder it leads to is replaced and the link stays. Before, the rename replaced the link itself
with a regular file or folder (the file it named left stale), a dangling link made
atomic_folder fail with a bare ENOTDIR, and a loop of links was silently replaced.

`shanyraq store sweep`: a shard folder it cannot list, a file it cannot set aside or check,
and a set-aside file it cannot put back are reported and left as they are, and the sweep goes
on. Before, the first such error aborted the whole sweep (the other orphans kept, no report).
"""

from __future__ import annotations

import errno
import hashlib
import os
import pathlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from serving import store_sweep
from serving.db.models import AuditEntry
from serving.storage import PhotoStore
from serving.store_sweep_cli import app as store_app
from shanyraq.atomic import atomic_file, atomic_folder
from shanyraq.errors import FileAccessError
from tests.serving.helpers import Service, cheap_hasher, jpeg, serving_yaml, started
from tests.serving.sweep_helpers import age


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 at its lowest cost for the services these tests start (as in tests/serving)."""
    from serving.core import security

    monkeypatch.setattr(security, "_HASHER", cheap_hasher())


# --- atomic_file and atomic_folder through a symbolic link ---------------------------------


def _names(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


def test_atomic_file_through_a_link_replaces_the_file_it_leads_to(tmp_path, record_fsyncs):
    real = tmp_path / "real"
    real.mkdir()
    (real / "scores.json").write_text("old")
    link = tmp_path / "scores.json"
    link.symlink_to(Path("real") / "scores.json")  # relative, as `ln -s` makes them
    synced = record_fsyncs(lambda: (real / "scores.json").read_text() == "new")
    with atomic_file(link) as tmp:
        assert tmp.parent == real  # beside the file it replaces: one file system, one rename
        tmp.write_text("new")
    assert link.is_symlink() and link.read_text() == "new"
    assert (real / "scores.json").read_text() == "new"
    assert _names(real) == ["scores.json"] and _names(tmp_path) == ["real", "scores.json"]
    assert (str(real), True) in synced  # the target's folder flushed after its rename


@pytest.mark.parametrize("replace", [True, False])
def test_atomic_file_through_a_dangling_link_makes_the_file(tmp_path, replace):
    link = tmp_path / "report.json"
    link.symlink_to(tmp_path / "out" / "report.json")
    with atomic_file(link, replace=replace) as tmp:
        tmp.write_text("new")
    assert link.is_symlink() and (tmp_path / "out" / "report.json").read_text() == "new"
    assert _names(tmp_path / "out") == ["report.json"]


def test_atomic_file_through_a_link_without_replace_keeps_the_file(tmp_path):
    (tmp_path / "real.csv").write_text("kept")
    link = tmp_path / "link.csv"
    link.symlink_to(tmp_path / "real.csv")
    with pytest.raises(FileExistsError), atomic_file(link, replace=False) as tmp:
        tmp.write_text("new")
    assert link.is_symlink() and (tmp_path / "real.csv").read_text() == "kept"
    assert _names(tmp_path) == ["link.csv", "real.csv"]


def test_a_loop_of_links_is_refused_and_left_as_it_is(tmp_path):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(OSError) as file_error, atomic_file(tmp_path / "a") as tmp:
        tmp.write_text("new")
    with pytest.raises(OSError) as folder_error, atomic_folder(tmp_path / "a") as staging:
        (staging / "x").write_text("new")
    for excinfo in (file_error, folder_error):
        assert excinfo.value.errno == errno.ELOOP
        assert excinfo.value.filename == str(tmp_path / "a")
    assert (tmp_path / "a").is_symlink() and (tmp_path / "b").is_symlink()
    assert _names(tmp_path) == ["a", "b"]


def test_atomic_folder_through_a_link_replaces_the_folder_it_leads_to(tmp_path):
    real = tmp_path / "models" / "v3"
    real.mkdir(parents=True)
    (real / "old.onnx").write_text("old")
    link = tmp_path / "current"
    link.symlink_to(real, target_is_directory=True)
    with atomic_folder(link) as staging:
        assert staging.parent.parent == real.parent  # staged beside the target
        (staging / "new.onnx").write_text("new")
    assert link.is_symlink() and _names(link) == ["new.onnx"]
    assert _names(real) == ["new.onnx"]
    assert _names(tmp_path / "models") == ["v3"]  # no work folder left
    assert _names(tmp_path) == ["current", "models"]


def test_atomic_folder_through_a_dangling_link_makes_the_folder(tmp_path):
    link = tmp_path / "current"
    link.symlink_to(tmp_path / "v4", target_is_directory=True)
    with atomic_folder(link) as staging:
        (staging / "model.json").write_text("{}")
    assert link.is_symlink() and _names(tmp_path / "v4") == ["model.json"]
    assert _names(tmp_path) == ["current", "v4"]


def test_atomic_folder_below_a_file_names_the_file(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(NotADirectoryError) as excinfo, atomic_folder(tmp_path / "f" / "out"):
        pass
    assert excinfo.value.filename == str(tmp_path / "f")
    assert "needs a folder there" in str(excinfo.value)
    assert _names(tmp_path) == ["f"] and (tmp_path / "f").read_text() == "x"


# --- the photo store sweep on I/O errors ------------------------------------------------------


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    """The service on SQLite, with one filed photo (else --apply refuses the database)."""
    with started(tmp_path, f"sqlite:///{tmp_path / 'service.db'}") as running:
        running.create_family("F1")
        assert running.upload("F1", jpeg(1)).status_code == 201
        yield running


def _two_orphans(service: Service) -> tuple[str, str]:
    """Two originals no row names, 48 h old, in different shards, each with a browser copy."""
    store: PhotoStore = service.services.store
    picked: dict[str, str] = {}
    for seed in range(100, 200):
        sha256 = hashlib.sha256(jpeg(seed)).hexdigest()
        if sha256[:2] not in picked and len(picked) < 2:
            picked[sha256[:2]] = store.put(jpeg(seed)).sha256
            store.served_jpeg(sha256, max_pixels=10**8)
            age(store.path_for(sha256), 48)
            age(store.path_for(sha256, folder=store.served), 48)
    first, second = sorted(picked.values())
    return first, second


def _sweep(service: Service, *, apply: bool = True) -> store_sweep.SweepReport:
    services = service.services
    key = services.signing_key if apply else None
    return store_sweep.sweep(services.store, services.sessions, grace_hours=24, key=key)


def _audited(service: Service) -> set[str]:
    with service.services.sessions() as session:
        query = select(AuditEntry.target).where(AuditEntry.action == store_sweep.AUDIT_ACTION)
        return set(session.execute(query).scalars())


def _files(service: Service, sha256: str) -> tuple[bool, bool]:
    store = service.services.store
    return store.path_for(sha256).exists(), store.path_for(sha256, folder=store.served).exists()


def _failing(
    monkeypatch: pytest.MonkeyPatch, name: str, broken: Any, code: int = errno.EIO
) -> None:
    """os.NAME raises OSError(code) for a first argument `broken(path)` says is broken."""
    real = getattr(os, name)

    def failing(path: Any, *args: Any, **kwargs: Any) -> Any:
        if broken(Path(path)):
            raise OSError(code, os.strerror(code), str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, name, failing)


@pytest.mark.parametrize("code", [errno.EIO, errno.EACCES])
@pytest.mark.parametrize("folder", ["originals", "served"])
def test_a_shard_that_cannot_be_listed_is_reported_and_none_of_it_removed(
    service, monkeypatch, folder, code
):
    store = service.services.store
    unreadable, other = _two_orphans(service)
    shard = getattr(store, folder) / unreadable[:2]
    _failing(monkeypatch, "scandir", lambda path: path == shard, code)
    dry = _sweep(service, apply=False)
    assert [orphan.sha256 for orphan in dry.orphans] == [other]
    [line] = dry.unreadable
    assert f"shard {unreadable[:2]} not swept" in line and str(shard) in line
    report = _sweep(service)
    assert [orphan.sha256 for orphan in report.removed] == [other]
    assert _files(service, unreadable) == (True, True)  # its copy too: the shard was not read
    assert _files(service, other) == (False, False)
    assert _audited(service) == {f"photo_file:{other}"}
    # With --apply the search for set-aside files meets the shard too (EIO; pathlib skips
    # EACCES): said as well, and the sweep still goes on.
    assert line in report.unreadable and len(report.unreadable) <= 2


def test_a_file_that_cannot_be_set_aside_is_kept_and_the_sweep_goes_on(service, monkeypatch):
    store = service.services.store
    broken, other = _two_orphans(service)
    _failing(monkeypatch, "rename", lambda path: path == store.path_for(broken))
    report = _sweep(service)
    assert {orphan.sha256 for orphan in report.orphans} == {broken, other}
    assert [orphan.sha256 for orphan in report.removed] == [other] and report.kept == ()
    [line] = report.unreadable
    assert f"photo {broken} not removed" in line and "Input/output error" in line
    assert _files(service, broken) == (True, True) and _files(service, other) == (False, False)
    assert _audited(service) == {f"photo_file:{other}"}


def test_a_set_aside_file_that_cannot_be_checked_is_put_back(service, monkeypatch):
    store = service.services.store
    broken, other = _two_orphans(service)
    real_stat = pathlib.Path.stat

    def stat(self: Path, **kwargs: Any) -> os.stat_result:
        if self.name.startswith(".sweeping-" + broken):
            raise OSError(errno.EIO, os.strerror(errno.EIO), str(self))
        return real_stat(self, **kwargs)

    monkeypatch.setattr(pathlib.Path, "stat", stat)
    report = _sweep(service)
    assert [orphan.sha256 for orphan in report.removed] == [other]
    assert len(report.unreadable) == 1 and broken in report.unreadable[0]
    assert store.path_for(broken).read_bytes()  # back under its name, whole
    assert _names(store.path_for(broken).parent) == [broken]  # nothing left set aside
    assert _files(service, broken) == (True, True)
    assert _audited(service) == {f"photo_file:{other}"}


def test_a_set_aside_file_that_cannot_be_put_back_stays_aside(service, monkeypatch):
    store = service.services.store
    stuck, other = _two_orphans(service)
    moved = store.set_aside(stuck)  # an interrupted sweep's
    assert moved is not None
    _failing(monkeypatch, "link", lambda path: path == moved)
    report = _sweep(service)
    assert other in {orphan.sha256 for orphan in report.removed}
    [line] = report.unreadable
    assert "interrupted sweep" in line and str(moved) in line
    assert moved.exists() and not store.path_for(stuck).exists()  # kept, for the next start
    assert f"photo_file:{other}" in _audited(service)


def test_the_command_lists_what_it_could_not_read_and_fails(service, monkeypatch, tmp_path):
    store = service.services.store
    unreadable, other = _two_orphans(service)
    shard = store.originals / unreadable[:2]
    _failing(monkeypatch, "scandir", lambda path: path == shard, errno.EACCES)
    config = serving_yaml(
        tmp_path / "serving.yaml", tmp_path, f"sqlite:///{tmp_path / 'service.db'}", fusion_dir=""
    )
    result = CliRunner().invoke(store_app, ["sweep", "--apply", "--config", str(config)])
    assert isinstance(result.exception, FileAccessError), result.output
    assert "1 photo store file(s) or folder(s) could not be read" in str(result.exception)
    assert f"cannot be read or removed: shard {unreadable[:2]} not swept" in result.output
    assert "removed 1 (" in result.output
    assert _files(service, unreadable) == (True, True) and _files(service, other) == (False, False)
