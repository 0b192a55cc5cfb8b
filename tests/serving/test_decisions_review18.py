"""Decisions (review 18): only a commission member's accept or override is recorded, on the
family's latest assessment while it is current; an override changes the level and names a
configured reason, in the API and in the database; two decisions sent at once on what one
member saw record one; the override figures count each family's latest decision by the
assessed level, and no decisions read as no rate, never 0 %. On SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from serving.db.models import Assessment, AuditEntry, Decision, User
from serving.db.session import session_scope
from tests.serving.decision_helpers import (
    ACCEPT,
    MOVED,
    OVERRIDE,
    assess,
    change_record,
    count_decisions,
    decide,
    oversight_page,
    read_report,
)


def test_an_override_to_the_assessed_level_is_refused_and_counts_nowhere(service):
    service.create_family("F1")
    aid = assess(service, level=2)
    same = decide(service, aid, OVERRIDE)  # OVERRIDE names level 2
    assert same.status_code == 422, same.text
    assert same.json()["refusal"] == "level_unchanged"
    assert count_decisions(service) == 0
    report = read_report(service, "overrides")
    assert (report["decisions"], report["overrides"], report["by_level"]) == (0, 0, {})


@pytest.mark.parametrize("kind", [OVERRIDE, ACCEPT], ids=["override", "accept"])
def test_a_decision_on_an_earlier_version_is_refused_though_nothing_changed(service, kind):
    service.create_family("F1")
    first = assess(service)
    newer = assess(service)  # a new version on the same inputs
    assert newer != first
    refused = decide(service, first, kind)
    assert refused.status_code == 409, refused.text
    assert refused.json()["refusal"] == "out_of_date"
    assert count_decisions(service) == 0
    assert decide(service, newer, kind).status_code == 201


def test_an_accept_after_the_record_changed_is_refused(service):
    service.create_family("F1")
    aid = assess(service)
    change_record(service, "F1", MOVED)
    refused = decide(service, aid, ACCEPT)
    assert refused.status_code == 409, refused.text
    assert refused.json()["refusal"] == "out_of_date"
    assert count_decisions(service) == 0


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        ({"reason_code": "gut_feeling"}, "reason_code_not_chosen"),
        ({"reason_code": " income_evidence"}, "reason_code_not_chosen"),
        ({"reason_code": None}, "reason_code_not_chosen"),
        ({"reason": "   short    "}, "reason_too_short"),
        ({"reason": " " * 40}, "reason_too_short"),
    ],
)
def test_an_override_needs_a_configured_reason_code_and_words(service, change, refusal):
    service.create_family("F1")
    aid = assess(service)
    refused = decide(service, aid, {**OVERRIDE, **change})
    assert refused.status_code == 422, refused.text
    assert refused.json()["refusal"] == refusal
    assert count_decisions(service) == 0


def test_the_database_refuses_an_override_without_a_reason_code(service):
    service.create_family("F1")
    aid = assess(service)
    with session_scope(service.services.sessions) as session:
        user_id = session.execute(select(User.id).where(User.username == "commission")).scalar()
        assert user_id is not None
        unreasoned = Decision(
            assessment_id=aid, family_id="F1", region="x", kind="override", model_level=3,
            decided_level=2, reason_code=None, reason="the words are here", decided_by=user_id,
        )  # fmt: skip
        session.add(unreasoned)
        with pytest.raises(IntegrityError, match=r"(?i)ck_decisions_override_reason|check"):
            session.flush()
        session.rollback()
    assert count_decisions(service) == 0


def test_an_accept_keeps_no_reason_code(service):
    service.create_family("F1")
    aid = assess(service)
    accepted = decide(service, aid, {**ACCEPT, "reason_code": "income_evidence"})
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["reason_code"] is None
    assert read_report(service, "overrides")["by_reason"] == {}


def test_two_decisions_sent_at_once_on_what_was_seen_record_one(service):
    service.create_family("F1")
    aid = assess(service)
    bodies = [{**OVERRIDE, "seen_decision_id": 0}, {**OVERRIDE, "level": 4, "seen_decision_id": 0}]
    answers: list[Any] = [None, None]
    barrier = threading.Barrier(2, timeout=60)

    def send(i: int) -> None:
        barrier.wait()
        answers[i] = decide(service, aid, bodies[i])

    threads = [threading.Thread(target=send, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [201, 409], [answer.text for answer in answers]
    refused = next(answer for answer in answers if answer.status_code == 409)
    assert refused.json()["refusal"] == "decided_meanwhile"
    assert count_decisions(service) == 1
    report = read_report(service, "overrides")
    assert (report["decisions"], report["families"], report["overrides"]) == (1, 1, 1)


def test_overrides_are_counted_by_the_assessed_level_and_each_familys_latest(service):
    for family in ("F1", "F2", "F3"):
        service.create_family(family)
    assert decide(service, assess(service, "F1", level=3), OVERRIDE).status_code == 201
    assert decide(service, assess(service, "F2", level=None), OVERRIDE).status_code == 201
    # F3: overridden from 5, then accepted on a newer version: it counts as an accept at 4.
    assert decide(service, assess(service, "F3", level=5), OVERRIDE).status_code == 201
    assert decide(service, assess(service, "F3", level=4), ACCEPT).status_code == 201

    report = read_report(service, "overrides")
    assert (report["decisions"], report["families"], report["overrides"]) == (4, 3, 2)
    assert report["override_rate"] == pytest.approx(2 / 3)
    figures = {
        k: (row["families"], row["overrides"], row["decisions"])
        for k, row in report["by_level"].items()
    }
    assert figures == {"3": (1, 1, 1), "4": (1, 0, 1), "5": (0, 0, 1), "none": (1, 1, 1)}
    assert report["by_level"]["5"]["override_rate"] is None  # no family decided at 5 now
    assert report["by_reason"] == {"income_evidence": 2}


def test_the_decision_entry_carries_the_assessments_model_versions_and_input_hash(service):
    service.create_family("F1")
    aid = assess(service)
    made = decide(service, aid, OVERRIDE)
    assert made.status_code == 201, made.text
    with session_scope(service.services.sessions) as session:
        assessment = session.get_one(Assessment, aid)
        details = session.execute(
            select(AuditEntry.details).where(
                AuditEntry.action == "decision_recorded",
                AuditEntry.target == f"decision:{made.json()['decision_id']}",
            )
        ).scalar_one()
        assert details["model_versions"] == assessment.model_versions
        assert details["input_hash"] == assessment.input_hash
        assert (details["model_level"], details["decided_level"]) == (3, 2)


def test_no_decisions_read_as_no_rate_never_zero_percent(service):
    report = read_report(service, "overrides")
    assert (report["decisions"], report["families"], report["overrides"]) == (0, 0, 0)
    assert report["override_rate"] is None
    assert report["by_level"] == report["by_region"] == report["by_reason"] == {}
    page = oversight_page(service)
    assert "rate —" in page and "0%" not in page


@pytest.mark.parametrize(
    "change",
    [{"level": True}, {"level": "1"}, {"level": 1.0}, {"seen_decision_id": True}],
    ids=["level-true", "level-text", "level-float", "seen-true"],
)
def test_a_level_or_decision_id_that_is_no_whole_number_is_refused(service, change):
    # Lax validation read JSON true as 1: an override to level 1 (extreme need) was recorded.
    service.create_family("F1")
    aid = assess(service, level=3)
    refused = decide(service, aid, {**OVERRIDE, **change})
    assert refused.status_code == 422, refused.text
    assert count_decisions(service) == 0


def test_a_seen_decision_of_another_family_is_refused(service):
    # Another family's (larger) id passed every decision recorded here since as seen.
    for family in ("F1", "F2"):
        service.create_family(family)
    first = assess(service, "F1", level=3)
    assert decide(service, first, {**OVERRIDE, "seen_decision_id": 0}).status_code == 201
    other = assess(service, "F2", level=3)
    assert decide(service, other, {**OVERRIDE, "seen_decision_id": 0}).status_code == 201
    with session_scope(service.services.sessions) as session:
        f2_decision = session.execute(
            select(Decision.id).where(Decision.family_id == "F2")
        ).scalar_one()
    sent = {**OVERRIDE, "level": 4, "seen_decision_id": f2_decision}
    refused = decide(service, first, sent)  # F1's decision was not seen
    assert refused.status_code == 422, refused.text
    assert refused.json()["refusal"] == "seen_decision_unknown"
    assert count_decisions(service) == 2
