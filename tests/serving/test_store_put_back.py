"""Putting back a set-aside original never replaces a copy an upload wrote in the meantime."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from serving.storage import PhotoStore


def test_an_upload_landing_during_put_back_keeps_its_copy(tmp_path, monkeypatch):
    store = PhotoStore(tmp_path / "photos")
    store.prepare()
    stored = store.put(b"the same bytes")
    path = store.path_for(stored.sha256)
    os.utime(path, (1_000_000, 1_000_000))  # an old, unreferenced original
    moved = store.set_aside(stored.sha256)
    assert moved is not None and not path.exists()
    real_exists, real_link, landed = Path.exists, os.link, []

    def upload_lands() -> None:  # once, between put_back's look and its move
        if not landed:
            landed.append(store.put(b"the same bytes"))  # written again, with the time of now

    def looked(self: Path) -> bool:
        answer = real_exists(self)
        if self == path and not answer:
            upload_lands()
        return answer

    def linked(source: Path, target: Path) -> None:
        upload_lands()
        real_link(source, target)

    monkeypatch.setattr(Path, "exists", looked)
    monkeypatch.setattr(os, "link", linked)
    store.put_back(moved, stored.sha256)
    monkeypatch.undo()
    assert landed
    assert path.read_bytes() == b"the same bytes"
    assert path.stat().st_mtime > 1_000_000  # the upload's copy and time, not the old file's
    assert not moved.exists()


def test_put_back_restores_the_original_and_its_time(tmp_path):
    store = PhotoStore(tmp_path / "photos")
    store.prepare()
    stored = store.put(b"bytes")
    path = store.path_for(stored.sha256)
    os.utime(path, (1_000_000, 1_000_000))
    moved = store.set_aside(stored.sha256)
    assert moved is not None
    store.put_back(moved, stored.sha256)
    assert path.stat().st_mtime == pytest.approx(1_000_000)
    assert not moved.exists()
    store.put_back(moved, stored.sha256)  # put back by another process first: nothing to do
    assert path.read_bytes() == b"bytes"
