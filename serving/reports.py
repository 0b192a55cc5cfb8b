"""Reports for auditors: override statistics, per-group figures, drift of photo scores.

All figures are counted from the database in the caller's region (national for admins).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from serving.db.models import Decision, Family, Photo

GROUPINGS = ("region", "settlement", "head_gender")
_EPS = 1e-4


def _decisions(session: Session, region: str | None) -> list[tuple[Decision, Family]]:
    statement = select(Decision, Family).join(Family, Family.id == Decision.family_id)
    if region is not None:
        statement = statement.where(Decision.region == region)
    return [(d, f) for d, f in session.execute(statement).all()]


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


def _psi(reference: dict[str, float], current: dict[str, float]) -> float:
    """Population stability index between two distributions over the same keys."""
    total = 0.0
    for key in set(reference) | set(current):
        p, q = max(reference.get(key, 0.0), _EPS), max(current.get(key, 0.0), _EPS)
        total += (q - p) * math.log(q / p)
    return total


def _has_numbers(score: dict[str, Any] | None) -> bool:
    """A score whose room and condition probabilities are all numbers."""
    if not score:
        return False
    values = [*score.get("room", {}).values(), *score.get("condition", {}).values()]
    return all(isinstance(v, int | float) and math.isfinite(v) for v in values)


def _distribution(photos: list[Photo]) -> dict[str, dict[str, float]]:
    rooms: Counter[str] = Counter()
    grades: Counter[str] = Counter()
    for photo in photos:
        score = photo.score or {}
        room, condition = score.get("room", {}), score.get("condition", {})
        if room:
            rooms[max(room, key=room.get)] += 1
        if condition:
            grades[max(condition, key=condition.get)] += 1
    n = max(1, len(photos))
    return {
        "room": {k: v / n for k, v in rooms.items()},
        "condition": {k: v / n for k, v in grades.items()},
    }


# What drift is measured against: code (stable; pages word it as `drift_reference.<code>`)
# -> what it is, in words.
DRIFT_REFERENCES = {
    "training_data": "training data (model artifact)",
    "earlier_half": "earlier half of the photos filed",
}


def drift(
    session: Session,
    region: str | None,
    *,
    reference: dict[str, dict[str, float]] | None,
    alert_psi: float,
) -> dict[str, Any]:
    """PSI of the top-room and top-grade distributions of filed photos against a reference;
    a head above `alert_psi` (configs/serving.yaml `drift_alert_psi`) is a shift to look into.

    The reference is the training data's distribution when the model artifact carries it
    (metrics.score_reference); otherwise the earlier half of the photos filed, so a change
    over time still shows. `reference` says which in words, `reference_code` as a code of
    DRIFT_REFERENCES.
    """
    statement = select(Photo).join(Family, Family.id == Photo.family_id)
    statement = statement.where(Photo.score.is_not(None)).order_by(Photo.id)
    if region is not None:
        statement = statement.where(Family.region == region)
    # Only a photo with a score is evidence: not an empty one, nor one whose model gave no
    # number (NaN or infinite, stored as null: vision.score.PhotoScore.to_dict), which has no
    # top room or grade to count.
    photos = [p for p in session.execute(statement).scalars() if _has_numbers(p.score)]
    source = "training_data"
    if reference is None:
        half = len(photos) // 2
        reference, photos = _distribution(photos[:half]), photos[half:]
        source = "earlier_half"
    current = _distribution(photos)
    heads = {}
    for head in ("room", "condition"):
        psi = _psi(reference.get(head, {}), current[head]) if photos else None
        heads[head] = {"psi": psi, "reference": reference.get(head, {}), "current": current[head]}
    return {
        "photos": len(photos),
        "reference": DRIFT_REFERENCES[source],
        "reference_code": source,
        "heads": heads,
        "alert_psi": alert_psi,
        "note": f"PSI above {alert_psi} is read as a shift worth investigating.",
    }
