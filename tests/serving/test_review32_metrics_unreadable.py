"""/metrics counts the stored photo files the reuse check could not read.

A missing or damaged original was reported only as a log line, once per file (the reuse
index's warning), so an operator learnt of store damage from the logs or a `rescore` run. The
gauge says how many such files the reuse check knows of now: back to 0 once a restored file
has been read again.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.serving.helpers import jpeg

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

GAUGE = "shanyraq_reuse_unreadable_photos"


def _gauge(service: Any) -> str:
    answer = service.client.get("/metrics")
    assert answer.status_code == 200, answer.text
    return next(line for line in answer.text.splitlines() if line.startswith(f"{GAUGE} "))


def _reuse_checked(service: Any, photo_id: int) -> dict[str, Any]:
    """A commission member views the photo: its reuse is checked again (on stored pixels)."""
    answer = service.client.get(f"/photos/{photo_id}", headers=service.headers("commission"))
    assert answer.status_code == 200, answer.text
    return dict(answer.json()["reuse"])


def test_an_unreadable_stored_photo_is_counted_until_it_is_restored_and_read(service):
    service.create_family("F1")
    service.create_family("F2")
    original = jpeg(31, size=(800, 600))
    first = service.upload("F1", original)
    assert first.status_code == 201, first.text
    assert _gauge(service) == f"{GAUGE} 0.0"
    stored = service.services.store.path_for(first.json()["sha256"])
    stored.write_bytes(original[:300])  # damaged on disk: cut short
    # F2 files a re-encoded copy: the check reads F1's stored pixels, and cannot.
    copy = service.upload("F2", jpeg(31, size=(800, 600), subsampling=0))
    assert copy.status_code == 201, copy.text
    assert _gauge(service) == f"{GAUGE} 1.0"
    _reuse_checked(service, copy.json()["photo_id"])  # checked again, still unreadable
    assert _gauge(service) == f"{GAUGE} 1.0"  # one file, however often it is checked
    stored.write_bytes(original)  # restored from a backup
    assert _gauge(service) == f"{GAUGE} 1.0"  # not read since: the check does not know yet
    reuse = _reuse_checked(service, copy.json()["photo_id"])
    assert [d["photo_id"] for d in reuse["details"]] == [first.json()["photo_id"]]
    assert _gauge(service) == f"{GAUGE} 0.0"


def test_the_gauge_reads_0_without_a_reuse_index(service, monkeypatch):
    monkeypatch.setattr(service.services, "reuse", None)
    assert _gauge(service) == f"{GAUGE} 0.0"
