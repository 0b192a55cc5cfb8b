"""Which decisions the override and fairness reports (serving.reports) count: each decision
a member made once, however many times a client sent it.

A client that sends `seen_decision_id` gets a resend of its decision back instead of a new
one (serving.decisions.decided_since_seen); an API client from before it has each copy
recorded, and these are told apart here, from what each decision recorded.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from serving.db.models import Decision, Family


def _what_was_sent(decision: Decision) -> tuple[Any, ...]:
    return (
        decision.decided_by, decision.assessment_id, decision.kind, decision.decided_level,
        decision.reason_code, decision.reason,
    )  # fmt: skip


def counted_decisions(session: Session, region: str | None) -> list[tuple[Decision, Family]]:
    """The region's decisions in the order recorded, each with its family, the copies
    (`copies`) left out."""
    statement = (
        select(Decision, Family).join(Family, Family.id == Decision.family_id).order_by(Decision.id)
    )
    if region is not None:
        statement = statement.where(Decision.region == region)
    rows = session.execute(statement).all()
    left_out = copies(decision for decision, _ in rows)
    return [(decision, family) for decision, family in rows if decision.id not in left_out]


def copies(decisions: Iterable[Decision]) -> set[int]:
    """The ids of the copies among `decisions` (in the order recorded): a decision the same as
    its member's previous decision on the family (same assessment, kind, level, reason code
    and words). The reports leave them out; the family page marks them, so the history does
    not read a resend as the family's newest word.

    Right after it, a copy is always one: sent again, or made again in the same words, it
    changes nothing. With other members' decisions between, it is one only when recorded
    without `seen_decision_id` (Decision.seen_decision_id NULL: an API client from before it,
    or a decision recorded before migration 0013): then it is an old client's resend whose
    first answer was lost, and nothing shows its member saw the decisions between (no
    decision joins one its sender has not seen, serving.decisions). Recorded with one, it was
    checked against them and answers them (accepted again after an override, say): counted.
    """
    found: set[int] = set()
    previous: dict[str, tuple[Any, ...]] = {}  # family -> its previous decision
    members: dict[tuple[str, int], tuple[Any, ...]] = {}  # (family, member) -> theirs
    for decision in decisions:
        sent, member = _what_was_sent(decision), (decision.family_id, decision.decided_by)
        if members.get(member) == sent and (
            previous.get(decision.family_id) == sent or decision.seen_decision_id is None
        ):
            found.add(decision.id)
        previous[decision.family_id] = members[member] = sent
    return found
