"""The family list flags each family's photos once, its stale check included.

An assessment made before repeats were recorded is checked for them on each read
(assessment_repeats.repeated_now): where two of the family's photos are near, its photos are
flagged (photo_evidence.family_flags, each verified against the reuse index). The list flags
every row's photos already (family_view._flags); for such an assessment it flagged them a
second time for the stale check. It now hands the check the flags it has.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from sqlalchemy import select

from serving import assessment_repeats, photo_evidence
from serving.api.deps import CurrentUser
from serving.db.models import User
from serving.db.session import session_scope
from serving.web import family_view
from serving.web.family_view import FamilyRow, family_rows
from tests.serving.helpers import Service
from tests.serving.repeat_helpers import record_repeats


@pytest.fixture
def flagged(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """The calls of photo_evidence.family_flags by the list and by the stale check, per family
    id: each module's name wrapped by one that counts and calls it."""
    calls: Counter[str] = Counter()
    flags = photo_evidence.family_flags

    def counted(services: Any, family: Any, *args: Any, **kwargs: Any) -> Any:
        calls[family.id] += 1
        return flags(services, family, *args, **kwargs)

    for module in (family_view, assessment_repeats):
        monkeypatch.setattr(module, "family_flags", counted)
    return calls


def _listed(service: Service) -> list[FamilyRow]:
    with session_scope(service.services.sessions) as session:
        user = session.execute(select(User).where(User.username == "commission")).scalar_one()
        viewer = CurrentUser(id=user.id, username=user.username, role=user.role, region=user.region)
        return family_rows(session, service.services, viewer).rows


def test_an_old_assessment_of_a_family_with_a_repeat_is_flagged_once(with_repeat, flagged):
    service, _, made = with_repeat
    record_repeats(service, made["assessment_id"], None)  # made before repeats were recorded

    rows = _listed(service)
    assert [(r.family_id, r.stale_reason) for r in rows] == [("F1", "repeats")]
    assert rows[0].flags == family_view.Flags(reused=False, missing_photos=False, quality_issues=0)
    assert flagged == {"F1": 1}
