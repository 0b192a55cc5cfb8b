"""The reassessment after `rescore promote` (review 19): a family it cannot recompute (its
record no longer validates) keeps its stale assessment and is named with its error, and the
families after it are recomputed, as `assessments refresh` does; before, the run stopped at
that family, and every run after it stopped there again."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import select

from serving import audit
from serving.db.models import Assessment, AuditEntry, Family
from serving.db.session import session_scope
from serving.reassessment import reassess, resolve_actor
from tests.serving.helpers import Service
from tests.serving.promote_helpers import model_version_of


def _versions(service: Service) -> list[tuple[str, int]]:
    with service.services.sessions() as session:
        rows = session.execute(
            select(Assessment.family_id, Assessment.version).order_by(
                Assessment.family_id, Assessment.version
            )
        )
        return [(f, v) for f, v in rows]


def test_a_family_that_cannot_be_recomputed_is_named_and_the_others_are_recomputed(
    promoted: Service, promote_models: tuple[Path, Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    services = promoted.services
    with services.sessions() as session:
        actor = resolve_actor(session, "admin_national")
        computed_before = session.execute(
            select(AuditEntry.seq).where(AuditEntry.action == "assessment_created")
        ).all()
    version = model_version_of(promote_models[1])
    with caplog.at_level(logging.WARNING):
        made = reassess(services, model_version=version, actor=actor, progress=False)
    # F2 comes after F1: recomputed all the same; F1 keeps its stale assessment.
    assert made == [("F2", 2)]
    assert _versions(promoted) == [("F1", 1), ("F2", 1), ("F2", 2)]
    assert [(f.family_id, f.error) for f in made.failed] == [("F1", "family_record_invalid")]
    assert made.failed[0].detail  # the error's own text, for the command to print
    assert "F1" in caplog.text and "family_record_invalid" in caplog.text
    with services.sessions() as session:
        assert audit.verify(session, services.signing_key).ok
        computed = session.execute(
            select(AuditEntry.seq).where(AuditEntry.action == "assessment_created")
        ).all()
    assert len(computed) == len(computed_before) + 1  # F2's new version, audited as before

    # Again: F2 is current now, F1 is still named, nothing else made.
    again = reassess(services, model_version=version, actor=actor, progress=False)
    assert again == [] and [f.family_id for f in again.failed] == ["F1"]
    assert _versions(promoted) == [("F1", 1), ("F2", 1), ("F2", 2)]


def test_a_reassessment_without_failures_names_none(
    promoted: Service, promote_models: tuple[Path, Path, Path]
) -> None:
    services = promoted.services
    with session_scope(services.sessions) as session:  # F1's record put right
        family = session.get_one(Family, "F1")
        family.record = {**family.record, "criteria": {**family.record["criteria"],
                                                       "members_total": 4.0}}  # fmt: skip
        actor = resolve_actor(session, "admin_national")
    made = reassess(
        services, model_version=model_version_of(promote_models[1]), actor=actor, progress=False
    )
    assert made == [("F1", 2), ("F2", 2)] and made.failed == []
