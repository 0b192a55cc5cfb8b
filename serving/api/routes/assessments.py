"""Assessments (computed on demand, versioned) and the commission's decisions on them."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.orm import Session

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
from serving.photo_evidence import Inputs, read_inputs
from serving.state import Services

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


def checked_latest(
    session: Session, services: Services, family: Family, *, actor: tuple[int, str],
    flags: FlagsMemo,
) -> tuple[Assessment, Inputs, str | None]:  # fmt: skip
    """The family's latest assessment as `service.latest_current_with_inputs` gives it, the
    inputs it rests on and why it is stale (`service.why_latest_stale`), the photos verified
    only once the transaction that read them has ended: verifying reads stored photos, and on
    SQLite a write session's transaction holds the write lock. `session` must hold no writes
    (it is committed). A stale one is checked again under the family's lock, on inputs read
    again (one may have been committed meanwhile), and recomputed there in a transaction of
    its own, on the photos' flags found before it (`flags`: verified again only if the photos
    or links changed meanwhile)."""
    fusion = service.fusion_version(services)

    def kept(row: Assessment | None, inputs: Inputs) -> bool:
        return row is not None and (
            service.held_back(row, services)
            or service.is_current(  # `inputs` given: `session` is not read
                session, row, family, fusion=fusion, inputs=inputs, services=services,
                flags=flags,
            )
        )  # fmt: skip

    row, inputs = service.latest(session, family.id), read_inputs(session, family.id)
    session.commit()  # `family` was loaded in it (`family.id` reloads it after a rollback)
    if row is None or not kept(row, inputs):
        flags(services, family, inputs.photos, linked=inputs.reused)  # before the lock
        service.lock_family(session, family.id)  # refreshes `family`
        row, inputs = service.latest(session, family.id), read_inputs(session, family.id)
        if row is None or not kept(row, inputs):
            row = service.compute(
                session, services, family, actor=actor, inputs=inputs, flags=flags
            )
        session.commit()
    why = service.why_latest_stale(services, row, family, inputs.photos, inputs.reused, flags=flags)
    return row, inputs, why


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
    locked = service.lock_family(session, family.id)
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
    flags = FlagsMemo()  # the photos flagged once for the check and the stale reason
    row, _, why = checked_latest(
        session, services, family, actor=(user.id, user.username), flags=flags
    )
    audit_action(
        session, services, user, "assessment_viewed",
        target=f"assessment:{row.id}",
    )  # fmt: skip
    return assessment_out(row, why)


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
    versions = [  # every version but the newest is out of date: a newer one exists
        assessment_out(
            r, service.why_stale(session, services, r, family) if i == 0 else "newer_assessment"
        )
        for i, r in enumerate(rows)
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
    audit_action(
        session, services, user, "assessment_viewed",
        target=f"assessment:{assessment.id}",
    )  # fmt: skip
    family = session.get_one(Family, assessment.family_id)
    return assessment_out(assessment, service.why_stale(session, services, assessment, family))


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
