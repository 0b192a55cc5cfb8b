"""A hung model call does not hang the uploads behind it: an upload the model has not scored
within `batching.score_timeout_s` is refused with 503, nothing stored, and uploads work again
once the model answers."""

from __future__ import annotations

import pytest

from tests.serving.helpers import hung_model, jpeg


@pytest.mark.parametrize("batched", [True, False], ids=["micro-batcher", "one call each"])
def test_an_upload_the_model_does_not_score_in_time_is_refused_and_nothing_is_stored(
    make_service,
    model_dir,
    monkeypatch,
    batched,
):
    service = make_service(
        model_dir=model_dir,
        batching={"enabled": batched, "max_batch": 4, "max_wait_ms": 1, "score_timeout_s": 0.5},
    )
    service.create_family("F1")
    with hung_model(service, monkeypatch) as model:
        refused = service.upload("F1", jpeg(1))
    # The hung call has ended; its result goes to nobody.
    assert refused.status_code == 503, refused.text
    error = refused.json()
    assert error["code"] == "unavailable" and "did not answer within 0.5 s" in error["message"]
    listed = service.client.get("/families/F1/photos", headers=service.headers("inspector"))
    assert listed.status_code == 200 and listed.json() == []
    store = service.services.settings.store_dir
    assert not [p for p in store.rglob("*") if p.is_file()]  # no photo file either

    monkeypatch.setattr(service.services.pipeline.engine, "score_inputs", model.answer)
    again = service.upload("F1", jpeg(1))
    assert again.status_code == 201, again.text
    assert again.json()["score_status"] == "scored"


def test_uploads_refused_while_the_model_hung_are_not_scored_for_nobody_after(
    make_service,
    model_dir,
    monkeypatch,
):
    # The pipeline shielded each request from its caller's timeout: every upload refused with
    # 503 while the model hung stayed queued (its model input in memory) and was scored once
    # the model answered, for nobody, ahead of new uploads.
    service = make_service(
        model_dir=model_dir,
        batching={"enabled": True, "max_batch": 4, "max_wait_ms": 1, "score_timeout_s": 0.5},
    )
    service.create_family("F1")
    engine = service.services.pipeline.engine
    answer = engine.score_inputs
    scored_after: list[int] = []

    def recorded(inputs, *args, **kwargs):
        scored_after.append(len(inputs))
        return answer(inputs, *args, **kwargs)

    with hung_model(service, monkeypatch):
        assert service.upload("F1", jpeg(1)).status_code == 503  # its batch hangs
        assert service.upload("F1", jpeg(2)).status_code == 503  # queued behind it
        monkeypatch.setattr(engine, "score_inputs", recorded)
    fresh = service.upload("F1", jpeg(3))
    assert fresh.status_code == 201, fresh.text
    assert scored_after == [1]  # the fresh upload alone: the refused one left with its caller
