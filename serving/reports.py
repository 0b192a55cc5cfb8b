"""Reports for auditors: override statistics, per-group figures, drift of photo scores.

All figures are counted from the database in the caller's region (national for admins).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from serving.db.models import Decision, Family, Photo
from serving.score_shift import read_score
from vision.score import PhotoScore, score_shares

if TYPE_CHECKING:
    from vision.engine import Engine

GROUPINGS = ("region", "settlement", "head_gender")
_EPS = 1e-4


def _what_was_sent(decision: Decision) -> tuple[Any, ...]:
    return (
        decision.decided_by, decision.assessment_id, decision.kind, decision.decided_level,
        decision.reason_code, decision.reason,
    )  # fmt: skip


def _decisions(session: Session, region: str | None) -> list[tuple[Decision, Family]]:
    """The region's decisions, each counted once: a decision recorded right after the same
    one on the family (same member, assessment, kind, level, reason code and words) is that
    decision sent again, as a client without `seen_decision_id` records a retry
    (`serving.decisions.decided_since_seen` gives such a copy back instead)."""
    statement = (
        select(Decision, Family).join(Family, Family.id == Decision.family_id).order_by(Decision.id)
    )
    if region is not None:
        statement = statement.where(Decision.region == region)
    rows: list[tuple[Decision, Family]] = []
    previous: dict[str, tuple[Any, ...]] = {}
    for decision, family in session.execute(statement).all():
        sent = _what_was_sent(decision)
        if previous.get(decision.family_id) != sent:
            rows.append((decision, family))
        previous[decision.family_id] = sent
    return rows


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def override_stats(session: Session, region: str | None) -> dict[str, Any]:
    """How often the commission overrides, per assessed level, region and reason."""
    rows = _decisions(session, region)
    overrides = [d for d, _ in rows if d.kind == "override"]

    def per(key: Any) -> dict[str, dict[str, Any]]:
        totals: Counter[str] = Counter(str(key(d)) for d, _ in rows)
        over: Counter[str] = Counter(str(key(d)) for d in overrides)
        return {
            k: {"decisions": n, "overrides": over[k], "override_rate": _rate(over[k], n)}
            for k, n in sorted(totals.items())
        }

    return {
        "decisions": len(rows),
        "overrides": len(overrides),
        "override_rate": _rate(len(overrides), len(rows)),
        "by_level": per(lambda d: d.model_level if d.model_level is not None else "none"),
        "by_region": per(lambda d: d.region),
        "by_reason": dict(sorted(Counter(str(d.reason_code) for d in overrides).items())),
    }


def fairness(session: Session, region: str | None) -> dict[str, Any]:
    """Per group (region, settlement, head gender): override rate, agreement, decided level.

    A large gap between groups in how often the commission corrects the system is a sign
    that the system serves some groups worse; the gap is reported per grouping. A group whose
    decisions concern fewer families than configs/welfare.yaml `fairness.min_families_per_group`
    is shown, marked `too_small`, and left out of the gap, as `welfare evaluate` does.
    """
    from welfare.criteria import get_welfare_config

    minimum = get_welfare_config().fairness.min_families_per_group
    rows = _decisions(session, region)
    out: dict[str, Any] = {
        "decisions": len(rows), "min_families_per_group": minimum, "groupings": {},
    }  # fmt: skip
    for grouping in GROUPINGS:
        groups: dict[str, list[Decision]] = defaultdict(list)
        for decision, family in rows:
            groups[str(getattr(family, grouping))].append(decision)
        table = {}
        for name, items in sorted(groups.items()):
            overridden = sum(d.kind == "override" for d in items)
            agreed = sum(d.model_level == d.decided_level for d in items)
            families = len({d.family_id for d in items})
            table[name] = {
                "decisions": len(items),
                "families": families,
                "too_small": families < minimum,
                "override_rate": _rate(overridden, len(items)),
                "agreement": _rate(agreed, len(items)),
                "mean_decided_level": sum(d.decided_level for d in items) / len(items),
            }
        rates = [
            g["override_rate"]
            for g in table.values()
            if g["override_rate"] is not None and not g["too_small"]
        ]
        gap = max(rates) - min(rates) if len(rates) > 1 else None
        out["groupings"][grouping] = {"groups": table, "override_rate_gap": gap}
    return out


def _psi(reference: dict[str, float], current: dict[str, float]) -> float | None:
    """Population stability index between two distributions over the same keys; None when
    either side is empty (no photos to compare: an empty side is no evidence of a shift,
    though every one of its bins would otherwise read as a near-zero share)."""
    if not reference or not current:
        return None
    total = 0.0
    for key in set(reference) | set(current):
        p, q = max(reference.get(key, 0.0), _EPS), max(current.get(key, 0.0), _EPS)
        total += (q - p) * math.log(q / p)
    return total


# Why a head's PSI is not judged (code, stable; pages word it as `oversight.not_judged`).
TOO_FEW_PHOTOS = "too_few_photos"


def _head(
    base: dict[str, float],
    now: dict[str, Any],
    *,
    base_photos: int | None,
    alert_psi: float,
    min_photos: int,
) -> dict[str, Any]:
    """One head's PSI and its reading. A side with fewer than `min_photos` photos (the
    current one; the reference too when it is counted here, `base_photos`) is too few to
    judge: PSI of a handful of photos is mostly chance (configs/serving.yaml
    `drift_min_photos`), so it is given but raises no shift (`shift` None)."""
    psi = _psi(base, now["shares"])
    counted = [now["photos"]] if base_photos is None else [now["photos"], base_photos]
    judged = psi is not None and min(counted) >= min_photos
    return {
        "psi": psi, "photos": now["photos"], "reference_photos": base_photos,
        "judged": judged, "reason_code": None if judged else TOO_FEW_PHOTOS,
        "shift": psi > alert_psi if judged and psi is not None else None,
        "reference": base, "current": now["shares"],
    }  # fmt: skip


# What drift is measured against: code (stable; pages word it as `drift_reference.<code>`)
# -> what it is, in words.
DRIFT_REFERENCES = {
    "training_data": "training data (model artifact)",
    "earlier_half": "earlier half of the photos filed",
}


def _model_counts(session: Session, region: str | None) -> Counter[str]:
    """Scored photos in the region per model version (Photo.model_version)."""
    statement = (
        select(Photo.model_version, func.count(Photo.id))
        .join(Family, Family.id == Photo.family_id)
        .where(Photo.score.is_not(None), Photo.model_version.is_not(None))
        .group_by(Photo.model_version)
    )
    if region is not None:
        statement = statement.where(Family.region == region)
    return Counter({str(version): int(n) for version, n in session.execute(statement).all()})


def _scores(session: Session, region: str | None, model_version: str) -> list[PhotoScore]:
    """The scores with numbers (`PhotoScore.has_numbers`) `model_version` gave the region's
    photos, in filing order."""
    statement = (
        select(Photo.score)
        .join(Family, Family.id == Photo.family_id)
        .where(Photo.score.is_not(None), Photo.model_version == model_version)
        .order_by(Photo.id)
    )
    if region is not None:
        statement = statement.where(Family.region == region)
    found = (read_score(data) for data in session.execute(statement).scalars())
    return [score for score in found if score is not None and score.has_numbers]


def drift(
    session: Session,
    region: str | None,
    *,
    model_version: str | None,
    reference: dict[str, dict[str, float]] | None,
    alert_psi: float,
    min_photos: int,
) -> dict[str, Any]:
    """PSI of the top-room and grade distributions of filed photos against a reference;
    a head above `alert_psi` (configs/serving.yaml `drift_alert_psi`) is a shift to look into
    (`shift`), when it has `min_photos` or more photos (`drift_min_photos`) on its current
    side and, with the earlier-half reference, on that side too; with fewer its PSI is given
    but not judged (`judged` false, `reason_code` TOO_FEW_PHOTOS, `shift` None).

    Only the scores of one photo model are compared: `model_version`, the model the service
    scores with (None when it has none: then the model that scored most of the photos).
    Scores of another model (photos filed before a model change, or left on the old model by
    a promotion) would show the change of model as a shift; they are counted apart
    (`photos_other_models`). `reference` is the training data's distribution, as the serving
    model's artifact carries it (metrics.score_reference: per head, the share of each value
    as `_distribution` counts them); without one, the earlier half of the model's photos,
    so a change over time still shows. `reference` in the answer says which in words,
    `reference_code` as a code of DRIFT_REFERENCES. A head's PSI is None when either side
    has no photo to count.
    """
    models = _model_counts(session, region)
    if model_version is None and models:
        model_version = max(sorted(models), key=lambda version: models[version])
    scores = _scores(session, region, model_version) if model_version is not None else []
    source, base_photos = "training_data", dict.fromkeys(("room", "condition"))
    if reference is None:
        half = len(scores) // 2
        earlier = score_shares(scores[:half])
        reference = {h: b["shares"] for h, b in earlier.items()}
        base_photos = {h: b["photos"] for h, b in earlier.items()}
        scores, source = scores[half:], "earlier_half"
    current = score_shares(scores)
    heads = {
        head: _head(
            reference.get(head) or {},
            current[head],
            base_photos=base_photos[head],
            alert_psi=alert_psi,
            min_photos=min_photos,
        )
        for head in ("room", "condition")
    }
    return {
        "photos": len(scores),
        "model_version": model_version,
        "photos_other_models": sum(n for v, n in models.items() if v != model_version),
        "reference": DRIFT_REFERENCES[source],
        "reference_code": source,
        "heads": heads,
        "alert_psi": alert_psi,
        "min_photos": min_photos,
        "note": (
            f"PSI above {alert_psi} is read as a shift worth investigating; a head with fewer "
            f"than {min_photos} photos on a side is too few photos to judge."
        ),
    }


def serving_drift(
    session: Session,
    region: str | None,
    *,
    engine: Engine | None,
    alert_psi: float,
    min_photos: int,
) -> dict[str, Any]:
    """`drift` of the photos the serving model `engine` scored, against its training data
    when its artifact carries the reference: what the API and the oversight page show, with
    the site's `drift_alert_psi` and `drift_min_photos`."""
    if engine is None:
        return drift(
            session, region, model_version=None, reference=None, alert_psi=alert_psi,
            min_photos=min_photos,
        )  # fmt: skip
    return drift(
        session, region, model_version=engine.model_version,
        reference=engine.artifact.metrics.get("score_reference"), alert_psi=alert_psi,
        min_photos=min_photos,
    )  # fmt: skip
