"""Reading one assessment version, the list of versions, and `assessments refresh` verify
stored photos holding no transaction.

GET /assessments/{id} and GET /families/{id}/assessments said why the assessment is stale
(`why_stale`) in a transaction of the request's write session: for an assessment made before
repeats were recorded, whose family has two near photos, that verifies the photos against the
reuse index (reading, decoding, comparing stored photos) while SQLite's write lock is held
(BEGIN IMMEDIATE, serving.db.session), or a PostgreSQL connection sits in a transaction.
`assessments refresh` checked each stale family again, and flagged its photos to recompute
it, under the family's lock in its write transaction. Each now verifies once its reads are
committed; only the new version is written under the lock, on the flags found before it.

Every call of the reuse index's `verified` checks, as it begins, that another writer can take
SQLite's write lock or that no connection of the service sits in a transaction on PostgreSQL
(test_review29_page_lock); the reads must still answer as before and be audited once each.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from serving.photo_evidence import REPEATED_KEY
from tests.serving.helpers import Service, started
from tests.serving.page_lock_helpers import (
    Watched,
    assert_verified_unheld,
    audited_entries,
    held_by_service,
)
from tests.serving.repeat_helpers import (
    latest_version,
    record_repeats,
    refresh_all,
)
from tests.web.heatmap_model_helpers import (
    SIGNS,
    commission_browser,
    copy_model_over,
    uploaded_photo_id,
)
from vision import explain


def _watched(service: Service, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Watched:
    reuse = service.services.reuse
    assert reuse is not None
    watch = Watched(service, database_url, reuse.verified)
    monkeypatch.setattr(reuse, "verified", watch)
    return watch


@pytest.fixture
def read_unheld(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Callable[[Service, str], Any]:
    """GET a path of the service as the commission, the reuse index's verifications watched
    from then on: the answer's JSON, once its status is 200 and no verification it made held a
    transaction."""

    def read(service: Service, path: str) -> Any:
        watch = _watched(service, database_url, monkeypatch)
        answer = service.client.get(path, headers=service.headers("commission"))
        assert answer.status_code == 200, answer.text
        assert_verified_unheld(watch, service)
        return answer.json()

    return read


def test_one_version_is_read_holding_no_transaction(
    look_alikes: tuple[Service, dict[str, Any]], read_unheld: Callable[[Service, str], Any]
) -> None:
    service, made = look_alikes
    read = read_unheld(service, f"/assessments/{made['assessment_id']}")
    assert read["stale_reason"] is None
    assert read["version"] == made["version"]
    target = f"assessment:{made['assessment_id']}"
    assert len(audited_entries(service, "assessment_viewed", target)) == 1


def test_the_versions_are_listed_holding_no_transaction(
    look_alikes: tuple[Service, dict[str, Any]], read_unheld: Callable[[Service, str], Any]
) -> None:
    service, made = look_alikes
    newer = service.assess("F1")  # the first is out of date now; the newest, current, is
    record_repeats(service, newer["assessment_id"], None)  # checked for repeats on reading
    listed = read_unheld(service, "/families/F1/assessments")
    assert [(v["version"], v["stale_reason"]) for v in listed] == [
        (made["version"] + 1, None),
        (made["version"], "newer_assessment"),
    ]
    assert audited_entries(service, "assessments_listed", "family:F1") == [{"count": 2}]


def test_a_refresh_verifies_photos_holding_no_transaction(
    with_repeat: tuple[Service, int, dict[str, Any]],
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service, copy, made = with_repeat
    record_repeats(service, made["assessment_id"], None)  # stale: it counted the copy twice
    watch = _watched(service, database_url, monkeypatch)
    report = refresh_all(service)
    assert report.refreshed == {"repeats": 1} and not report.failed
    assert_verified_unheld(watch, service)
    now = latest_version(service, "F1")
    assert now.version == made["version"] + 1  # recomputed once, counting the copy once
    assert now.model_versions[REPEATED_KEY] == str(copy)
    assert len(audited_entries(service, "assessment_created", f"assessment:{now.id}")) == 1


@pytest.fixture
def explaining(tmp_path: Path, database_url: str, heatmap_model_dir: Path) -> Iterator[Service]:
    """The service scoring with, and explaining by, the model in `heatmap_model_dir`."""
    with started(tmp_path, database_url, model_dir=heatmap_model_dir) as service:
        yield service


def test_a_heat_map_hashes_model_pt_holding_no_transaction(
    explaining: Service,
    database_url: str,
    heatmap_model_dir: Path,
    heatmap_models: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """model.pt copied over since start, before the first heat map: the heat map's check hashes
    it (vision.explain.model_pt_changed) and refuses the heat map."""
    photo_id = uploaded_photo_id(explaining)
    copy_model_over(heatmap_models[1], heatmap_model_dir)
    held: list[str | None] = []
    digest = explain._digest

    def watched(path: Path) -> str:
        held.append(held_by_service(explaining, database_url))
        return digest(path)

    monkeypatch.setattr(explain, "_digest", watched)
    refused = commission_browser(explaining).get(f"/ui/photos/{photo_id}/heatmap/{SIGNS[0]}")
    assert refused.status_code == 503, refused.text[:300]
    assert held == [None], f"model.pt was hashed while the database was held: {held}"
