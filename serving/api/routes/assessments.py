"""Assessments (computed on demand, versioned) and the commission's decisions on them."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from serving import assessments as service
from serving.api.assessment_schemas import AssessmentOut, DecisionIn, DecisionOut
from serving.api.deps import (
    AssessmentInScope,
    CurrentUserDep,
    FamilyInScope,
    ServicesDep,
    SessionDep,
    audit_action,
    policy,
)
from serving.api.errors import error_responses
from serving.api.strict_json import StrictJSONRoute
from serving.assessment_repeats import FlagsMemo
from serving.db.models import Assessment, Decision, Family
from serving.decisions import DecisionRequest, decisions_of, record_decision
from serving.errors import NotFoundError
from serving.latest_assessments import lock_family
from serving.latest_current import checked_latest, checked_why_stale

router = APIRouter(tags=["assessments"], route_class=StrictJSONRoute)

READERS = ("inspector", "commission", "admin")
DECIDERS = ("commission",)


def assessment_out(row: Assessment, stale_reason: str | None = None) -> AssessmentOut:
    return AssessmentOut(
        assessment_id=row.id, family_id=row.family_id, version=row.version, level=row.level,
        asp=row.asp, result=row.result, model_versions=row.model_versions,
        photo_ids=row.photo_ids, family_version=row.family_version, input_hash=row.input_hash,
        created_at=row.created_at, stale_reason=stale_reason,
    )  # fmt: skip


@router.post(
    "/families/{family_id}/assessments", status_code=201, response_model=AssessmentOut,
    responses=error_responses(401, 403, 404, 422), **policy(*READERS),
)  # fmt: skip
def create_assessment(
    family: FamilyInScope, user: CurrentUserDep, services: ServicesDep, session: SessionDep
) -> AssessmentOut:
    """Assess the family now, on its current record and photos (a new version)."""
    # The family's lock first, as every other writer of versions takes it: two requests (or a
    # request and `assessments refresh`) would otherwise both claim the next version number,
    # and one would fail on the unique (family, version) key on PostgreSQL.
    locked = lock_family(session, family.id)
    if locked is None:  # deleted since it was read
        raise NotFoundError(f"no family {family.id!r} in your region")
    row = service.compute(session, services, locked, actor=(user.id, user.username))
    session.commit()
    return assessment_out(row)


@router.get(
    "/families/{family_id}/assessments/latest", response_model=AssessmentOut,
    responses=error_responses(401, 403, 404), **policy(*READERS),
)  # fmt: skip
def latest_assessment(
    family: FamilyInScope, user: CurrentUserDep, services: ServicesDep, session: SessionDep
) -> AssessmentOut:
    """The latest assessment; recomputed first if what it rests on changed since (record,
    photos, their scores, the fusion model, the welfare rules), except one made with a fusion
    model while the service has none: that one is kept, `stale_reason` fusion_model_missing."""
    # The photos flagged once for the check and the stale reason, holding no transaction.
    checked = checked_latest(
        session, services, family, actor=(user.id, user.username), flags=FlagsMemo()
    )
    row = checked.assessment
    audit_action(
        session, services, user, "assessment_viewed",
        target=f"assessment:{row.id}",
    )  # fmt: skip
    return assessment_out(row, checked.stale_reason)


@router.get(
    "/families/{family_id}/assessments", response_model=list[AssessmentOut],
    responses=error_responses(401, 403, 404), **policy(*READERS),
)  # fmt: skip
def list_assessments(
    family: FamilyInScope, user: CurrentUserDep, services: ServicesDep, session: SessionDep
) -> list[AssessmentOut]:
    """Every version, newest first (the read is audited)."""
    rows = session.execute(
        select(Assessment)
        .where(Assessment.family_id == family.id)
        .order_by(Assessment.version.desc())
    ).scalars().all()  # fmt: skip
    # The newest one's photos verified once the reads are committed (`checked_why_stale`).
    newest = checked_why_stale(session, services, rows[0], family) if rows else None
    versions = [  # every version but the newest is out of date: a newer one exists
        assessment_out(r, newest if i == 0 else "newer_assessment") for i, r in enumerate(rows)
    ]
    audit_action(
        session, services, user, "assessments_listed", target=f"family:{family.id}",
        details={"count": len(versions)},
    )  # fmt: skip
    return versions


@router.get(
    "/assessments/{assessment_id}", response_model=AssessmentOut,
    responses=error_responses(401, 403, 404), **policy(*READERS),
)  # fmt: skip
def get_assessment(
    assessment: AssessmentInScope, user: CurrentUserDep, services: ServicesDep, session: SessionDep
) -> AssessmentOut:
    """One assessment version (the view is audited)."""
    family = session.get_one(Family, assessment.family_id)  # loaded by the scope check
    audit_action(
        session, services, user, "assessment_viewed",
        target=f"assessment:{assessment.id}",
    )  # fmt: skip
    # Its photos verified once the reads are committed (`checked_why_stale`).
    return assessment_out(assessment, checked_why_stale(session, services, assessment, family))


def decision_out(row: Decision, username: str) -> DecisionOut:
    return DecisionOut(
        decision_id=row.id, assessment_id=row.assessment_id, family_id=row.family_id,
        kind=row.kind, model_level=row.model_level, decided_level=row.decided_level,
        reason_code=row.reason_code, reason=row.reason, decided_by=username,
        created_at=row.created_at, seen_decision_id=row.seen_decision_id,
    )  # fmt: skip


@router.post(
    "/assessments/{assessment_id}/decisions", status_code=201, response_model=DecisionOut,
    responses=error_responses(401, 403, 404, 409, 422), **policy(*DECIDERS),
)  # fmt: skip
def decide(
    body: DecisionIn,
    assessment: AssessmentInScope,
    user: CurrentUserDep,
    services: ServicesDep,
    session: SessionDep,
) -> DecisionOut:
    """Record the commission's decision: accept the assessed level, or override with a reason.

    With `seen_decision_id`, the same decision sent again answers with the one recorded first
    (nothing new is recorded), and a decision on the family recorded after the one seen is a
    409 (`conflict`, refusal `decided_meanwhile`) naming it."""
    family = session.get(Family, assessment.family_id)
    assert family is not None
    request = DecisionRequest(
        kind=body.kind, level=body.level, reason_code=body.reason_code, reason=body.reason,
        seen_decision_id=body.seen_decision_id,
    )  # fmt: skip
    recorded = record_decision(
        session, services, assessment, family, request, actor=(user.id, user.username)
    )
    session.commit()
    if not recorded.repeated:
        services.metrics.decisions.labels(recorded.decision.kind).inc()
    return decision_out(recorded.decision, user.username)


@router.get(
    "/families/{family_id}/decisions", response_model=list[DecisionOut],
    responses=error_responses(401, 403, 404), **policy("commission", "admin"),
)  # fmt: skip
def list_decisions(
    family: FamilyInScope, user: CurrentUserDep, services: ServicesDep, session: SessionDep
) -> list[DecisionOut]:
    """The family's decisions, newest first (the read is audited)."""
    decisions = [decision_out(d, name) for d, name in decisions_of(session, family.id)]
    audit_action(
        session, services, user, "decisions_listed", target=f"family:{family.id}",
        details={"count": len(decisions)},
    )  # fmt: skip
    return decisions
