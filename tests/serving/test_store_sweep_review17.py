"""Photo store sweep (review 17): a database that names no photo at all (the settings point
at another one) is refused before anything is removed; a database lost mid-sweep removes
nothing and puts the file back; files written in the future, temp files of writes in flight
and browser copies of filed photos whose original is missing are left alone."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from typer.testing import CliRunner

from serving import store_sweep
from serving.db.models import AuditEntry
from serving.db.refusals import DatabaseMissingError
from serving.store_sweep_cli import app as store_app
from tests.serving.helpers import Service, jpeg
from tests.serving.sweep_helpers import HOUR_NS, age


def _removals(service: Service) -> list[AuditEntry]:
    with service.services.sessions() as session:
        query = select(AuditEntry).where(AuditEntry.action == store_sweep.AUDIT_ACTION)
        return list(session.execute(query).scalars())


def _sweep(service: Service) -> store_sweep.SweepReport:
    services = service.services
    return store_sweep.sweep(
        services.store, services.sessions, grace_hours=24, key=services.signing_key
    )


def _old_orphan(service: Service, seed: int) -> str:
    store = service.services.store
    sha256 = store.put(jpeg(seed)).sha256
    age(store.path_for(sha256), 48)
    return sha256


# --- a database that is not this store's --------------------------------------------------


def test_a_database_naming_no_photo_is_refused_and_nothing_is_removed(service, config):
    """Before: settings pointing at another (empty) database made every original older than
    the grace an orphan, and --apply removed the whole store, audited in that database."""
    store = service.services.store
    old = [_old_orphan(service, seed) for seed in (41, 42)]
    dry = CliRunner().invoke(store_app, ["sweep", "--config", str(config)])
    assert dry.exit_code == 0 and all(sha256 in dry.output for sha256 in old), dry.output
    applied = CliRunner().invoke(store_app, ["sweep", "--apply", "--config", str(config)])
    assert isinstance(applied.exception, DatabaseMissingError), applied.output
    assert "names no photo" in str(applied.exception)
    assert "database_url" in str(applied.exception)
    assert all(store.verify(sha256) for sha256 in old)
    assert _removals(service) == []
    # Once the database names a photo, it is this store's: the orphans go.
    service.create_family("F1")
    filed = service.upload("F1", jpeg(43)).json()["sha256"]
    report = _sweep(service)
    assert {orphan.sha256 for orphan in report.removed} == set(old)
    assert store.verify(filed) and len(_removals(service)) == 2


# --- a database lost during the sweep -----------------------------------------------------


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("when", ["listing", "re-check"])
def test_a_database_lost_mid_sweep_removes_nothing(service, monkeypatch, when):
    """An error asking the database is raised, never read as 'no row names it'; a file set
    aside for the re-check is put back under its name."""
    service.create_family("F1")
    service.upload("F1", jpeg(44))
    store = service.services.store
    sha256 = _old_orphan(service, 45)
    real = store_sweep._referenced
    calls = {"n": 0}

    def lost(session: Any, sha256s: list[str]) -> set[str]:
        calls["n"] += 1
        if when == "listing" or calls["n"] > 1:
            raise OperationalError("SELECT", {}, Exception("server closed the connection"))
        return real(session, sha256s)

    monkeypatch.setattr(store_sweep, "_referenced", lost)
    with pytest.raises(OperationalError):
        _sweep(service)
    monkeypatch.undo()
    assert store.verify(sha256)
    assert list(store.originals.rglob(".sweeping-*")) == []
    assert _removals(service) == []


# --- what the sweep leaves alone ----------------------------------------------------------


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_files_dated_in_the_future_temp_files_and_copies_of_filed_photos_stay(service):
    """A file whose mtime is ahead of the clock (skew) is no older than the grace; a temp
    file is a write in flight (removed only at start-up); a browser copy whose original is
    missing belongs to a filed photo (store damage, not an orphan)."""
    store = service.services.store
    service.create_family("F1")
    filed = service.upload("F1", jpeg(46)).json()["sha256"]
    store.served_jpeg(filed, max_pixels=10**8)
    store.path_for(filed).unlink()  # damage: the original is gone, the row remains
    copy = store.path_for(filed, folder=store.served)
    age(copy, 48)
    ahead = store.put(jpeg(47)).sha256
    future = time.time_ns() + 48 * HOUR_NS
    os.utime(store.path_for(ahead), ns=(future, future))
    temp = store.path_for(ahead).parent / ".incoming-in-flight"
    temp.write_bytes(jpeg(48))
    age(temp, 48)
    orphan = _old_orphan(service, 49)
    report = _sweep(service)
    assert [found.sha256 for found in report.removed] == [orphan]
    assert copy.is_file() and store.verify(ahead) and temp.is_file()
