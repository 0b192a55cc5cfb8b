"""Readers of a stale assessment at the same moment: one recomputes it, the others get that one.

On PostgreSQL each request's transaction sees only what was committed when its statement
began, so without the family's lock two readers both made version N+1 and one failed on the
unique (family, version) key with a 500.
"""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from serving.db.models import Assessment, Family
from serving.db.session import session_scope

FAMILIES = 4
READERS = 3  # requests at once per family: the API read and the family page, mixed


def _make_stale(service, family_id: str) -> None:
    """As an edit of the record does: the latest assessment no longer rests on it."""
    with session_scope(service.services.sessions) as session:
        family = session.get(Family, family_id)
        assert family is not None
        family.version += 1


def _read_at_once(service, family_id: str) -> list[tuple[int, str]]:
    headers = service.headers("commission")
    paths = [f"/families/{family_id}/assessments/latest", f"/ui/families/{family_id}"]
    barrier = threading.Barrier(READERS)
    answers: list[tuple[int, str]] = []

    def read(path: str) -> None:
        barrier.wait(timeout=30)
        response = service.client.get(path, headers=headers)
        answers.append((response.status_code, response.text[:300]))

    threads = [threading.Thread(target=read, args=(paths[i % len(paths)],)) for i in range(READERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return answers


def test_concurrent_readers_of_a_stale_assessment_make_one_new_version(make_service):
    from fastapi.testclient import TestClient

    service = make_service()
    # Server errors come back as answers (a 500), not as exceptions in the reading threads.
    service.client = TestClient(
        service.app, base_url="http://127.0.0.1", raise_server_exceptions=False
    )
    for i in range(FAMILIES):
        family_id = f"RACE{i}"
        service.create_family(family_id)
        made = service.client.post(
            f"/families/{family_id}/assessments", headers=service.headers("inspector")
        )
        assert made.status_code == 201, made.text
        _make_stale(service, family_id)
        answers = _read_at_once(service, family_id)
        assert [code for code, _ in answers] == [200] * READERS, answers
    with session_scope(service.services.sessions) as session:
        versions = dict(
            session.execute(
                select(Assessment.family_id, func.max(Assessment.version)).group_by(
                    Assessment.family_id
                )
            ).all()
        )
    assert versions == {f"RACE{i}": 2 for i in range(FAMILIES)}  # one recomputation each
