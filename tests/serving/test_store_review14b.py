"""Photo store sweep and reads (review 14b): the sweep on PostgreSQL as on SQLite (dry run
read-only, --apply audited and anchored, `audit verify` after), bytes filed by two families,
names and links in the store the sweep leaves alone, a grace too large to count in
nanoseconds, and stored bytes that no longer decode: store damage, not a bad upload."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from serving import store_sweep
from serving.audit_cli import app as audit_app
from serving.db.models import AuditEntry
from serving.errors import PhotoUnreadableError
from serving.storage import PhotoStore
from serving.store_sweep_cli import app as store_app
from serving.web import heatmaps
from serving.web.i18n import load_catalogues
from shanyraq.taxonomy import get_taxonomy
from tests.serving.helpers import PASSWORD, Service, jpeg, serving_yaml
from tests.serving.store_read_helpers import file_one_photo
from tests.web.helpers import sign_in

HOUR_NS = 3600 * 10**9
CODE = "photo_store_damaged"


@pytest.fixture
def config(tmp_path: Path, database_url: str) -> Path:
    """serving.yaml for the commands, on the data folder and database of `service` (SQLite
    and PostgreSQL: the conftest's `database_url`)."""
    return serving_yaml(tmp_path / "serving.yaml", tmp_path, database_url, fusion_dir="")


def _age(path: Path, hours: float) -> None:
    then = time.time_ns() - int(hours * HOUR_NS)
    os.utime(path, ns=(then, then), follow_symlinks=False)


def _removals(service: Service) -> list[AuditEntry]:
    with service.services.sessions() as session:
        query = select(AuditEntry).where(AuditEntry.action == store_sweep.AUDIT_ACTION)
        return list(session.execute(query).scalars())


def _sweep(config: Path, *args: str) -> Any:
    return CliRunner().invoke(store_app, ["sweep", *args, "--config", str(config)])


# --- the sweep on both databases ------------------------------------------------------------


def test_the_sweep_on_each_database_lists_read_only_then_removes_audited_and_anchored(
    service, config
):
    store = service.services.store
    service.create_family("F1")
    filed = service.upload("F1", jpeg(31)).json()["sha256"]
    orphan = store.put(jpeg(32)).sha256
    store.served_jpeg(orphan, max_pixels=10**8)
    for sha256 in (filed, orphan):
        _age(store.path_for(sha256), 48)
    _age(store.path_for(orphan, folder=store.served), 48)

    dry = _sweep(config)
    assert dry.exit_code == 0, dry.output
    assert orphan in dry.output and filed not in dry.output
    assert "dry run: nothing was removed" in dry.output
    assert store.path_for(orphan).exists() and _removals(service) == []

    applied = _sweep(config, "--apply")
    assert applied.exit_code == 0, applied.output
    assert "removed 1 (" in applied.output
    assert not store.path_for(orphan).exists()
    assert not store.path_for(orphan, folder=store.served).exists()
    assert store.verify(filed)
    [entry] = _removals(service)
    assert entry.target == f"photo_file:{orphan}"
    anchor = service.services.settings.resolved_audit_anchor_file
    assert anchor.is_file() and anchor.stat().st_size > 0
    verified = CliRunner().invoke(audit_app, ["verify", "--config", str(config)])
    assert verified.exit_code == 0, verified.output


def test_bytes_filed_by_two_families_are_no_orphan_while_either_row_remains(service, config):
    """Rows are per family, the file is one: the sweep asks for any row naming the bytes."""
    store, data = service.services.store, jpeg(33)
    service.create_family("F1")
    service.create_family("F2")
    sha256 = service.upload("F1", data).json()["sha256"]
    assert service.upload("F2", data).status_code == 201
    _age(store.path_for(sha256), 48)
    store.served_jpeg(sha256, max_pixels=10**8)
    _age(store.path_for(sha256, folder=store.served), 48)
    result = _sweep(config, "--apply")
    assert result.exit_code == 0 and "removed 0" in result.output, result.output
    assert store.verify(sha256) and store.path_for(sha256, folder=store.served).exists()


# --- what the sweep leaves alone ------------------------------------------------------------


def _aged_sweep(service: Service, **kwargs: Any) -> store_sweep.SweepReport:
    services = service.services
    return store_sweep.sweep(
        services.store, services.sessions, grace_hours=24, key=services.signing_key, **kwargs
    )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_names_that_are_no_content_hash_and_links_are_never_listed_nor_removed(service, tmp_path):
    store = service.services.store
    sha256 = store.put(jpeg(34)).sha256
    shard = store.path_for(sha256).parent
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(jpeg(35))
    other = "f" * 64
    strays = [
        shard / (sha256.upper()),  # not lower-case hex
        shard / "notes.txt",
        shard / f"{sha256}.bak",
        store.originals / "zz" / ("0" * 64),  # not a shard
        store.originals / other[:2] / other,  # a link to a file outside the store
    ]
    for stray in strays[:-1]:
        stray.parent.mkdir(parents=True, exist_ok=True)
        stray.write_bytes(b"x")
    strays[-1].parent.mkdir(parents=True, exist_ok=True)
    strays[-1].symlink_to(outside)
    store.path_for(sha256).unlink()  # only strays are left
    for stray in strays:
        _age(stray, 48)
    report = _aged_sweep(service)
    assert report.orphans == () and report.removed == ()
    assert all(stray.is_symlink() or stray.is_file() for stray in strays)
    assert outside.read_bytes() == jpeg(35)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("hours", ["1e300", "1e308"])
def test_a_grace_of_more_hours_than_nanoseconds_count_lists_nothing(service, config, hours):
    """Before: 1e308 h is finite, but in nanoseconds it is infinite: OverflowError, a
    traceback instead of an answer."""
    store = service.services.store
    sha256 = store.put(jpeg(36)).sha256
    _age(store.path_for(sha256), 48)
    result = _sweep(config, "--apply", "--older-than", hours)
    assert result.exit_code == 0, result.output
    assert "older than" in result.output and "removed 0" in result.output
    assert store.path_for(sha256).exists()


# --- stored bytes that no longer decode -----------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> PhotoStore:
    photo_store = PhotoStore(tmp_path / "photos")
    photo_store.prepare()
    return photo_store


def _rot(store: PhotoStore, sha256: str, how: str) -> None:
    """Damage the original's bytes in place: emptied, cut short or overwritten."""
    path = store.path_for(sha256)
    data = path.read_bytes()
    damaged = {"empty": b"", "cut": data[: len(data) // 3], "noise": b"\x00" * len(data)}[how]
    path.write_bytes(damaged)


@pytest.mark.parametrize("how", ["empty", "cut", "noise"])
def test_a_browser_copy_of_an_original_that_no_longer_decodes_is_store_damage(store, how):
    """Before: image_empty / image_corrupt (422, 'upload the photo again'), the words for a
    bad upload, on a photo filed long ago whose file the store damaged."""
    sha256 = store.put(jpeg(37)).sha256
    _rot(store, sha256, how)
    with pytest.raises(PhotoUnreadableError) as caught:
        store.served_jpeg(sha256, max_pixels=10**8)
    assert caught.value.code == CODE and caught.value.http_status == 500
    assert f"originals/{sha256[:2]}/{sha256}" in caught.value.message
    assert "restore that file from a backup" in caught.value.message
    assert not store.path_for(sha256, folder=store.served).exists()


def _browser(service: Service) -> TestClient:
    client = TestClient(service.app, base_url="http://127.0.0.1")
    assert sign_in(client, "commission", PASSWORD).status_code == 303
    return client


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("how", ["missing", "noise"])
def test_the_heat_map_of_a_missing_or_damaged_original_is_store_damage(
    make_service, how, monkeypatch, caplog
):
    service = make_service()
    photo_id, sha256 = file_one_photo(service, 38)
    store = service.services.store
    if how == "missing":
        store.path_for(sha256).unlink()
    else:
        _rot(store, sha256, how)
    monkeypatch.setattr(heatmaps, "available", lambda services: True)  # as with model.pt
    monkeypatch.setattr(heatmaps, "explains", lambda services, photo: True)  # scored by it
    sign = get_taxonomy().sign_names[0]
    browser = _browser(service)
    with caplog.at_level(logging.INFO):
        page = browser.get(f"/ui/photos/{photo_id}/heatmap/{sign}?lang=en")
    assert page.status_code == 500 and page.headers["content-type"].startswith("text/html")
    assert load_catalogues()["en"][f"error_reason.{CODE}"] in page.text
    assert "Traceback" not in page.text


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_api_image_of_an_original_that_no_longer_decodes_is_store_damage(make_service):
    service = make_service()
    photo_id, sha256 = file_one_photo(service, 39)
    _rot(service.services.store, sha256, "noise")
    answer = service.client.get(f"/photos/{photo_id}/image", headers=service.headers("commission"))
    assert answer.status_code == 500, answer.text
    assert answer.json()["code"] == CODE
