"""Which decisions the override and fairness reports (serving.reports) count: each decision
a member made once, however many times a client sent it.

A client that sends `seen_decision_id` gets a resend of its decision back instead of a new
one (serving.decisions.decided_since_seen); an API client from before it has each copy
recorded, and these are told apart here, from what each decision recorded.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from serving.db.models import Decision, Family


def _what_was_sent(decision: Decision) -> tuple[Any, ...]:
    return (
        decision.decided_by, decision.assessment_id, decision.kind, decision.decided_level,
        decision.reason_code, decision.reason,
    )  # fmt: skip


def counted_decisions(
    session: Session, region: str | None, *, family_id: str | None = None
) -> list[tuple[Decision, Family]]:
    """The region's (or one family's) decisions in the order recorded, each with its family,
    a copy of a decision left out: one the same as its member's previous decision on the
    family (same assessment, kind, level, reason code and words).

    Right after it, a copy is always left out: sent again, or made again in the same words, it
    changes nothing. With other members' decisions between, it is left out only when recorded
    without `seen_decision_id` (Decision.seen_decision_id NULL: an API client from before it,
    or a decision recorded before migration 0013): then it is an old client's resend whose
    first answer was lost, and nothing shows its member saw the decisions between (no
    decision joins one its sender has not seen, serving.decisions). Recorded with one, it was
    checked against them and answers them (accepted again after an override, say): counted.
    """
    statement = (
        select(Decision, Family).join(Family, Family.id == Decision.family_id).order_by(Decision.id)
    )
    if region is not None:
        statement = statement.where(Decision.region == region)
    if family_id is not None:
        statement = statement.where(Decision.family_id == family_id)
    rows: list[tuple[Decision, Family]] = []
    previous: dict[str, tuple[Any, ...]] = {}  # family -> its previous decision
    members: dict[tuple[str, int], tuple[Any, ...]] = {}  # (family, member) -> theirs
    for decision, family in session.execute(statement).all():
        sent, member = _what_was_sent(decision), (decision.family_id, decision.decided_by)
        copy = members.get(member) == sent and (
            previous.get(decision.family_id) == sent or decision.seen_decision_id is None
        )
        if not copy:
            rows.append((decision, family))
        previous[decision.family_id] = members[member] = sent
    return rows


def copies_of(session: Session, family_id: str) -> set[int]:
    """The ids of the family's decisions that `counted_decisions` leaves out as copies: the
    family page marks them, so the history does not read a resend as the family's newest
    word."""
    counted = {d.id for d, _ in counted_decisions(session, None, family_id=family_id)}
    every = session.execute(select(Decision.id).where(Decision.family_id == family_id))
    return set(every.scalars()) - counted
