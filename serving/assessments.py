"""Assessments: versioned welfare assessments, and when one is out of date.

An assessment records exactly what it rests on: the record version, the photos, their photo
models, the fusion model, digests of the welfare rules and of the taxonomy's parts they read
(`model_versions`, serving.outcome_basis). When any of these changes it is stale: reading the
latest assessment recomputes it (serving.latest_current), and a decision on it is refused
(`serving.decisions`). One made with a fusion model while the service now has none is not
recomputed on the rules alone (`held_back`): it is read as it is, marked stale, until the
model is back or the site sets `allow_rules_only`.

Every photo of the family goes into the assessment. One stored without a score (`UNSCORED`)
goes in as present but unusable, never left out: its quality verdict and reuse flag still
count, so too few usable photos, too many flagged ones and reused ones still send the family
to review.

A photo is reused when the reuse index verifies another family's filed photo as the same, or
when a reuse link says so (serving.uploads writes one when a later upload for another family
is found to be the same photo). Each assessment records which of its photos it counted as
reused (REUSED_KEY); a link to one it did not count makes it stale (`reuse`), so the family
filed first goes back to review too, not only the one filed second.

A photo that repeats an earlier photo of the family counts once; an assessment that counted
other repeats than the family's photos hold now is stale (`repeats`, serving.assessment_repeats).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Set as AbstractSet

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from serving import audit
from serving.assessment_repeats import FlagsMemo, Repeats, repeats_asked
from serving.db.models import Assessment, Family, Photo
from serving.outcome_basis import (
    LOGIC_KEY,
    TAXONOMY_KEY,
    WELFARE_CONFIG_KEY,
    outcome_rests_on,
    taxonomy_config_digest,
    welfare_config_digest,
)
from serving.photo_evidence import (
    REPEATED_KEY,
    UNSCORED,
    counted_repeated,
    photo_score,
)
from serving.reuse_links import Inputs, read_inputs
from serving.state import Services
from shanyraq.taxonomy import get_taxonomy
from welfare.assess import LOGIC_VERSION, assess, vision_versions
from welfare.schema import parse_family

# Which photo model scored each photo (`photo_scores_digest`). The set in "vision" misses a
# promotion that moves one photo onto a model another photo of the family already had, while
# a third keeps the old one (its original lost): the set stays, one photo's score changed.
PHOTO_SCORES_KEY = "photo_scores"
# The ids of the photos the assessment counted as reused, comma-separated ("" for none).
REUSED_KEY = "reused_photos"
# The stale reason of an assessment kept as it is (`held_back`): no fusion model to redo it.
FUSION_MODEL_MISSING = "fusion_model_missing"
# Why an assessment is stale (`stale_reason`): code -> what changed, in words.
STALE_REASONS = {
    "newer_assessment": "a newer assessment of the family exists",
    "record": "the family's record changed",
    "photos": "photos were added or removed",
    "photo_scores": "the photos now carry another photo model's scores",
    "reuse": "a photo of the family was since found filed for another family",
    "repeats": (
        "the photos that repeat an earlier photo of the family (sent again re-encoded, resized "
        "or as a screenshot; counted once) changed, or the assessment predates counting them "
        "once and the family has one"
    ),
    "fusion_model": "the service now uses another fusion model",
    "welfare_config": (
        "the welfare criteria, levels, thresholds, rules, recommendation bands or rooms to "
        "photograph in configs/welfare.yaml changed (or the assessment predates their recording)"
    ),
    "taxonomy_config": (
        "the rooms, condition grades, signs or what a sign points to (need or welfare) in "
        "configs/taxonomy.yaml changed"
    ),
    "assessment_logic": (
        "the way an assessment is worked out changed with a software update (how its reasons "
        "are measured, what sends a family to review)"
    ),
    FUSION_MODEL_MISSING: (
        "the service has no fusion model now and this assessment was made with one, so it is "
        "kept as it was rather than recomputed on the rules alone"
    ),
}


def photo_models(photos: list[Photo]) -> str:
    """The photo models an assessment of these photos records (welfare.assess.vision_versions),
    UNSCORED among them when a photo has no score."""
    return vision_versions(p.score["model_version"] if p.score else UNSCORED for p in photos)


def photo_scores_digest(photos: list[Photo]) -> str:
    """Digest of which photo model (UNSCORED: none) scored each of these photos, by photo id
    (first 16 hex of the sha256 of their canonical JSON). A photo's score changes only with
    its model (`rescore promote` replaces scores of other models only), so this names the
    scores an assessment read without hashing them."""
    pairs = [[p.id, p.score["model_version"] if p.score else UNSCORED] for p in photos]
    return hashlib.sha256(json.dumps(pairs).encode()).hexdigest()[:16]


NO_FUSION = "none"  # the fusion model version an assessment made on the rules alone records


def fusion_version(services: Services) -> str:
    """The fusion model version a new assessment records (NO_FUSION without a fusion model)."""
    model = services.fusion_model
    return str(model.meta.version) if model is not None else NO_FUSION


def fusion_used(assessment: Assessment) -> str:
    """The fusion model version `assessment` recorded (NO_FUSION: made on the rules alone)."""
    return str(assessment.model_versions.get("fusion", NO_FUSION))


def stale_reason(
    assessment: Assessment,
    family: Family,
    photos: list[Photo],
    *,
    fusion: str | None = None,
    reused: AbstractSet[int] | None = None,
    repeated: Repeats | None = None,
) -> str | None:
    """Why the assessment does not rest on the family's current inputs (a STALE_REASONS code),
    or None when it does.

    The scores matter: after `rescore promote` the same photos carry another model's scores
    (`rescored`: each photo's model, not only the family's set of them).
    `fusion` is the fusion model now loaded (`fusion_version`); None leaves it unchecked, for
    callers that have no services. An assessment made before the welfare config digest was
    recorded is stale once: it cannot show which rules it applied, and recomputing it makes a
    version that records them; so is one made by another version of the assessment logic
    (welfare.assess.LOGIC_VERSION: reasons measured another way, other doubts). One made before
    TAXONOMY_KEY was recorded is not judged on it (else every one would go stale on upgrading).
    `reused`: the photos reuse links flag now (`reuse_linked`, of these photos or of more:
    only these count); None leaves them unchecked. `repeated`: asked last, when all else is
    current, for the photos repeated now (`repeated_now`), which must be those the assessment
    counted (REPEATED_KEY; one made before it was recorded counted none); None: unchecked.
    """
    versions = assessment.model_versions
    if assessment.family_version != family.version:
        return "record"
    ids = [p.id for p in photos]
    if assessment.photo_ids != ids:
        return "photos"
    if rescored(assessment, photos):
        return "photo_scores"
    if reused is not None and not (reused & set(ids)) <= counted_reused(assessment):
        return "reuse"
    if fusion is not None and versions.get("fusion") != fusion:
        return "fusion_model"
    said = versions.get(WELFARE_CONFIG_KEY)  # with the rooms where they decided its coverage
    if said != welfare_config_digest() and said != welfare_config_digest(rooms=True):
        return "welfare_config"
    said = versions.get(TAXONOMY_KEY)
    if said is not None and said != taxonomy_config_digest():
        return "taxonomy_config"
    if versions.get(LOGIC_KEY) != LOGIC_VERSION:
        return "assessment_logic"
    now = repeated() if repeated is not None else None
    if now is not None and set(now) != counted_repeated(assessment):
        return "repeats"
    return None


def rescored(assessment: Assessment, photos: list[Photo]) -> bool:
    """Whether `photos` (the assessment's own, by id) carry other photo models' scores than it
    read: another set of models, or another model for one photo (PHOTO_SCORES_KEY; one made
    before that was recorded is judged on the set alone, as it was then)."""
    versions = assessment.model_versions
    if versions.get("vision") != photo_models(photos):
        return True
    recorded = versions.get(PHOTO_SCORES_KEY)
    return recorded is not None and recorded != photo_scores_digest(photos)


def counted_reused(assessment: Assessment) -> set[int]:
    """The photo ids `assessment` counted as reused (REUSED_KEY; none when it predates it)."""
    recorded = str(assessment.model_versions.get(REUSED_KEY, ""))
    return {int(part) for part in recorded.split(",") if part}


def is_current(
    session: Session,
    assessment: Assessment,
    family: Family,
    *,
    fusion: str | None = None,
    inputs: Inputs | None = None,
    services: Services | None = None,
    recorded_repeats: bool = False,
    flags: FlagsMemo | None = None,
) -> bool:
    """True when the assessment rests on the family's current inputs (see `stale_reason`);
    `inputs`: those the caller has read (`read_inputs`), else read here; `services`: their
    reuse index tells the photos' repeats (`repeats_asked`, `recorded_repeats` as its
    `recorded_too`, `flags` as its own); None leaves them unchecked."""
    if inputs is None:
        inputs = read_inputs(session, family.id)
    photos, reused = inputs.photos, inputs.reused
    repeated = None
    if services is not None:
        repeated = repeats_asked(
            services, assessment, family, photos, reused, recorded_too=recorded_repeats,
            flags=flags,
        )  # fmt: skip
    why = stale_reason(assessment, family, photos, fusion=fusion, reused=reused, repeated=repeated)
    return why is None


def held_back(
    assessment: Assessment, services: Services, *, allow_rules_only: bool = False
) -> bool:
    """Whether `assessment` is kept as it is rather than recomputed: it was made with a fusion
    model, the services have none now (usually a restart that lost fusion_dir), and neither
    the site (`allow_rules_only` in serving.yaml) nor the caller accepts rules-only versions
    (no level, every one needs_review). Reads serve it marked stale (FUSION_MODEL_MISSING)."""
    return (
        services.fusion_model is None
        and not (allow_rules_only or services.settings.allow_rules_only)
        and fusion_used(assessment) != NO_FUSION
    )


def compute(
    session: Session,
    services: Services,
    family: Family,
    *,
    actor: tuple[int, str],
    inputs: Inputs | None = None,
    flags: FlagsMemo | None = None,
) -> Assessment:
    """Assess the family on its current record and all its photos (`photo_score`: one without
    a score as present but unusable); a new version, audited. `inputs`: the photos and links
    read under the family's lock (`read_inputs`), else read here; `flags`: the request's."""
    record = parse_family(family.record)
    if inputs is None:
        inputs = read_inputs(session, family.id)
    photos = inputs.photos
    taxonomy = get_taxonomy()
    scores = [photo_score(p, taxonomy) for p in photos]
    found = (flags or FlagsMemo())(services, family, photos, linked=inputs.reused)
    result = assess(
        record, scores, model=services.fusion_model, photo_flags=found, taxonomy=taxonomy
    )
    rests_on = {
        **result.model_versions, PHOTO_SCORES_KEY: photo_scores_digest(photos),
        REUSED_KEY: ",".join(str(p.id) for p, f in zip(photos, found, strict=True) if f.reused),
        REPEATED_KEY: ",".join(str(p.id) for p, f in zip(photos, found, strict=True) if f.repeated),
        **outcome_rests_on(services.fusion_model),
    }  # fmt: skip
    payload = result.to_dict()
    # Counted among the abstained photos (result.photos); how many of them had no score.
    payload["unscored_photos"] = sum(not p.score for p in photos)
    version = (
        session.execute(
            select(func.max(Assessment.version)).where(Assessment.family_id == family.id)
        ).scalar()
        or 0
    ) + 1
    row = Assessment(
        family_id=family.id, version=version, level=result.level, asp=str(result.asp),
        result=payload, model_versions=rests_on,
        photo_ids=[p.id for p in photos], family_version=family.version,
        input_hash=result.input_hash, created_by=actor[0],
    )  # fmt: skip
    session.add(row)
    session.flush()
    audit.append(
        session, services.signing_key, actor=actor[1], action="assessment_created",
        target=f"assessment:{row.id}",
        details={
            "family_id": family.id, "version": version, "level": result.level,
            "asp": str(result.asp), "model_versions": row.model_versions,
            "input_hash": result.input_hash, "photo_ids": row.photo_ids,
        },
    )  # fmt: skip
    return row
