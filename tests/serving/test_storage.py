"""The photo store: content addressing, durability steps, crash leftovers, served copies."""

from __future__ import annotations

import hashlib
import io
import os
import time

import pytest
from PIL import Image

from serving import storage
from serving.errors import NotFoundError, StorageError
from serving.storage import PhotoStore
from tests.serving.helpers import jpeg


@pytest.fixture
def store(tmp_path):
    photo_store = PhotoStore(tmp_path / "photos")
    photo_store.prepare()
    return photo_store


def test_same_bytes_stored_once(store):
    data = jpeg(1)
    first, second = store.put(data), store.put(data)
    assert first.created and not second.created
    assert first.sha256 == hashlib.sha256(data).hexdigest() == second.sha256
    assert first.path.read_bytes() == data
    assert len(list(store.originals.rglob("*"))) == 2  # one shard folder, one file


def test_write_is_fsynced_then_renamed_then_folder_fsynced(store, monkeypatch):
    calls: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        calls.append("dir" if os.path.isdir(f"/proc/self/fd/{fd}") else "file")
        return real_fsync(fd)

    def replace(src, dst):
        calls.append("rename")
        return real_replace(src, dst)

    monkeypatch.setattr(storage.os, "fsync", fsync)
    monkeypatch.setattr(storage.os, "replace", replace)
    store.put(jpeg(2))
    # A new shard folder: its parent first (the shard's entry), then the file, then the shard.
    assert calls == ["dir", "file", "rename", "dir"]
    calls.clear()
    other = jpeg(3)
    (store.originals / hashlib.sha256(other).hexdigest()[:2]).mkdir(exist_ok=True)
    store.put(other)  # into a shard folder that exists already
    assert calls == ["file", "rename", "dir"]


@pytest.fixture
def synced(monkeypatch):
    """The folders the store fsyncs, in order."""
    folders: list = []
    real = storage._fsync_dir

    def record(folder):
        folders.append(folder)
        return real(folder)

    monkeypatch.setattr(storage, "_fsync_dir", record)
    return folders


def test_new_shard_folder_is_fsynced_in_its_parent(store, synced):
    stored = store.put(jpeg(20))
    shard = stored.path.parent
    assert synced == [store.originals, shard]  # the shard's entry, then the file's


def test_prepare_fsyncs_the_parent_of_every_folder_it_makes(tmp_path, synced):
    photo_store = PhotoStore(tmp_path / "a" / "b")
    photo_store.prepare()
    for made in (tmp_path / "a", tmp_path / "a" / "b", photo_store.originals, photo_store.served):
        assert made.parent in synced, made


def test_same_bytes_already_stored_are_fsynced_before_the_answer(store, synced):
    data = jpeg(21)
    first = store.put(data)
    synced.clear()
    second = store.put(data)  # the fast path: another request may not have synced the folder
    assert not second.created and synced == [first.path.parent]


def test_failed_write_leaves_no_partial_file(store, monkeypatch):
    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(storage.os, "replace", broken_replace)
    with pytest.raises(StorageError, match="could not be saved"):
        store.put(jpeg(3))
    assert [p for p in store.originals.rglob("*") if p.is_file()] == []


def test_prepare_removes_crash_leftovers(store):
    shard = store.originals / "ab"
    shard.mkdir()
    leftover = shard / ".incoming-xyz"
    leftover.write_bytes(b"half a photo")
    kept = store.put(jpeg(4))
    assert store.prepare() == 1  # the service starting: its own writes died with it
    assert not leftover.exists() and kept.path.exists()
    leftover.write_bytes(b"half a photo")
    old = time.time() - storage.TEMP_LEFTOVER_AGE_S - 60
    os.utime(leftover, (old, old))
    assert store.prepare(any_age=False) == 1  # a command: old enough to be a crash's
    assert not leftover.exists()


def test_prepare_keeps_a_temp_file_young_enough_to_be_a_write_in_flight(store):
    """A command that builds the services (assessments refresh, rescore promote) runs prepare
    while the service may be filing an upload: its temp file must survive."""
    shard = store.originals / "cd"
    shard.mkdir()
    in_flight = shard / ".incoming-abc"
    in_flight.write_bytes(b"being written")
    assert store.prepare(any_age=False) == 0
    assert in_flight.read_bytes() == b"being written"


def test_verify_and_read(store):
    stored = store.put(jpeg(5))
    assert store.verify(stored.sha256)
    stored.path.write_bytes(b"bit rot")
    assert not store.verify(stored.sha256)
    assert not store.verify("0" * 64)
    with pytest.raises(NotFoundError):
        store.read("../../etc/passwd")


def test_served_copy_has_no_exif_or_gps(store):
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif.get_ifd(0x8825).update({1: "N", 2: (43.0, 15.0, 0.0), 3: "E", 4: (76.0, 57.0, 0.0)})
    original = jpeg(6, exif=exif)
    stored = store.put(original)
    assert Image.open(io.BytesIO(store.read(stored.sha256))).getexif()  # original keeps it
    served = store.served_jpeg(stored.sha256, max_pixels=10**8)
    image = Image.open(io.BytesIO(served))
    assert image.format == "JPEG" and not image.getexif() and "exif" not in image.info
    assert store.served_jpeg(stored.sha256, max_pixels=10**8) == served  # cached


def test_a_command_building_the_services_leaves_an_upload_in_flight_alone(tmp_path):
    """assessments refresh and rescore promote build the services while the service may be
    filing an upload; only the service's own start clears every temp file."""
    from serving.app import build_services
    from tests.serving.helpers import make_settings

    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}")
    build_services(settings, service_start=True)  # makes the store's folders
    in_flight = settings.store_dir / "originals" / "ef" / ".incoming-upload"
    in_flight.parent.mkdir(parents=True, exist_ok=True)
    in_flight.write_bytes(b"being written")
    build_services(settings)  # a command
    assert in_flight.exists()
    build_services(settings, service_start=True)
    assert not in_flight.exists()
