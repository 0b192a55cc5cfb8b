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
from serving.report_overrides import counted_decisions
from serving.score_shift import read_score
from vision.score import PhotoScore, score_shares

if TYPE_CHECKING:
    from vision.engine import Engine

GROUPINGS = ("region", "settlement", "head_gender")
_EPS = 1e-4


def _latest(rows: list[tuple[Decision, Family]]) -> list[tuple[Decision, Family]]:
    """Each family's latest decision of `rows` (in decision order): the unit (UNIT) that the
    override and fairness figures count."""
    last: dict[str, tuple[Decision, Family]] = {}
    for decision, family in rows:
        last[decision.family_id] = (decision, family)
    return list(last.values())


# What the override and fairness figures count (stable code), and in words: a family decided
# again after its assessment went out of date (new photos, a changed record, a photo found
# reused) would otherwise weigh as many times as it was decided.
UNIT = "family_latest_decision"
UNIT_NOTE = (
    "Each family counts once, by its latest decision: a family decided again after its "
    "assessment went out of date weighs no more than one decided once. `decisions` counts "
    "every decision recorded (one sent again, once)."
)


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def override_stats(session: Session, region: str | None) -> dict[str, Any]:
    """How often the commission overrides, per assessed level, region and reason: families
    whose latest decision overrides (UNIT), beside the count of every decision."""
    rows = counted_decisions(session, region)
    latest = [d for d, _ in _latest(rows)]
    overrides = [d for d in latest if d.kind == "override"]

    def per(key: Any) -> dict[str, dict[str, Any]]:
        # Keyed by every decision, so a level only earlier decisions had stays listed.
        decided: Counter[str] = Counter(str(key(d)) for d, _ in rows)
        families: Counter[str] = Counter(str(key(d)) for d in latest)
        over: Counter[str] = Counter(str(key(d)) for d in overrides)
        return {
            k: {
                "families": families[k],
                "overrides": over[k],
                "override_rate": _rate(over[k], families[k]),
                "decisions": n,
            }
            for k, n in sorted(decided.items())
        }

    return {
        "unit": UNIT,
        "note": UNIT_NOTE,
        "decisions": len(rows),
        "families": len(latest),
        "overrides": len(overrides),
        "override_rate": _rate(len(overrides), len(latest)),
        "by_level": per(lambda d: d.model_level if d.model_level is not None else "none"),
        "by_region": per(lambda d: d.region),
        "by_reason": dict(sorted(Counter(str(d.reason_code) for d in overrides).items())),
    }


# What fairness groups a decision by: the family's groups when it was decided, which a
# decision records (Decision has a column per GROUPINGS entry). A decision recorded before
# migration 0010 has none but its region; it is grouped by the family's record as it is now,
# and counted (`grouped_by_current_record`).
GROUPED_BY_NOTE = (
    "Each decision is grouped by the family's record when it was made, so a family that "
    "moved or whose head of household changed keeps its earlier decisions in its earlier "
    "group and counts as a family in the group of its latest decision. Decisions recorded "
    "before decisions kept the family's groups are grouped by the family's record as it is "
    "now (`grouped_by_current_record` counts them)."
)


def _group_row(decisions: list[Decision], latest: list[Decision], minimum: int) -> dict[str, Any]:
    """One group's figures over the latest decisions of its families (`latest`): none when
    every family decided in the group was decided since in another one (moved, say)."""
    overridden = sum(d.kind == "override" for d in latest)
    agreed = sum(d.model_level == d.decided_level for d in latest)
    return {
        "decisions": len(decisions),
        "families": len(latest),
        "too_small": len(latest) < minimum,
        "override_rate": _rate(overridden, len(latest)),
        "agreement": _rate(agreed, len(latest)),
        "mean_decided_level": _rate(sum(d.decided_level for d in latest), len(latest)),
    }


def _recorded(decision: Decision, grouping: str) -> str | None:
    """The decision's group under `grouping` as it recorded it; None when it recorded none."""
    recorded = getattr(decision, grouping)
    return None if recorded is None else str(recorded)


