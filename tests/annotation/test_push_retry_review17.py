"""`push` is safe to retry (review 17): an import Label Studio stored but answered 5xx for is
not sent again (the SDK's own retries would import it twice), a push cut short and run again
ends with each photo once, and a second push of the same manifest adds nothing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from label_studio_sdk.core import http_client

from annotation import tasks as tasks_module
from annotation.client import LabelStudioError, connect
from annotation.project import init_project
from annotation.tasks import PushReport, push_rows
from shanyraq.manifest import ManifestRow
from tests.annotation.label_studio_helpers import (
    LEGACY,
    PROJECT,
    FakeImporting,
    QuietServer,
    running,
)

from .helpers import make_manifest
from .label_studio_server_helpers import LabelStudioServer

SERVER_ERROR = (500, '{"detail": "A server error occurred."}')


@pytest.fixture
def fake(monkeypatch) -> Iterator[FakeImporting]:
    monkeypatch.setattr(http_client, "INITIAL_RETRY_DELAY_SECONDS", 0.0)  # the SDK's backoff
    monkeypatch.setattr(tasks_module, "IMPORT_RETRY_DELAY_S", 0.0)
    server = FakeImporting()
    with running(server, QuietServer):
        try:
            yield server
        finally:
            if server.import_hang is not None:
                server.import_hang.set()


@dataclass(frozen=True)
class Photos:
    rows: list[ManifestRow]
    manifest_root: Path
    document_root: Path


@pytest.fixture
def photos(tmp_path, fake: FakeImporting) -> Photos:
    document_root = tmp_path / "root"
    manifest = tmp_path / "in" / "manifest.csv"
    rows = make_manifest(document_root / "photos", manifest, 5, prefix="retry")
    fake.served.append(str(document_root / "photos"))  # the storage `init` would have made
    return Photos(rows, manifest.parent, document_root)


# The client's timeout where an import hangs (the fake holds its answer up to 10 s): short, so
# the import times out, yet long enough that the requests before it (listing the project's
# tasks) answer in time on a loaded machine; at 0.5 s a listing timed out first in a full run.
HUNG_TIMEOUT_S = 3.0


def _push(fake: FakeImporting, photos: Photos, taxonomy, *, timeout_s: float = 5) -> PushReport:
    return push_rows(
        connect(fake.url, LEGACY, timeout_s=timeout_s),
        PROJECT,
        photos.rows,
        manifest_root=photos.manifest_root,
        document_root=photos.document_root,
        scores={},
        taxonomy=taxonomy,
        sign_threshold=0.5,
        batch_size=2,
    )


def _each_once(fake: FakeImporting, photos: Photos) -> None:
    assert sorted(fake.sha256s()) == sorted(r.sha256 for r in photos.rows)


def test_an_import_stored_but_answered_500_is_not_imported_twice(fake, photos, taxonomy):
    fake.import_failures = [(500, True)]  # the first batch is saved, then the server fails
    report = _push(fake, photos, taxonomy)
    _each_once(fake, photos)
    assert report.created == 5 and report.skipped_existing == 0
    assert sorted(report.task_ids) == [t["id"] for t in fake.stored]
    assert fake.imports == 3  # one per batch of two: the failed one was not sent again


def test_an_import_answered_500_before_storing_is_sent_again(fake, photos, taxonomy):
    fake.import_failures = [(200, True), (503, False), (502, False)]
    report = _push(fake, photos, taxonomy)
    _each_once(fake, photos)
    assert report.created == 5 and fake.imports == 5
    assert sorted(report.task_ids) == [t["id"] for t in fake.stored]


def test_a_second_push_of_the_same_manifest_adds_nothing(fake, photos, taxonomy):
    fake.import_failures = [(500, True)]
    _push(fake, photos, taxonomy)
    imports = fake.imports
    again = _push(fake, photos, taxonomy)
    assert (again.created, again.skipped_existing, again.task_ids) == (0, 5, ())
    assert fake.imports == imports
    _each_once(fake, photos)


def test_a_push_cut_short_and_run_again_ends_with_each_photo_once(fake, photos, taxonomy):
    # Batch 1 arrives; batch 2 is saved but every answer is an error until the retries run out.
    fake.import_failures = [(200, True), (500, True)] + [(500, False)] * 10
    with pytest.raises(LabelStudioError) as caught:
        _push(fake, photos, taxonomy)
    message = caught.value.message
    assert "500" in message and "run the command again" in message and "\n" not in message
    fake.import_failures = []  # the server is back
    report = _push(fake, photos, taxonomy)
    _each_once(fake, photos)
    assert (report.created, report.skipped_existing) == (1, 4)


def test_an_import_still_running_behind_a_504_is_not_sent_again(fake, photos, taxonomy):
    # A gateway timeout: Label Studio may still be saving the batch, so sending it again could
    # import it twice; push stops and says to run it again (which re-checks first).
    fake.import_failures = [(504, False)]
    with pytest.raises(LabelStudioError) as caught:
        _push(fake, photos, taxonomy)
    assert "504" in caught.value.message and "run the command again" in caught.value.message
    assert fake.imports == 1 and fake.stored == []


def test_an_import_that_arrived_behind_a_504_is_taken_as_done(fake, photos, taxonomy):
    fake.import_failures = [(504, True)]
    report = _push(fake, photos, taxonomy)
    _each_once(fake, photos)
    assert report.created == 5 and fake.imports == 3


def test_an_import_refused_as_invalid_is_not_sent_again(fake, photos, taxonomy):
    fake.import_failures = [(400, False)]
    with pytest.raises(LabelStudioError) as caught:
        _push(fake, photos, taxonomy)
    assert "400" in caught.value.message
    assert fake.imports == 1


def test_an_import_whose_answer_timed_out_after_storing_is_taken_as_done(fake, photos, taxonomy):
    fake.import_hang = hang = threading.Event()
    try:
        report = _push(fake, photos, taxonomy, timeout_s=HUNG_TIMEOUT_S)
    finally:
        hang.set()
    _each_once(fake, photos)
    assert report.created == 5 and fake.imports == 3


def test_an_import_whose_answer_timed_out_unstored_is_not_sent_again(fake, photos, taxonomy):
    # Label Studio may still be saving it: the run stops, and the next one checks first.
    fake.import_failures = [(201, False)]  # hangs, then answers without having stored
    fake.import_hang = hang = threading.Event()
    try:
        with pytest.raises(LabelStudioError) as caught:
            _push(fake, photos, taxonomy, timeout_s=HUNG_TIMEOUT_S)
    finally:
        hang.set()
    assert "ReadTimeout" in caught.value.message and "wait a minute" in caught.value.message
    assert fake.imports == 1


@pytest.mark.integration
@pytest.mark.slow
def test_a_real_import_answered_500_after_storing_is_not_imported_twice(
    label_studio: LabelStudioServer, taxonomy, tmp_path, monkeypatch
):
    """Real Label Studio stores the first import; its answer is turned into a 500 on the way
    back (as a proxy or a failure after the commit would), which the SDK used to retry."""
    monkeypatch.setattr(http_client, "INITIAL_RETRY_DELAY_SECONDS", 0.0)
    monkeypatch.setattr(tasks_module, "IMPORT_RETRY_DELAY_S", 0.0)
    manifest = tmp_path / "in" / "manifest.csv"
    rows = make_manifest(label_studio.photos_dir, manifest, 5, prefix="retry-real")
    conn = connect(label_studio.url, label_studio.legacy_token)
    info = init_project(
        conn,
        title="Push retry",
        taxonomy=taxonomy,
        photos_dir=label_studio.photos_dir,
        document_root=label_studio.document_root,
    )
    failed: list[str] = []

    def fail_first_import(response: httpx.Response) -> None:
        request = response.request
        if request.method == "POST" and "/import" in request.url.path and not failed:
            failed.append(str(request.url))
            response.status_code = 500

    client = conn.sdk._client_wrapper.httpx_client.httpx_client  # the one connect() built
    client.event_hooks["response"].append(fail_first_import)

    def push() -> PushReport:
        return push_rows(
            conn,
            info.id,
            rows,
            manifest_root=manifest.parent,
            document_root=label_studio.document_root,
            scores={},
            taxonomy=taxonomy,
            sign_threshold=0.5,
            batch_size=2,
        )

    report = push()
    assert failed and report.created == 5
    listed: list[Any] = list(conn.sdk.tasks.list(project=info.id, page_size=100))
    assert sorted(t.data["sha256"] for t in listed) == sorted(r.sha256 for r in rows)
    assert sorted(report.task_ids) == sorted(t.id for t in listed)
    assert push().created == 0
