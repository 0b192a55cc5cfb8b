"""Decisions: the commission's decisions on assessments, and why one is refused.

A decision is only ever written by a commission member through `record_decision`, on the
family's latest assessment while it rests on the family's current inputs (`serving.assessments`
says when it does not); nothing a model returns can become a decision. Every refusal carries a
stable code of DECISION_REFUSALS, so a page can word it in the reader's language.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from serving import audit
from serving.assessments import FUSION_MODEL_MISSING, STALE_REASONS
from serving.db.models import Assessment, Decision, Family, User
from serving.errors import ConflictError, DecisionInvalidError
from serving.latest_assessments import lock_family
from serving.latest_current import why_stale
from serving.reports import GROUPINGS
from serving.rows_by_family import rows_by_family
from serving.state import Services
from welfare.criteria import get_welfare_config


class DecisionRefusedError(DecisionInvalidError):
    """A decision refused for one stable `refusal` (a code of DECISION_REFUSALS) with its
    `params`, so a page can say why in the reader's language; `message` stays English."""

    def __init__(self, refusal: str, message: str, **params: Any) -> None:
        super().__init__(message)
        self.refusal = refusal
        self.params = params


class DecisionOutOfDateError(ConflictError):
    """A decision on an assessment that is stale: `params["why"]` is a STALE_REASONS code.

    `refusal`: out_of_date (reading the latest assessment brings it up to date), or
    fusion_model_missing for one `held_back` (the decision waits for the fusion model)."""

    refusal = "out_of_date"

    def __init__(self, why: str) -> None:
        if why == FUSION_MODEL_MISSING:
            self.refusal = FUSION_MODEL_MISSING
            message = (
                f"{STALE_REASONS[why]}; no decision can be recorded on it until the service has "
                "its fusion model again (an administrator restores fusion_dir in its settings, "
                "or sets allow_rules_only: true if the site really serves without one)"
            )
        else:
            message = (
                f"this assessment is out of date: {STALE_REASONS[why]}; open the family's "
                "latest assessment (it is then recomputed) and decide on that"
            )
        super().__init__(message)
        self.params: dict[str, Any] = {"why": why}


class DecidedMeanwhileError(ConflictError):
    """A decision sent after another decision on the family was recorded since the sender saw
    the family (`DecisionRequest.seen_decision_id`): another member's, or the sender's own
    first copy with other values. Nothing is recorded; sent again with the newer id, it is."""

    refusal = "decided_meanwhile"

    def __init__(self, decision: Decision, who: str) -> None:
        super().__init__(
            f"another decision on this family (decision {decision.id}: {decision.kind}, level "
            f"{decision.decided_level}, by {who}) was recorded after the one you saw; check it, "
            f"then send yours again with seen_decision_id {decision.id} to add it"
        )
        self.params: dict[str, Any] = {
            "kind": decision.kind,
            "level": decision.decided_level,
            "who": who,
            "decision_id": decision.id,
        }


# The errors that refuse a decision for one of DECISION_REFUSALS (each has `refusal` and
# `params`): caught together by the pages, answered with the refusal by the API.
DECISION_REFUSAL_ERRORS = (DecisionRefusedError, DecisionOutOfDateError, DecidedMeanwhileError)
DecisionRefusal = DecisionRefusedError | DecisionOutOfDateError | DecidedMeanwhileError

# Every reason a decision is refused for: its `refusal` code -> the form field at fault
# (None: the whole form). The pages word each as `decision_error.<code>`.
DECISION_REFUSALS: dict[str, str | None] = {
    "accept_without_level": "kind",
    "accept_other_level": "level",
    "level_not_chosen": "level",
    "reason_code_not_chosen": "reason_code",
    "reason_too_short": "reason",
    "reason_too_long": "reason",
    "level_unchanged": "level",
    "seen_decision_unknown": None,
    DecisionOutOfDateError.refusal: None,
    FUSION_MODEL_MISSING: None,
    DecidedMeanwhileError.refusal: None,
}


def decisions_of(session: Session, family_id: str) -> list[tuple[Decision, str]]:
    """The family's decisions, newest first, each with the username of who decided."""
    return rows_by_family(session, Decision, family_id, by=Decision.decided_by)


@dataclass(frozen=True)
class DecisionRequest:
    kind: str
    level: int | None
    reason_code: str | None
    reason: str
    # The family's latest decision when the sender saw it (0: none; None: not said, as from
    # API clients before it existed): a decision recorded after it stops this one
    # (`decided_since_seen`). The decision keeps it (Decision.seen_decision_id).
    seen_decision_id: int | None = None


