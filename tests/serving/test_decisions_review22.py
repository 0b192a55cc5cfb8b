"""Decisions (review 22): a decision keeps the `seen_decision_id` its sender sent (migration
0013; NULL: none sent, or recorded before it), so an auditor can tell which decisions the
service could check against what their sender saw. The reports count a resend from an API
client that sends none once, even when another member's decision was recorded between its
copies: counted twice, the copy read as the family's latest decision and undid the other
member's. A decision sent having seen the other member's still counts as its own. On SQLite and
PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from alembic import command
from sqlalchemy import inspect, select

from serving.db.models import Decision
from serving.db.session import make_engine, session_scope
from serving.migrations import alembic_config, upgrade
from tests.serving.decision_helpers import (
    ACCEPT,
    OTHER_OVERRIDE,
    OVERRIDE,
    assess,
    read_report,
    second_commission_member,
    send_decision,
)


def _seen_stored(service: Any) -> list[int | None]:
    with session_scope(service.services.sessions) as session:
        return list(
            session.execute(select(Decision.seen_decision_id).order_by(Decision.id)).scalars()
        )


def _figures(service: Any) -> tuple[tuple[int, int, int], tuple[int, int, float | None]]:
    """(decisions, families, overrides) of the override report; (decisions, families,
    override rate) of the fairness report's one head-gender group."""
    overrides = read_report(service, "overrides")
    female = read_report(service, "fairness")["groupings"]["head_gender"]["groups"]["female"]
    return (
        (overrides["decisions"], overrides["families"], overrides["overrides"]),
        (female["decisions"], female["families"], female["override_rate"]),
    )


def test_a_decision_keeps_the_seen_decision_id_it_was_sent_with(service):
    service.create_family("F1")
    aid = assess(service)
    first = send_decision(service, aid, OVERRIDE, "commission", seen=0)
    assert (
        send_decision(service, aid, OVERRIDE, "commission", seen=0) == first
    )  # a resend: nothing new
    second = send_decision(service, aid, ACCEPT, "commission", seen=first)
    send_decision(service, aid, OTHER_OVERRIDE, "commission", seen=None)
    assert _seen_stored(service) == [0, first, None]
    assert second != first


@pytest.mark.parametrize("b_sends_seen", [True, False])
def test_an_old_clients_resend_after_another_members_decision_counts_once(service, b_sends_seen):
    """A accepts from a client without seen_decision_id; the answer is lost. B overrides
    (having seen A's accept, or from an old client too); A's client sends the accept again.
    Both copies are recorded and listed, as sent; the reports count A's accept once, and the
    family by B's override, its latest word (before: three decisions, and the family counted
    as accepted by the copy)."""
    second_commission_member(service)
    service.create_family("F1")
    aid = assess(service)
    first = send_decision(service, aid, ACCEPT, "commission", seen=None)
    overridden = send_decision(
        service, aid, OVERRIDE, "commission_b", seen=first if b_sends_seen else None
    )
    copy = send_decision(service, aid, ACCEPT, "commission", seen=None)
    listed = service.client.get("/families/F1/decisions", headers=service.headers("admin"))
    assert [d["decision_id"] for d in listed.json()] == [copy, overridden, first]

    assert _figures(service) == ((2, 1, 1), (2, 1, 1.0))
    assert read_report(service, "overrides")["by_reason"] == {"income_evidence": 1}


def test_the_same_decision_sent_having_seen_the_other_members_counts(service):
    """A accepts without seen_decision_id, B overrides, A accepts again having seen B's
    override (seen_decision_id given): A's second accept answers B's, and the family counts by
    it (tests/serving/test_reports_dedup_review21.py, with A's first accept from an old
    client)."""
    second_commission_member(service)
    service.create_family("F1")
    aid = assess(service)
    first = send_decision(service, aid, ACCEPT, "commission", seen=None)
    overridden = send_decision(service, aid, OVERRIDE, "commission_b", seen=first)
    again = send_decision(service, aid, ACCEPT, "commission", seen=overridden)
    assert again not in (first, overridden)
    assert _figures(service) == ((3, 1, 0), (3, 1, 0.0))


def test_a_members_other_decision_between_makes_the_same_one_a_new_decision(service):
    """A overrides, accepts, then overrides as first, from a client without
    seen_decision_id: A's own accept between was a decision A knew of, so the last override
    is A's new word, not a copy of the first."""
    service.create_family("F1")
    aid = assess(service)
    for body in (OVERRIDE, ACCEPT, OVERRIDE):
        send_decision(service, aid, body, "commission", seen=None)
    assert _figures(service) == ((3, 1, 1), (3, 1, 1.0))


def test_the_same_decision_by_another_member_is_not_a_copy(service):
    second_commission_member(service)
    service.create_family("F1")
    aid = assess(service)
    send_decision(service, aid, OVERRIDE, "commission", seen=None)
    send_decision(service, aid, ACCEPT, "commission_b", seen=None)
    send_decision(service, aid, OVERRIDE, "commission_b", seen=None)
    assert _figures(service) == ((3, 1, 1), (3, 1, 1.0))


def test_decisions_from_before_0013_read_no_seen_decision_id(service, database_url):
    service.create_family("F1")
    aid = assess(service)
    first = send_decision(service, aid, OVERRIDE, "commission", seen=0)
    send_decision(service, aid, ACCEPT, "commission", seen=first)

    # Back to 0012 (the column goes, the decisions stay) and up again: none is known.
    command.downgrade(alembic_config(database_url), "0012")
    engine = make_engine(database_url)
    columns = {c["name"] for c in inspect(engine).get_columns("decisions")}
    engine.dispose()
    assert "seen_decision_id" not in columns
    upgrade(database_url)
    assert _seen_stored(service) == [None, None]
    assert _figures(service) == ((2, 1, 0), (2, 1, 0.0))
    send_decision(service, aid, OVERRIDE, "commission", seen=None)  # A's new word, after its accept
    assert _seen_stored(service) == [None, None, None]
    assert _figures(service) == ((3, 1, 1), (3, 1, 1.0))
