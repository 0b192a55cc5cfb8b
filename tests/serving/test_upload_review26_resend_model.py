"""A photo the family already has, sent again (a phone resending after a lost answer; the
upload page sends no Idempotency-Key), is answered as filed without waiting on the photo model:
200, the filed photo's record, audited once as `photo_upload_duplicate`. It was decoded and
scored first, so while the model was busy or stopped the answer was a 503 saying nothing was
stored, although the photo was filed. On SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import func, select

from serving.db.models import AuditEntry, IdempotencyKey, Photo
from serving.db.session import session_scope
from tests.serving.helpers import Service, hung_model, jpeg
from tests.serving.upload_helpers import stop_scoring
from tests.vision.batcher_helpers import BOUND_S


def _audited(service: Service, action: str) -> list[AuditEntry]:
    with session_scope(service.services.sessions) as session:
        rows = session.execute(
            select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)
        )
        return list(rows.scalars())


def _count(service: Service, model: Any) -> int:
    with session_scope(service.services.sessions) as session:
        return int(session.execute(select(func.count()).select_from(model)).scalar_one())


def _filed_as_before(service: Service, first: Any, again: Any, *, who: str = "inspector") -> None:
    """`again` is the duplicate of `first`'s photo: its record, audited once, nothing new."""
    assert again.status_code == 200, again.text
    assert again.json() == {**first.json(), "duplicate": True}
    (entry,) = _audited(service, "photo_upload_duplicate")
    assert (entry.actor, entry.target) == (who, f"photo:{first.json()['photo_id']}")
    assert entry.details["sha256"] == first.json()["sha256"]
    assert _count(service, Photo) == len(_audited(service, "photo_uploaded"))


def test_a_photo_sent_again_once_scoring_has_stopped_is_answered_as_filed(
    make_service,
    model_dir,
    monkeypatch,
):
    service = make_service(model_dir=model_dir)
    service.create_family("F1")
    photo = jpeg(21)
    first = service.upload("F1", photo)
    assert first.status_code == 201 and first.json()["score_status"] == "scored", first.text
    stop_scoring(service, monkeypatch)

    again = service.upload("F1", photo)
    _filed_as_before(service, first, again)
    assert _count(service, Photo) == 1


def test_a_photo_sent_again_under_a_key_once_scoring_has_stopped_is_filed_once_for_the_key(
    make_service,
    model_dir,
    monkeypatch,
):
    service = make_service(model_dir=model_dir)
    service.create_family("F1")
    photo = jpeg(23)
    first = service.upload("F1", photo, headers={"Idempotency-Key": "first"})
    assert first.status_code == 201, first.text
    stop_scoring(service, monkeypatch)

    key = {"Idempotency-Key": "sent-again"}
    again = service.upload("F1", photo, headers=key)
    _filed_as_before(service, first, again)
    retried = service.upload("F1", photo, headers=key)  # the key's stored answer, no new entry
    assert (retried.status_code, retried.json()) == (200, again.json())
    _filed_as_before(service, first, retried)
    assert _count(service, IdempotencyKey) == 2


def test_a_photo_sent_again_while_the_model_is_busy_is_answered_as_filed_at_once(
    make_service,
    model_dir,
    monkeypatch,
):
    service = make_service(
        model_dir=model_dir,
        batching={"max_batch": 1, "max_wait_ms": 0, "max_queued": 1, "score_timeout_s": 30},
    )
    service.create_family("F1")
    photo = jpeg(31)
    first = service.upload("F1", photo)
    assert first.status_code == 201, first.text

    pipeline = service.services.pipeline
    to_item, queued = pipeline._score_item, threading.Event()

    def item_then_queued(analysis: Any) -> Any:
        try:
            return to_item(analysis)
        finally:
            queued.set()  # submitted in the same step of the event loop

    answers: dict[int, Any] = {}

    def upload(seed: int) -> None:
        answers[seed] = service.upload("F1", jpeg(seed))

    threads = [threading.Thread(target=upload, args=(seed,)) for seed in (32, 33)]
    try:
        with hung_model(service, monkeypatch) as model:
            threads[0].start()
            assert model.started.wait(BOUND_S)  # in the model
            monkeypatch.setattr(pipeline, "_score_item", item_then_queued)
            threads[1].start()
            assert queued.wait(BOUND_S)  # waiting for it: the queue is full
            busy = service.upload("F1", jpeg(34))
            assert busy.status_code == 503 and "busy" in busy.json()["message"], busy.text
            again = service.upload("F1", photo)
            assert not model.release.is_set()  # answered while the model still had not
    finally:
        for thread in threads:
            thread.join(BOUND_S)
    _filed_as_before(service, first, again)
    assert [answers[seed].status_code for seed in (32, 33)] == [201, 201]


def test_a_first_upload_and_its_resend_at_once_end_as_one_photo_and_one_duplicate(
    service, monkeypatch
):
    """Both pass the check for a filed photo before either files it (a barrier in front of
    the store): the later one to file still ends as the duplicate, not a second row or a
    500, and is audited as one."""
    service.create_family("F1")
    photo = jpeg(41, size=(1200, 900))
    store = service.services.store
    real_put, barrier = store.put, threading.Barrier(2, timeout=60)

    def put(data: bytes) -> Any:
        barrier.wait()  # both requests found nothing filed by now
        return real_put(data)

    monkeypatch.setattr(store, "put", put)
    answers: list[Any] = [None, None]

    def go(i: int) -> None:
        try:
            answers[i] = service.upload("F1", photo)
        except Exception as exc:  # the app's own exception, re-raised by TestClient
            answers[i] = exc

    threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(isinstance(a, Exception) for a in answers), answers
    first, again = sorted(answers, key=lambda a: a.status_code, reverse=True)
    assert (first.status_code, first.json()["duplicate"]) == (201, False), first.text
    _filed_as_before(service, first, again)
    assert _count(service, Photo) == 1


def test_a_photo_sent_again_puts_back_an_original_the_store_lost(service):
    """As an upload of the same bytes always did: the row's original is whole again."""
    service.create_family("F1")
    photo = jpeg(51)
    first = service.upload("F1", photo)
    stored = service.services.store.path_for(first.json()["sha256"])
    stored.unlink()
    again = service.upload("F1", photo)
    _filed_as_before(service, first, again)
    assert stored.read_bytes() == photo
