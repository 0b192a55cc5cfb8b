"""Reassessment: new assessment versions for families whose latest one is stale, whatever made
it so (`assessments.stale_reason`), and after a promotion for the families it made stale.

Pages recompute a stale assessment only when someone opens the family; until then lists and
reports show it. `refresh` (serving.assessments_refresh) brings every one up to date at once,
after a site deploys a new fusion model or edits the decisive part of configs/welfare.yaml.
The tests are made after the fact on what each assessment records, so an interrupted refresh
resumes with the families still stale, and a second one finds none.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from serving import audit
from serving.assessment_repeats import FlagsMemo, repeats_asked
from serving.assessments import (
    NO_FUSION,
    fusion_used,
    fusion_version,
    outcome_rests_on,
    rescored,
    stale_reason,
)
from serving.db.models import Assessment, Family, Photo, RescoredScore, User
from serving.db.session import session_scope
from serving.latest_assessments import latest_of
from serving.latest_current import checked_latest
from serving.reuse_links import reuse_linked
from shanyraq.errors import ShanyraqError
from welfare.criteria import get_welfare_config

if TYPE_CHECKING:
    from serving.assessments_refresh import Refreshed
    from serving.core.config import ServingSettings
    from serving.state import Services

logger = logging.getLogger(__name__)

# Families read per query when looking for stale assessments.
BATCH_FAMILIES = 500
# The audit action of a `reassess` run as a whole, recorded when it ends (each new version
# has its own entry, `assessment_created`).
REASSESS_ENDED = "assessments_reassessed"


class ReassessActorError(ShanyraqError):
    code = "reassess_actor_invalid"


class RefreshRegionForbiddenError(ShanyraqError):
    code = "refresh_region_forbidden"


class RefreshRegionUnknownError(ShanyraqError):
    code = "refresh_region_unknown"


class FusionModelMissingError(ShanyraqError):
    """Recomputing would move assessments made with a fusion model onto the rules alone,
    because this command has no fusion model (usually: not the service's settings)."""

    code = "fusion_model_missing"


@dataclass(frozen=True)
class StaleAssessment:
    """A family whose latest assessment (`version`) is stale, and why (a STALE_REASONS code);
    `fusion`: the fusion model version that assessment recorded ("none": rules only);
    `flags`: its photos' flags as finding it flagged them (where it asked their repeats), for
    `recompute` to use rather than verify the photos again."""

    family_id: str
    version: int
    reason: str
    fusion: str = NO_FUSION
    flags: FlagsMemo | None = field(default=None, compare=False, repr=False)


def stale_families(session: Session, model_version: str) -> list[str]:
    """Families with photos on M's re-scores whose latest assessment used other scores."""
    adopted = (
        select(Photo.family_id)
        .join(RescoredScore, RescoredScore.photo_id == Photo.id)
        .where(RescoredScore.model_version == model_version, Photo.model_version == model_version)
        .distinct()
    )
    families = sorted(session.execute(adopted).scalars())
    stale = []
    for start in range(0, len(families), 500):
        for row in latest_of(session, families[start : start + 500]).values():
            photos = session.execute(
                select(Photo).where(Photo.id.in_(row.photo_ids)).order_by(Photo.id)
            ).scalars()
            if rescored(row, list(photos)):
                stale.append(row.family_id)
    return sorted(stale)


def stale_assessments(
    session: Session,
    *,
    fusion: str | None,
    region: str | None = None,
    batch_size: int = BATCH_FAMILIES,
    services: Services | None = None,
) -> list[StaleAssessment]:
    """Assessed families (of `region`, when given) whose latest assessment is stale for any
    reason `stale_reason` knows, by family id; `fusion` as `stale_reason` takes it. With
    `services`, the photos' repeats too (`repeats_asked`, recorded ones included), told by
    their reuse index for each family otherwise current; without them (a dry run builds
    none) they are not checked.

    Families are read `batch_size` at a time, with their photos and latest assessments, and
    let go before the next batch: only what this call loaded is expunged from `session`, so
    the objects the caller holds stay in it. Each batch's transaction ends (`session` is
    committed: it must hold no writes) before its photos are verified, which reads stored
    photos. Families never assessed are not stale: they have nothing to bring up to date.
    """
    held = set(session.identity_map.keys())  # the caller's: never let go of here
    assessed = select(Assessment.id).where(Assessment.family_id == Family.id).exists()
    statement = select(Family).where(assessed).order_by(Family.id).limit(batch_size)
    if region is not None:
        statement = statement.where(Family.region == region)
    found: list[StaleAssessment] = []
    after: str | None = None
    while True:
        page = statement if after is None else statement.where(Family.id > after)
        families = list(session.execute(page).scalars())
        if not families:
            return found
        ids = [f.id for f in families]
        photos: dict[str, list[Photo]] = defaultdict(list)
        for photo in session.execute(
            select(Photo).where(Photo.family_id.in_(ids)).order_by(Photo.id)  # as compute reads
        ).scalars():
            photos[photo.family_id].append(photo)
        newest = latest_of(session, ids)
        reused = reuse_linked(session, (p for ps in photos.values() for p in ps))
        session.commit()  # all is read: the photos are verified holding no transaction
        for family in families:
            row, mine = newest[family.id], photos[family.id]
            linked = reused & {p.id for p in mine}  # as recompute reads them (`read_inputs`)
            flags, repeated = FlagsMemo(), None
            if services is not None:  # as recompute asks them
                repeated = repeats_asked(
                    services, row, family, mine, linked, recorded_too=True, flags=flags
                )
            why = stale_reason(row, family, mine, fusion=fusion, reused=linked, repeated=repeated)
            if why is not None:
                found.append(
                    StaleAssessment(family.id, row.version, why, fusion_used(row), flags=flags)
                )
        after = ids[-1]
        for loaded in list(session.identity_map.values()):
            if inspect(loaded).identity_key not in held:
                session.expunge(loaded)


def find_stale(services: Services, *, region: str | None = None) -> list[StaleAssessment]:
    """`stale_assessments` against the fusion model the service has loaded and the photos'
    repeats its reuse index tells, in a read session."""
    with services.readers() as session:
        fusion = fusion_version(services)
        return stale_assessments(session, fusion=fusion, region=region, services=services)


def recompute(
    services: Services,
    family_id: str,
    *,
    actor: tuple[int, str],
    allow_rules_only: bool = False,
    flags: FlagsMemo | None = None,
) -> int | None:
    """Bring one family's latest assessment up to date: the version made, or None when it was
    current already, or is kept as it is (`held_back`, which `allow_rules_only` lifts), or
    the family is gone.

    Through `checked_latest`, as pages read it: the photos verified holding no transaction, a
    stale one recomputed under the family's lock in a transaction of its own, checked again
    there; so a refresh and a page view, or two refreshes, of the same stale family make one
    new version between them, and a new version answered here is this call's own. `flags`:
    the photos' flags `stale_assessments` found (`StaleAssessment.flags`), verified again only
    where the family's photos or links changed since.
    """
    with session_scope(services.sessions) as session:
        family = session.get(Family, family_id)
        if family is None:
            return None
        checked = checked_latest(
            session, services, family, actor=actor, flags=flags or FlagsMemo(),
            allow_rules_only=allow_rules_only, recorded_repeats=True,  # as stale_assessments
        )  # fmt: skip
        return checked.assessment.version if checked.made else None


def resolve_actor(session: Session, username: str) -> tuple[int, str]:
    """The admin account new assessments are recorded as created by."""
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None or not user.active or user.role != "admin":
        raise ReassessActorError(
            f"{username!r} is not an active admin account; reassessing covers every region, so "
            "give an admin's name (`shanyraq users add NAME --role admin` makes one)"
        )
    return user.id, user.username


def resolve_refresh_actor(
    session: Session, username: str, *, region: str | None
) -> tuple[int, str]:
    """The admin a refresh of `region` (None: every region) runs as: an active admin, and
    for a regional admin only its own region."""
    actor = resolve_actor(session, username)
    admin_region = session.get_one(User, actor[0]).region  # loaded just now: no second query
    regions = get_welfare_config().regions
    if region is not None and region not in regions:
        raise RefreshRegionUnknownError(
            f"unknown region {region!r}; choose one of {', '.join(regions)}"
        )
    if admin_region is not None and region != admin_region:
        raise RefreshRegionForbiddenError(
            f"{username!r} is an admin of {admin_region} only; refresh that region "
            f"(--region {admin_region}) or run as a national admin (an admin without a region)"
        )
    return actor


def configured_fusion_version(settings: ServingSettings) -> str:
    """The fusion model version services built from `settings` would have loaded (their
    `fusion_version`), loaded as they load it; "none" without fusion_dir."""
    if settings.fusion_dir is None:
        return NO_FUSION
    from welfare.fusion import FusionModel

    return str(FusionModel.load(settings.fusion_dir).meta.version)


def refuse_rules_only(used: Iterable[str], *, fusion: str, allow_rules_only: bool) -> None:
    """Refuse to recompute assessments that rest on a fusion model when there is none now.

    `used`: the fusion model version each assessment to recompute recorded;
    `fusion`: the version new ones would record ("none": rules only). Without a fusion model
    every new version would have no level and need review: the usual cause is a command run
    without the service's settings, so it is refused unless `allow_rules_only` (a site that
    really took its fusion model away; `allow_rules_only: true` in serving.yaml says the same
    for every command). Another fusion model than theirs is a deployment, and goes ahead.
    """
    models = Counter(version for version in used if version != NO_FUSION)
    if fusion != NO_FUSION or allow_rules_only or not models:
        return
    listed = ", ".join(f"{version} ({n})" for version, n in sorted(models.items()))
    raise FusionModelMissingError(
        f"{sum(models.values())} of the assessments to recompute were made with fusion model "
        f"{listed}, but no fusion model is configured here (fusion_dir is empty), so their new "
        "versions would rest on the rules alone: no level, every one needs_review. Run with "
        "the service's own settings (--config SERVING_YAML, or the SHANYRAQ_SERVING__* "
        "variables the service runs with, e.g. SHANYRAQ_SERVING__FUSION_DIR); if the site "
        "really serves without a fusion model now, pass --allow-rules-only (or set "
        "allow_rules_only: true in its serving.yaml)"
    )


def _latest_rows(session: Session, family_ids: list[str]) -> Iterator[Assessment]:
    """The latest assessment of each of these families, read BATCH_FAMILIES at a time."""
    for start in range(0, len(family_ids), BATCH_FAMILIES):
        yield from latest_of(session, family_ids[start : start + BATCH_FAMILIES]).values()


def recorded_fusion(session: Session, family_ids: list[str]) -> list[str]:
    """The fusion model version the latest assessment of each of these families recorded."""
    return [fusion_used(row) for row in _latest_rows(session, family_ids)]


class Reassessed(list[tuple[str, int]]):
    """What `reassess` did: as a list, (family, version) for each new version it made;
    `failed`: the families it could not recompute (each `Refreshed` with its `error` code and
    `detail`), which keep their stale assessment."""

    def __init__(
        self, made: Iterable[tuple[str, int]] = (), failed: Iterable[Refreshed] = ()
    ) -> None:
        super().__init__(made)
        self.failed: list[Refreshed] = list(failed)


def reassess(
    services: Services,
    *,
    model_version: str,
    actor: tuple[int, str],
    progress: bool = True,
    allow_rules_only: bool = False,
) -> Reassessed:
    """A new assessment version for each family `stale_families` names: (family, version)
    for each one made, and in `failed` the families that could not be recomputed.

    One transaction per family (`recompute`), each audited by `assessments.compute`; a family
    recomputed meanwhile (by a page view) is left as it is. A family that raises a domain
    error (its record no longer validates, ...) keeps its stale assessment, is logged and
    named in `failed`, and the others are recomputed, as `refresh` does: otherwise every run
    would stop at the same family. Refused, as `refresh` is, when the services have no fusion
    model and those families' assessments rest on one.

    Audited as a run when it ends (`assessments_reassessed`, actor and model: the models and
    welfare rules it assesses with, the families planned, reassessed, already current, failed
    and not reached, and its outcome), also when it stops with an error or Ctrl-C, if the
    database still takes it.
    """
    from tqdm import tqdm

    from serving.assessments_refresh import _refresh_one  # it imports this module

    with services.sessions() as session:
        families = stale_families(session, model_version)
        stale = sorted(
            (
                StaleAssessment(row.family_id, row.version, "photo_scores", fusion_used(row))
                for row in _latest_rows(session, families)
            ),
            key=lambda s: s.family_id,
        )
    allow_rules_only = allow_rules_only or services.settings.allow_rules_only
    fusion = fusion_version(services)
    refuse_rules_only((s.fusion for s in stale), fusion=fusion, allow_rules_only=allow_rules_only)
    done: list[Refreshed] = []
    warned: set[str] = set()  # error codes already logged as a warning in this run
    rests_on = {"fusion": fusion, **outcome_rests_on(services.fusion_model)}
    run = _ReassessRun(services, actor, model_version, rests_on, planned=len(stale))
    item: StaleAssessment | None = None
    try:
        for item in tqdm(stale, desc="reassessing", unit="family", disable=not progress):
            done.append(_refresh_one(services, item, actor, allow_rules_only, warned))
    except BaseException as exc:
        stopped = {"outcome": "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed",
                   "error": getattr(exc, "code", None) or type(exc).__name__,
                   "family_id": item.family_id if item is not None else None}  # fmt: skip
        try:
            run.audit(done, stopped)
        except Exception:  # the database may be what failed: the run's own error is raised
            logger.exception("could not audit the end of the reassessment under %s", model_version)
        raise
    made = Reassessed(
        made=((d.family_id, d.version) for d in done if d.version is not None),
        failed=(d for d in done if d.error is not None),
    )
    run.audit(done, {"outcome": "completed_with_failures" if made.failed else "completed"})
    return made


@dataclass(frozen=True)
class _ReassessRun:
    """What the audit entry of a `reassess` run records besides its outcome."""

    services: Services
    actor: tuple[int, str]
    model_version: str
    rests_on: dict[str, str]  # the models and welfare rules the new versions are made with
    planned: int

    def audit(self, done: list[Refreshed], ended: dict[str, str | None]) -> None:
        """The run's entry, in its own transaction (anchored: the services' sessions are)."""
        details: dict[str, Any] = {
            "model_version": self.model_version,
            "model_versions": self.rests_on,
            **ended,
            "planned": self.planned,
            "reassessed": sum(d.version is not None for d in done),
            "already_current": sum(d.version is None and d.error is None for d in done),
            "failed": {d.family_id: d.error for d in done if d.error is not None},
            "not_reached": self.planned - len(done),
        }
        with session_scope(self.services.sessions) as session:
            audit.append(
                session, self.services.signing_key, actor=self.actor[1], action=REASSESS_ENDED,
                target=f"model:{self.model_version}", details=details,
            )  # fmt: skip