def _grouping(
    rows: list[tuple[Decision, Family]], latest_ids: set[int], grouping: str, minimum: int
) -> dict[str, Any]:
    """One grouping's table: each decision of `rows` in the group it recorded (the family's
    current one when it recorded none), each family in the group of its latest decision."""
    every: dict[str, list[Decision]] = defaultdict(list)
    last: dict[str, list[Decision]] = defaultdict(list)
    by_current_record = 0
    for decision, family in rows:
        group = _recorded(decision, grouping)
        if group is None:
            group, by_current_record = str(getattr(family, grouping)), by_current_record + 1
        every[group].append(decision)
        if decision.id in latest_ids:
            last[group].append(decision)
    table = {name: _group_row(items, last[name], minimum) for name, items in sorted(every.items())}
    rates = [
        g["override_rate"]
        for g in table.values()
        if g["override_rate"] is not None and not g["too_small"]
    ]
    return {
        "groups": table,
        "override_rate_gap": max(rates) - min(rates) if len(rates) > 1 else None,
        "grouped_by_current_record": by_current_record,
    }


def fairness(session: Session, region: str | None) -> dict[str, Any]:
    """Per group (region, settlement, head gender): override rate, agreement, decided level,
    over each family's latest decision (UNIT); `decisions` counts them all.

    A large gap between groups in how often the commission corrects the system is a sign
    that the system serves some groups worse; the gap is reported per grouping. A group of
    fewer families than configs/welfare.yaml `fairness.min_families_per_group` is shown,
    marked `too_small`, and left out of the gap, as `welfare evaluate` does. A decision counts
    in the groups the family was in when it was made (GROUPED_BY_NOTE). One recorded before
    decisions kept them (migration 0010) counts in the family's current groups;
    `grouped_by_current_record` counts such decisions, per grouping and in all (a decision
    with any of its groups taken from the current record).
    """
    from welfare.criteria import get_welfare_config

    minimum = get_welfare_config().fairness.min_families_per_group
    rows = counted_decisions(session, region)
    latest_ids = {decision.id for decision, _ in _latest(rows)}
    by_current_record = sum(any(_recorded(d, g) is None for g in GROUPINGS) for d, _ in rows)
    return {
        "unit": UNIT, "note": f"{UNIT_NOTE} {GROUPED_BY_NOTE}", "decisions": len(rows),
        "families": len(latest_ids), "min_families_per_group": minimum,
        "grouped_by_current_record": by_current_record,
        "groupings": {g: _grouping(rows, latest_ids, g, minimum) for g in GROUPINGS},
    }  # fmt: skip


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
# Which side of a head has too few photos to judge (code, stable; pages word it as
# `drift_too_few.<code>`): the photos scored here, the reference, or both.
TOO_FEW_SIDES = ("current", "reference", "both")


def _too_few_on(photos: int, reference_photos: int | None, *, min_photos: int) -> str | None:
    """The side (TOO_FEW_SIDES) with fewer than `min_photos` photos, None when neither.
    `reference_photos` None is a reference whose count is unknown (an artifact that does not
    record it): it cannot be shown to reach the minimum, so it counts as too few."""
    short = [photos < min_photos, reference_photos is None or reference_photos < min_photos]
    if all(short):
        return "both"
    return "current" if short[0] else "reference" if short[1] else None


