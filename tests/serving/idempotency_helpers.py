"""Helpers of the idempotency tests: photos uploaded at once under one key, their answers."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from tests.serving.helpers import Service


def race_uploads(service: Service, monkeypatch: pytest.MonkeyPatch, photos: list[bytes], key: str):
    """Upload `photos` at once with one key; each answer as (status, body), or the exception."""
    store = service.services.store
    real_put = store.put
    barrier = threading.Barrier(len(photos), timeout=60)

    def put(data: bytes) -> Any:
        barrier.wait()  # every request has passed the early replay check by now
        return real_put(data)

    monkeypatch.setattr(store, "put", put)
    answers: list[Any] = [None] * len(photos)

    def go(i: int) -> None:
        try:
            response = service.upload("F1", photos[i], headers={"Idempotency-Key": key})
            answers[i] = (response.status_code, response.json())
        except Exception as exc:  # the app's own exception, re-raised by TestClient
            answers[i] = exc

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(photos))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    monkeypatch.setattr(store, "put", real_put)
    return answers
