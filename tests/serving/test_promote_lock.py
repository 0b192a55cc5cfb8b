"""Promotion locks each batch's families, as uploads and decisions do (PostgreSQL).

What this proves: a promotion batch waits for a family row lock held by another transaction,
so a decision recorded meanwhile (which holds that lock) cannot miss the new scores.
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select, text

from serving.db.models import Family, Photo
from serving.promote import _apply
from tests.serving.helpers import jpeg


def test_a_promotion_batch_waits_for_the_family_lock(service):
    if service.services.db_engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises write transactions already (BEGIN IMMEDIATE)")
    service.create_family("F1")
    assert service.upload("F1", jpeg(3)).status_code == 201
    services = service.services
    with services.sessions() as session:
        photo = session.execute(select(Photo)).scalar_one()
        page = [(photo.id, "F1", photo.score, photo.score)]
    done: list[int] = []
    with services.sessions() as holder:
        # FOR NO KEY UPDATE: what a decision's lock_family holds while it checks staleness
        # (any photo update would not wait for it by itself).
        holder.execute(select(Family).where(Family.id == "F1").with_for_update(key_share=True))
        thread = threading.Thread(target=lambda: done.append(_apply(services.sessions, page, "M")))
        thread.start()
        waiting = 0
        for _ in range(200):  # until the batch waits on the lock (bounded: 4 s)
            with services.db_engine.connect() as connection:
                waiting = connection.execute(
                    text("SELECT count(*) FROM pg_locks WHERE NOT granted")
                ).scalar_one()
            if waiting or not thread.is_alive():
                break
            thread.join(timeout=0.02)
        assert waiting and not done, "the promotion batch did not wait for the family lock"
        holder.rollback()
    thread.join(timeout=30)
    assert done == [1]
