"""Objects a session holds across calls: audit appends chain to the head as locked, and
`stale_assessments` lets go only of what it loaded itself."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from serving import audit
from serving.assessments import fusion_version
from serving.db.models import AuditHead, Family, User
from serving.db.session import make_engine, make_session_factory, session_scope
from serving.migrations import upgrade
from serving.reassessment import stale_assessments

KEY = b"review22-audit-key"


def test_append_chains_to_the_locked_head_not_one_the_session_still_holds(database_url):
    """Sessions keep their objects past a commit (expire_on_commit=False): a head read in an
    earlier transaction of the same session is behind once another session appended."""
    upgrade(database_url)
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    try:
        holder = sessions()
        seen = holder.execute(select(AuditHead)).scalar_one()  # held across the commit
        holder.commit()
        with session_scope(sessions) as other:
            first = audit.append(other, KEY, actor="other", action="first")
            first_seq, first_hash = first.seq, first.hash
        second = audit.append(holder, KEY, actor="holder", action="second")
        holder.commit()
        assert (second.seq, second.prev_hash) == (first_seq + 1, first_hash)
        assert (seen.seq, seen.hash) == (second.seq, second.hash)
        holder.close()
        with session_scope(sessions) as session:
            result = audit.verify(session, KEY)
        assert result.ok and result.entries == 2, result.problems
    finally:
        engine.dispose()


def test_stale_assessments_leaves_the_callers_objects_in_its_session(service):
    """A caller's objects stay attached through the call, one the call reads too: a change
    made to one afterwards is committed."""
    for family_id in ("F1", "F2", "F3"):
        service.create_family(family_id)
        response = service.client.post(
            f"/families/{family_id}/assessments", headers=service.headers("inspector")
        )
        assert response.status_code in (200, 201), response.text
    services = service.services
    with session_scope(services.sessions) as session:
        user = session.execute(select(User).where(User.username == "annotator")).scalar_one()
        family = session.get(Family, "F2")
        assert family is not None
        found: list[Any] = stale_assessments(session, fusion=fusion_version(services), batch_size=1)
        assert found == []
        assert user in session and family in session
        user.active = False  # lost if `user` had been detached
    with session_scope(services.sessions) as session:
        stored = session.execute(select(User).where(User.username == "annotator")).scalar_one()
        assert stored.active is False