@dataclass(frozen=True)
class Recorded:
    decision: Decision
    repeated: bool  # the same decision sent again: the first one's, nothing new recorded


def record_decision(
    session: Session,
    services: Services,
    assessment: Assessment,
    family: Family,
    request: DecisionRequest,
    *,
    actor: tuple[int, str],
) -> Recorded:
    """Validate and store a commission decision on the family's latest assessment, with the
    family's groups (serving.reports.GROUPINGS) as they are now: the fairness report counts it
    in them, wherever the family moves or whoever heads it later.

    With `request.seen_decision_id`, a copy of the decision recorded since (a double click,
    a resend) gives that decision back (`repeated`), and any other decision recorded since is
    DecidedMeanwhileError: nobody's decision joins one they have not seen. The decision keeps
    the id (None: not sent), so the reports and an auditor can tell which decisions were
    checked that way; every decision sent without one is recorded, and the reports count an
    old client's resend once (serving.report_overrides).
    """
    limits = services.settings.reason_chars  # configs/serving.yaml reason_chars
    _check_reason_length(request.reason, limits.decision_max)  # before the lock: needs no data
    lock_family(session, family.id)  # refreshes `family`; uploads wait until this commits
    _check_seen(session, family, request.seen_decision_id)
    if request.seen_decision_id is not None:
        earlier = decided_since_seen(session, family, assessment, request, decided_by=actor[0])
        if earlier is not None:
            return Recorded(earlier, repeated=True)
    why = why_stale(session, services, assessment, family)
    if why is not None:
        raise DecisionOutOfDateError(why)
    decided_level = _decided_level(
        request, assessment, services.settings.override_reasons, limits.override_min
    )
    decision = Decision(
        assessment_id=assessment.id, family_id=family.id, region=family.region,
        kind=request.kind, model_level=assessment.level, decided_level=decided_level,
        reason_code=request.reason_code if request.kind == "override" else None,
        reason=reason_words(request.reason), decided_by=actor[0],
        seen_decision_id=request.seen_decision_id,
    )  # fmt: skip
    for grouping in GROUPINGS:  # the family's groups now, re-read under its lock
        setattr(decision, grouping, getattr(family, grouping))
    session.add(decision)
    session.flush()
    audit.append(
        session, services.signing_key, actor=actor[1], action="decision_recorded",
        target=f"decision:{decision.id}",
        details={
            "assessment_id": assessment.id, "family_id": family.id, "kind": request.kind,
            "model_level": assessment.level, "decided_level": decided_level,
            "reason_code": decision.reason_code, "model_versions": assessment.model_versions,
            "input_hash": assessment.input_hash,
            # Pins the reason's words, which the decisions table alone does not: see reason_sha256.
            "reason_sha256": reason_sha256(decision.reason),
            # What the reports tell an old client's resend by (serving.report_overrides);
            # None: sent without one. Entries written before the field existed have none.
            "seen_decision_id": decision.seen_decision_id,
            # The groups the fairness and override reports count it in, as recorded on it.
            "region": decision.region, "settlement": decision.settlement,
            "head_gender": decision.head_gender,
        },
    )  # fmt: skip
    return Recorded(decision, repeated=False)


def reason_sha256(reason: str) -> str:
    """The `reason_sha256` of a decision's audit entry: the SHA-256 (hex) of the reason as the
    decision stores it, in UTF-8. The hash-chained entry pins the words without copying them
    into a log nothing can erase; a decision whose `reason` no longer gives its entry's
    `reason_sha256` was changed after it was recorded. Entries written before the field
    existed have none."""
    return hashlib.sha256(reason.encode("utf-8")).hexdigest()


def reason_words(reason: str) -> str:
    """The reason as a decision (and a room correction, serving.photo_room) stores it and as
    its length is counted: without surrounding space, without NUL characters, which no words
    hold and PostgreSQL refuses in text, and with every line break as LF. A browser sends a
    textarea's line breaks as CRLF but counts each as one character toward its maxlength; an
    API client may send CR alone."""
    words = reason.replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n")
    return words.strip()