def _head(
    base: dict[str, float],
    now: dict[str, Any],
    *,
    base_photos: int | None,
    alert_psi: float,
    min_photos: int,
) -> dict[str, Any]:
    """One head's PSI and its reading. A side with fewer than `min_photos` photos, the current
    one or the reference (`base_photos`: the earlier half's, or the training data's as its
    artifact records it), is too few to judge: PSI of a handful of photos is mostly chance
    (configs/serving.yaml `drift_min_photos`), so it is given but raises no shift (`shift`
    None); `too_few_on` says which side (TOO_FEW_SIDES)."""
    psi = _psi(base, now["shares"])
    too_few_on = _too_few_on(now["photos"], base_photos, min_photos=min_photos)
    judged = psi is not None and too_few_on is None
    return {
        "psi": psi, "photos": now["photos"], "reference_photos": base_photos,
        "judged": judged, "reason_code": None if judged else TOO_FEW_PHOTOS,
        "too_few_on": too_few_on,
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


def _scores(
    session: Session, region: str | None, model_version: str
) -> tuple[list[PhotoScore], int]:
    """The scores with numbers (`PhotoScore.has_numbers`) `model_version` gave the region's
    photos, in filing order; and how many of its stored scores have none (or are unreadable)."""
    statement = (
        select(Photo.score)
        .join(Family, Family.id == Photo.family_id)
        .where(Photo.score.is_not(None), Photo.model_version == model_version)
        .order_by(Photo.id)
    )
    if region is not None:
        statement = statement.where(Family.region == region)
    found = [read_score(data) for data in session.execute(statement).scalars()]
    kept = [score for score in found if score is not None and score.has_numbers]
    return kept, len(found) - len(kept)


def drift(
    session: Session,
    region: str | None,
    *,
    model_version: str | None,
    reference: dict[str, Any] | None,
    alert_psi: float,
    min_photos: int,
) -> dict[str, Any]:
    """PSI of the top-room and grade distributions of filed photos against a reference;
    a head above `alert_psi` (configs/serving.yaml `drift_alert_psi`) is a shift to look into
    (`shift`), when it has `min_photos` or more photos (`drift_min_photos`) on both sides, the
    current one and the reference; with fewer on a side its PSI is given but not judged
    (`judged` false, `reason_code` TOO_FEW_PHOTOS, `too_few_on` the side, `shift` None).

    Only the scores of one photo model are compared: `model_version`, the model the service
    scores with (None when it has none: then the model that scored most of the photos).
    Scores of another model (photos filed before a model change, or left on the old model by
    a promotion) would show the change of model as a shift; they are counted apart
    (`photos_other_models`). The model's own scores without numbers (NaN: a broken model, an
    fp16 overflow) name no room or grade and are counted apart too (`photos_without_numbers`):
    a model that gives none on many photos must not read as calm figures over the rest.
    `reference` is the training data's distribution, as the serving model's artifact carries
    it (metrics.score_reference: per head, the share of each value as `score_shares` counts
    them, and in `photos` how many test photos each head counted); without one, the earlier
    half of the model's photos, so a change over time still shows.
    `reference` in the answer says which in words, `reference_code` as a code of
    DRIFT_REFERENCES. A head's PSI is None when either side has no photo to count.
    """
    models = _model_counts(session, region)
    if model_version is None and models:
        model_version = max(sorted(models), key=lambda version: models[version])
    scores, without_numbers = (
        _scores(session, region, model_version) if model_version is not None else ([], 0)
    )
    source, base_photos = "training_data", _reference_photos(reference)
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
    other_models = sum(n for v, n in models.items() if v != model_version)
    return {
        "photos": len(scores),
        "model_version": model_version,
        # Both references are this model's: its artifact's, or its own earlier photos.
        "reference_model_version": model_version,
        "photos_other_models": other_models,
        "photos_without_numbers": without_numbers,
        "reference": DRIFT_REFERENCES[source],
        "reference_code": source,
        "heads": heads,
        "alert_psi": alert_psi,
        "min_photos": min_photos,
        "note": (
            f"{_compared(model_version, other_models, without_numbers)} PSI above {alert_psi} "
            f"is read as a shift worth investigating; a head with fewer than {min_photos} "
            "photos on a side is too few photos to judge."
        ),
    }


def _reference_photos(reference: dict[str, Any] | None) -> dict[str, int | None]:
    """Per head, how many photos the artifact's training reference counted (its `photos`);
    None where it does not say."""
    counts = (reference or {}).get("photos")
    found = counts if isinstance(counts, dict) else {}
    # type() is int: a count, not True (a bool is an int to isinstance).
    return {h: n if type(n := found.get(h)) is int else None for h in ("room", "condition")}


def _compared(model_version: str | None, other_models: int, without_numbers: int) -> str:
    """Which photo model's scores and reference the drift compares, and what it leaves out."""
    if model_version is None:
        return "No stored photo has a score from a photo model yet: no photo model to compare."
    return (
        f"Scores and reference of the photo model {model_version}; {other_models} stored "
        f"photos scored by another photo model are left out, and {without_numbers} of its own "
        "whose score has no numbers (NaN: the model gave none) or cannot be read."
    )


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
