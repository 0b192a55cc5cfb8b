"""The family's latest assessment as it is read: why it is out of date, and brought up to date.

Telling whether an assessment rests on the family's current inputs may verify its photos
against the reuse index (their reuse and repeats: serving.assessment_repeats), which reads,
decodes and compares stored photos. Reads do that holding no transaction: on SQLite a write
session's transaction holds the database's write lock (uploads and decisions wait behind it),
on PostgreSQL it leaves a connection idle in a transaction. They read the latest assessment
and the family's inputs, commit, then verify (`checked_latest`, `checked_why_stale`); a stale
one is recomputed under the family's lock in a transaction of its own, on the flags found
before it. A decision asks `why_stale` under the family's lock instead: what it records must
rest on inputs that lock keeps from changing.
"""

from __future__ import annotations

from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from sqlalchemy.orm import Session

from serving import assessments
from serving.assessment_repeats import FlagsMemo, repeats_asked
from serving.db.models import Assessment, Family, Photo
from serving.latest_assessments import latest, lock_family
from serving.reuse_links import Inputs, read_inputs
from serving.state import Services
from welfare.aggregate import PhotoFlags


def why_stale(
    session: Session,
    services: Services,
    assessment: Assessment,
    family: Family,
    *,
    inputs: Inputs | None = None,
    flags: FlagsMemo | None = None,
) -> str | None:
    """Why `assessment` is out of date (a STALE_REASONS code), or None when it is the family's
    latest and rests on its current inputs: newer_assessment, FUSION_MODEL_MISSING when it is
    `held_back`, else `stale_reason` against the fusion model the services have and the
    photos' repeats (`repeats_asked`), verified inside `session`'s transaction (a decision's,
    under the family's lock). `inputs`: those the caller has read (`read_inputs`), else read
    here; `flags`: the request's, where it flagged them."""
    newest = latest(session, family.id)
    if newest is None or newest.id != assessment.id:
        return "newer_assessment"
    if inputs is None:
        inputs = read_inputs(session, family.id)
    return why_latest_stale(services, assessment, family, inputs.photos, inputs.reused, flags=flags)


def why_latest_stale(
    services: Services,
    assessment: Assessment,
    family: Family,
    photos: list[Photo],
    reused: AbstractSet[int],
    *,
    flags: Sequence[PhotoFlags] | FlagsMemo | None = None,
) -> str | None:
    """`why_stale` of the family's latest assessment, on the family's `photos` as `compute`
    reads them and the ones of them reuse links flag (`reuse_linked`; a list page passes
    those it loaded for every row at once, and the photos' `family_flags` it has: `flags`).
    Reads nothing from the database: call it holding no transaction."""
    if assessments.held_back(assessment, services):
        return assessments.FUSION_MODEL_MISSING
    fusion = assessments.fusion_version(services)
    repeated = repeats_asked(services, assessment, family, photos, reused, flags=flags)
    return assessments.stale_reason(
        assessment, family, photos, fusion=fusion, reused=reused, repeated=repeated
    )


def checked_why_stale(
    session: Session,
    services: Services,
    assessment: Assessment,
    family: Family,
    *,
    flags: FlagsMemo | None = None,
) -> str | None:
    """`why_stale`, the photos verified once `session`'s transaction has ended: the family's
    latest assessment and inputs are read in it, then it is committed (it must hold no writes
    but those the caller commits anyway, such as a read's audit entry)."""
    newest = latest(session, family.id)
    current = newest is not None and newest.id == assessment.id
    inputs = read_inputs(session, family.id) if current else None
    session.commit()
    if inputs is None:
        return "newer_assessment"
    return why_latest_stale(services, assessment, family, inputs.photos, inputs.reused, flags=flags)


@dataclass(frozen=True)
class CheckedLatest:
    """The family's latest assessment as `checked_latest` serves it."""

    assessment: Assessment
    inputs: Inputs  # the photos and reuse links it was checked against (or computed from)
    stale_reason: str | None  # why it is stale (`why_latest_stale`); None: current
    made: bool  # this call recomputed it: `assessment` is a new version of its own


def checked_latest(
    session: Session,
    services: Services,
    family: Family,
    *,
    actor: tuple[int, str],
    flags: FlagsMemo,
    allow_rules_only: bool = False,
    recorded_repeats: bool = False,
) -> CheckedLatest:
    """The family's latest assessment, recomputed first (a new version, audited) if it is
    stale, unless it is `held_back` (`allow_rules_only` as it takes it): then it is served as
    it is, `stale_reason` FUSION_MODEL_MISSING. Pages, the API and `assessments refresh` all
    read it here.

    The latest assessment and the family's inputs are read in `session`'s transaction, which
    is then committed (it must hold no writes), and the photos verified holding none. A stale
    one is checked again under the family's lock, on inputs read again (a photo or a link may
    have been committed meanwhile), and recomputed there in a transaction of its own, on the
    photos' flags found before the lock (`flags`, the caller's: verified again only where
    the photos or links changed meanwhile). Readers of the same stale family take turns at
    the lock, and the later ones find the version the first one made instead of making one
    more. `recorded_repeats`: the repeats of one that records them are verified too (a
    refresh; `repeats_asked`). The photos and links are read once, twice if it recomputes.
    """
    fusion = assessments.fusion_version(services)

    def kept(row: Assessment, inputs: Inputs) -> bool:
        return assessments.held_back(row, services, allow_rules_only=allow_rules_only) or (
            assessments.is_current(  # `inputs` given: `session` is not read
                session, row, family, fusion=fusion, inputs=inputs, services=services,
                recorded_repeats=recorded_repeats, flags=flags,
            )
        )  # fmt: skip

    row, inputs = latest(session, family.id), read_inputs(session, family.id)
    session.commit()  # `family` was loaded in it (`family.id` reloads it after a rollback)
    made = False
    if row is None or not kept(row, inputs):
        flags(services, family, inputs.photos, linked=inputs.reused)  # before the lock
        lock_family(session, family.id)  # refreshes `family`
        row, inputs = latest(session, family.id), read_inputs(session, family.id)
        if row is None or not kept(row, inputs):
            row = assessments.compute(
                session, services, family, actor=actor, inputs=inputs, flags=flags
            )
            made = True
        session.commit()
    why = why_latest_stale(services, row, family, inputs.photos, inputs.reused, flags=flags)
    return CheckedLatest(assessment=row, inputs=inputs, stale_reason=why, made=made)
