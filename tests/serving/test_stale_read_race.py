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


def _at_once(service, role: str, calls: list[tuple[str, str]]) -> list[tuple[int, str]]:
    """Each (method, path) in its own thread, released together; (status, text) answers."""
    headers = service.headers(role)
    barrier = threading.Barrier(len(calls))
    answers: list[tuple[int, str]] = []

    def call(method: str, path: str) -> None:
        barrier.wait(timeout=30)
        response = service.client.request(method, path, headers=headers)
        answers.append((response.status_code, response.text[:300]))

    threads = [threading.Thread(target=call, args=c) for c in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return answers


def _read_at_once(service, family_id: str) -> list[tuple[int, str]]:
    paths = [f"/families/{family_id}/assessments/latest", f"/ui/families/{family_id}"]
    return _at_once(service, "commission", [("GET", paths[i % len(paths)]) for i in range(READERS)])


def _answering_errors(make_service):
    """A started service whose server errors come back as answers (a 500), not as exceptions
    in the requesting threads."""
    from fastapi.testclient import TestClient

    service = make_service()
    service.client = TestClient(
        service.app, base_url="http://127.0.0.1", raise_server_exceptions=False
    )
    return service


def test_concurrent_readers_of_a_stale_assessment_make_one_new_version(make_service):
    service = _answering_errors(make_service)
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


def test_concurrent_on_demand_assessments_each_get_their_own_version(make_service):
    """POST /families/{id}/assessments at once: each request a new version, none a 500."""
    service = _answering_errors(make_service)
    for i in range(FAMILIES):
        family_id = f"MAKE{i}"
        service.create_family(family_id)
        calls = [("POST", f"/families/{family_id}/assessments")] * READERS
        answers = _at_once(service, "inspector", calls)
        assert [code for code, _ in answers] == [201] * READERS, answers
        with session_scope(service.services.sessions) as session:
            made = session.execute(
                select(Assessment.version).where(Assessment.family_id == family_id)
            ).scalars()
            assert sorted(made) == list(range(1, READERS + 1))
