"""`rescore promote`, review 26: what its final transaction reads and the commit of its entry
are one step for uploads and for another promotion (PostgreSQL).

A promotion checks again, in the transaction of its audit entry, that every photo carries a
score of the promoted model, so that photos a service not restarted onto it uploaded meanwhile
stop it unfinished. On PostgreSQL that check read the photos committed when it ran: an upload
committing after it, before the entry, was filed before the promotion's entry in the audit
chain, without a score of the model, and the promotion reported success. Likewise a second
promotion of the same scores, finding nothing left to adopt, read the entry before the first
one's and wrote a second success entry. The promotion now holds the audit chain's head while
it reads, as every upload does to audit itself: an upload either committed before the check,
which sees it, or is filed after the entry, and a second promotion reads the first one's entry.
(Two promotions at once never failed with an IntegrityError: they serialise on the family and
head locks, and a photo the other one adopted is skipped.)"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from serving.db.models import AuditEntry, Photo
from serving.promote import promote
from serving.rescore import rescore
from serving.rescore_coverage import RescoreScopePartialError
from tests.serving.helpers import jpeg, waiting_on_a_lock
from tests.serving.rescore_fixtures import cpu_scorer, file_and_assess
from vision.artifact import read_artifact


def _is_coverage_check(statement: str) -> bool:
    """The statement of serving.promote's coverage check (count and first upload day)."""
    return "count(photos.id)" in statement and "min(photos.created_at)" in statement


def test_an_upload_between_the_final_coverage_check_and_the_entry_is_filed_after_it(
    make_service: Any, models: tuple[Path, Path]
) -> None:
    old, new = models
    service = make_service(model_dir=old)  # serving.yaml names the new model; not restarted
    services = service.services
    if services.db_engine.dialect.name != "postgresql":
        pytest.skip("SQLite: the final transaction holds the write lock from its BEGIN IMMEDIATE")
    version = read_artifact(new).model_version
    file_and_assess(service, ("F1", "F2"))  # photos 1-4, scored by the old model
    assert rescore(services.db_engine, services.store, cpu_scorer(new), progress=False).complete

    promoting = threading.get_ident()
    armed: list[bool] = []  # set once every batch is adopted: the next check is the final one
    uploaded: list[int] = []
    filed_within: list[bool] = []  # whether the upload committed before the check's commit

    def upload() -> None:
        uploaded.append(service.upload("F1", jpeg(99)).status_code)

    def after_execute(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if threading.get_ident() != promoting or not armed or not _is_coverage_check(statement):
            return
        armed.clear()
        thread = threading.Thread(target=upload)
        thread.start()
        for _ in range(500):  # until it is filed or waits on a lock (bounded: 10 s)
            if not thread.is_alive() or waiting_on_a_lock(service):
                break
            thread.join(timeout=0.02)
        filed_within.append(not thread.is_alive())
        threads.append(thread)

    threads: list[threading.Thread] = []
    event.listen(services.db_engine, "after_cursor_execute", after_execute)
    try:
        report = promote(
            services.sessions, services.signing_key, model_dir=new, serving_model_dir=new,
            actor="cli", batch_size=10, on_batch=lambda _done: armed.append(True),
        )  # fmt: skip
    except RescoreScopePartialError:  # refused: as good, the upload seen before the entry
        report = None
    finally:
        event.remove(services.db_engine, "after_cursor_execute", after_execute)
        for thread in threads:
            thread.join(timeout=60)
    assert uploaded == [201] and len(filed_within) == 1

    with services.sessions() as session:
        entries = session.execute(
            select(AuditEntry.seq, AuditEntry.action, AuditEntry.target)
            .where(AuditEntry.action.in_(("photo_uploaded", "scores_promoted")))
            .order_by(AuditEntry.seq)
        ).all()
        on_model = dict(session.execute(select(Photo.id, Photo.model_version)).all())
    promoted_at = [seq for seq, action, _ in entries if action == "scores_promoted"]
    if report is None:
        assert not promoted_at  # refused: no success entry
        return
    # A success: every photo filed before its entry carries the promoted model's score.
    [at] = promoted_at
    filed_before = [
        int(target.removeprefix("photo:"))
        for seq, action, target in entries
        if action == "photo_uploaded" and seq < at
    ]
    assert len(filed_before) == 4, f"the late upload was filed before the promotion: {entries}"
    assert {on_model[photo_id] for photo_id in filed_before} == {version}
    assert filed_within == [False]


def test_a_promotion_beside_another_that_adopted_everything_writes_no_second_entry(
    make_service: Any, models: tuple[Path, Path]
) -> None:
    old, new = models
    service = make_service(model_dir=old)
    services = service.services
    if services.db_engine.dialect.name != "postgresql":
        pytest.skip("SQLite: the final transaction holds the write lock from its BEGIN IMMEDIATE")
    file_and_assess(service, ("F1", "F2"))
    assert rescore(services.db_engine, services.store, cpu_scorer(new), progress=False).complete

    def _promote(actor: str) -> Any:
        return promote(
            services.sessions, services.signing_key, model_dir=new, serving_model_dir=new,
            actor=actor,
        )  # fmt: skip

    first = threading.get_ident()
    second: list[Any] = []
    threads: list[threading.Thread] = []

    def after_execute(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        # The first promotion's entry is written, not committed: the second one runs whole.
        if threading.get_ident() != first or threads or "INSERT INTO audit_log" not in (statement):
            return

        def run_second() -> None:
            try:
                second.append(_promote("second"))
            except Exception as exc:  # the assertion below names it
                second.append(exc)

        thread = threading.Thread(target=run_second)
        threads.append(thread)
        thread.start()
        for _ in range(500):  # until it is done or waits on a lock (bounded: 10 s)
            if not thread.is_alive() or waiting_on_a_lock(service):
                break
            thread.join(timeout=0.02)

    event.listen(services.db_engine, "after_cursor_execute", after_execute)
    try:
        report = _promote("first")
    finally:
        event.remove(services.db_engine, "after_cursor_execute", after_execute)
        for thread in threads:
            thread.join(timeout=60)
    assert report.updated == 4 and report.audited
    [beside] = second
    assert beside.updated == 0 and not beside.audited
    with services.sessions() as session:
        actors = session.execute(
            select(AuditEntry.actor).where(AuditEntry.action == "scores_promoted")
        ).all()
    assert [actor for (actor,) in actors] == ["first"]