def _check_reason_length(reason: str, max_chars: int) -> None:
    """A reason over `max_chars` (reason_chars.decision_max), counted as the decision would
    store it (a line break is one, as the form's textarea counts it), is refused."""
    if len(reason_words(reason)) > max_chars:
        raise DecisionRefusedError(
            "reason_too_long",
            f"the reason in words may hold at most {max_chars} characters "
            "(a line break counts as one); shorten it",
            n=max_chars,
        )


def _check_seen(session: Session, family: Family, seen: int | None) -> None:
    """`seen` must be 0 (none seen) or one of the family's decisions: a larger id, or another
    family's, would pass decisions recorded since the sender looked as seen."""
    if not seen:
        return
    decision = session.get(Decision, seen)
    if decision is None or decision.family_id != family.id:
        latest = latest_decision_id(session, family.id)
        raise DecisionRefusedError(
            "seen_decision_unknown",
            f"seen_decision_id {seen} is no decision of family {family.id}; send the family's "
            f"latest decision_id when you looked ({latest} now, 0 if none), after checking the "
            "decisions recorded since",
            latest=latest,
        )


def decided_since_seen(
    session: Session,
    family: Family,
    assessment: Assessment,
    request: DecisionRequest,
    *,
    decided_by: int,
) -> Decision | None:
    """This very decision (same member, assessment, kind, level, reason code and words) when
    it was recorded after `request.seen_decision_id`, even with others' decisions after it (a
    resend whose first answer was lost); None when no decision was recorded since;
    DecidedMeanwhileError naming the newest otherwise. Call under the family's lock
    (`lock_family`), so a second copy waits for the first to commit."""
    since = session.execute(
        select(Decision, User.username)
        .join(User, User.id == Decision.decided_by)
        .where(Decision.family_id == family.id, Decision.id > (request.seen_decision_id or 0))
        .order_by(Decision.id.desc())
    ).all()
    if not since:
        return None
    override = request.kind == "override"
    for decision, _ in since:
        if (
            decision.decided_by == decided_by
            and decision.assessment_id == assessment.id
            and decision.kind == request.kind
            and decision.decided_level == (request.level if override else assessment.level)
            and decision.reason_code == (request.reason_code if override else None)
            and decision.reason == reason_words(request.reason)
        ):
            return decision
    newest, who = since[0]
    raise DecidedMeanwhileError(newest, who)


def latest_decision_id(session: Session, family_id: str) -> int:
    """The id of the family's newest decision, 0 if none: what a form sends back as
    `seen_decision_id`."""
    found = session.execute(
        select(func.coalesce(func.max(Decision.id), 0)).where(Decision.family_id == family_id)
    ).scalar_one()
    return int(found)


def _decided_level(
    request: DecisionRequest, assessment: Assessment, reasons: list[str], min_chars: int
) -> int:
    """The level the decision records, or why it is refused; an override needs a reason code
    of `reasons` and a reason in words of at least `min_chars` (reason_chars.override_min)."""
    if request.kind == "accept":
        if assessment.level is None:
            raise DecisionRefusedError(
                "accept_without_level",
                "the system gave no level for this family (it abstained); record an override "
                "with the level the commission decided and the reason",
            )
        if request.level is not None and request.level != assessment.level:
            raise DecisionRefusedError(
                "accept_other_level",
                "an accept takes the assessed level; use override to change it",
                level=assessment.level,
            )
        return assessment.level
    levels = get_welfare_config().level_values
    if request.level is None or request.level not in levels:
        raise level_not_chosen(levels)
    if request.reason_code not in reasons:
        raise DecisionRefusedError(
            "reason_code_not_chosen",
            f"an override needs a reason_code, one of: {', '.join(reasons)}",
            reasons=reasons,
        )
    if len(reason_words(request.reason)) < min_chars:
        raise DecisionRefusedError(
            "reason_too_short",
            f"an override needs the reason in words (at least {min_chars} characters)",
            n=min_chars,
        )
    if request.level == assessment.level:
        raise DecisionRefusedError(
            "level_unchanged",
            "the level is the assessed one; record an accept instead",
            level=assessment.level,
        )
    return request.level


def level_not_chosen(levels: list[int], *, in_digits: bool = False) -> DecisionRefusedError:
    """The refusal of an override whose level is missing or not a welfare level."""
    shown = ", ".join(map(str, levels))
    message = (
        f"the level must be one of {shown}, in digits"
        if in_digits
        else f"an override needs the level the commission decided, one of {shown}"
    )
    return DecisionRefusedError("level_not_chosen", message, levels=levels)
