"""Decisions (review 21): an override's reason holding a NUL character (JSON "\\u0000", a form's
%00) is recorded without it, the same on SQLite and PostgreSQL: PostgreSQL refuses a NUL in
text, so such a decision was a 500 there (and stored as sent on SQLite); NULs count for no
characters of the reason's minimum, and a resend of the same decision is still one."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from serving.db.models import Decision
from serving.db.session import session_scope
from tests.serving.decision_helpers import OVERRIDE, assess, count_decisions, decide

WITH_NUL = {**OVERRIDE, "reason": "employer letter\x00 shows wage arrears\x00"}


def _reasons(service: Any) -> list[str]:
    with session_scope(service.services.sessions) as session:
        return list(session.execute(select(Decision.reason).order_by(Decision.id)).scalars())


def test_a_reason_holding_a_nul_is_recorded_without_it(service):
    service.create_family("F1")
    aid = assess(service)
    made = decide(service, aid, WITH_NUL)
    assert made.status_code == 201, made.text
    assert made.json()["reason"] == "employer letter shows wage arrears"
    assert _reasons(service) == ["employer letter shows wage arrears"]


def test_nuls_count_for_no_characters_of_the_reason(service):
    service.create_family("F1")
    aid = assess(service)
    refused = decide(service, aid, {**OVERRIDE, "reason": "arrears" + "\x00" * 10})
    assert refused.status_code == 422, refused.text
    assert refused.json()["refusal"] == "reason_too_short"
    assert count_decisions(service) == 0


def test_the_same_decision_with_a_nul_sent_again_is_recorded_once(service):
    service.create_family("F1")
    aid = assess(service)
    sent = {**WITH_NUL, "seen_decision_id": 0}
    first = decide(service, aid, sent)
    assert first.status_code == 201, first.text
    again = decide(service, aid, sent)  # a resend: the stored reason has no NUL
    assert again.status_code == 201, again.text
    assert again.json()["decision_id"] == first.json()["decision_id"]
    assert count_decisions(service) == 1
