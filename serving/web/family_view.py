"""What the family pages show: a commission's list of families, and one family in full
(each of its photos as a card: serving.web.photo_cards).

Only reads and shapes: who may see which family is settled by the dependencies before these
functions run (`scoped` for lists, `FamilyInScope` for one family).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from serving.api.deps import CurrentUser, scoped
from serving.assessment_repeats import FlagsMemo
from serving.db.models import Assessment, Decision, Family, Photo
from serving.latest_assessments import latest_of, latest_statement
from serving.latest_current import checked_latest, why_latest_stale
from serving.photo_evidence import counted_repeated, family_flags, photo_score
from serving.report_overrides import copies
from serving.reuse_links import reuse_linked
from serving.state import Services
from serving.web import heatmaps
from serving.web.family_reads import decisions_read
from serving.web.photo_cards import PhotoView, photo_view
from shanyraq.display import decimals_keeping_side
from shanyraq.taxonomy import get_taxonomy
from welfare.aggregate import PhotoFlags, aggregate
from welfare.criteria import get_welfare_config
from welfare.rules import INCOME_TEST

NOT_ASSESSED = "not_assessed"
STATUSES = ("needs_review", NOT_ASSESSED, "eligible", "not_eligible")
MAX_ROWS = 500  # the most families one list shows; the filters apply before this cut
# Who may read a family's decisions (who decided, the levels, the reasons): the roles of the
# API's GET /families/{family_id}/decisions (`list_decisions` in serving/api/routes/
# assessments.py), which names them in its `policy(...)` rather than in a constant. Keep the
# two equal: tests/web/test_family_page_roles.py compares the page with the API.
DECISION_READERS = ("commission", "admin")


@dataclass(frozen=True)
class Flags:
    reused: bool
    missing_photos: bool
    quality_issues: int  # photos whose quality verdict is warn or fail


@dataclass(frozen=True)
class FamilyRow:
    family_id: str
    region: str
    settlement: str
    status: str  # the ASP recommendation, or not_assessed
    level: int | None
    asp_probability: float | None
    # Why the assessment is out of date (a STALE_REASONS code; fusion_model_missing: kept as
    # it was, assessments.held_back), None: current or not assessed.
    stale_reason: str | None
    n_photos: int
    flags: Flags
    decision: str | None  # accept / override on the latest assessment, None: undecided
    # Why the latest assessment needs a human review, as the family page lists it (its
    # `review_reasons`); [] when it does not need one or the family is not assessed.
    review_reasons: list[dict[str, Any]]

    @property
    def current(self) -> bool:
        return self.stale_reason is None

    @property
    def asp_percent_digits(self) -> int:
        return asp_percent_digits(self.asp_probability)


def asp_percent_digits(p: float | None) -> int:
    """The decimals P(eligible) is shown with as a percentage beside the recommendation's
    thresholds: none, unless a whole percentage would move it onto or across one (69.6 %
    shown as 70 % beside "from 70 %: eligible")."""
    if p is None or not math.isfinite(p):
        return 0
    r = get_welfare_config().recommendation
    thresholds = (r.not_eligible_max_probability, r.eligible_min_probability)
    return decimals_keeping_side(100 * p, [100 * t for t in thresholds])


def _flags(
    services: Services, family: Family, photos: list[Photo], linked: AbstractSet[int]
) -> tuple[Flags, list[PhotoFlags]]:
    """The list's flags, as the assessment reads the photos (`assessments.compute`): each
    photo's reuse, repeat and quality (`family_flags`: reuse links, `linked`, then the index),
    and the usable ones counted by welfare.aggregate, the rule the assessment's too-few-photos
    doubt reads (reused, repeated, abstained, non-finite, failed and not-a-dwelling photos are
    not usable); with each photo's flags, for the row's stale check."""
    taxonomy = get_taxonomy()
    config = get_welfare_config()
    scores = [photo_score(p, taxonomy) for p in photos]
    flags = family_flags(services, family, photos, scores, linked=linked, taxonomy=taxonomy)
    visual = aggregate(
        scores,
        flags=flags,
        expected_rooms=config.fusion.expected_rooms,
        taxonomy=taxonomy,
    )
    shown = Flags(
        reused=any(f.reused for f in flags),
        missing_photos=visual.n_usable < config.recommendation.min_usable_photos,
        quality_issues=sum(f.quality_status in ("warn", "fail") for f in flags),
    )
    return shown, flags


@dataclass(frozen=True)
class FamilyList:
    rows: list[FamilyRow]  # at most MAX_ROWS, needs_review first
    total: int  # the families that match the filters; more than len(rows) when cut


def _matching(user: CurrentUser, *, status: str | None, level: int | None) -> Select[Any]:
    """Ids of the families the user may see, filtered by their latest assessment, in order."""
    latest = latest_statement().subquery()
    status_of = func.coalesce(latest.c.asp, NOT_ASSESSED)
    statement = scoped(select(Family.id), user, Family.region).outerjoin(
        latest, latest.c.family_id == Family.id
    )
    if status is not None:
        statement = statement.where(status_of == status)
    if level is not None:
        statement = statement.where(latest.c.level == level)
    rank = case({s: i for i, s in enumerate(STATUSES)}, value=status_of, else_=len(STATUSES))
    return statement.order_by(rank, Family.id)


def family_rows(
    session: Session,
    services: Services,
    user: CurrentUser,
    *,
    status: str | None = None,
    level: int | None = None,
) -> FamilyList:
    """The families the user may see, needs_review first, filtered by status and level.

    Filtering and ordering happen in the database, before the MAX_ROWS cut, so a family that
    matches is never dropped for sitting past the first MAX_ROWS of the region. `session`'s
    transaction (it must hold no writes) ends before the rows' photos are verified.
    """
    matching = _matching(user, status=status, level=level)
    counted = select(func.count()).select_from(matching.order_by(None).subquery())
    total = session.execute(counted).scalar_one()
    ids = list(session.execute(matching.limit(MAX_ROWS)).scalars())
    families = {
        f.id: f for f in session.execute(select(Family).where(Family.id.in_(ids))).scalars()
    }
    photos: dict[str, list[Photo]] = defaultdict(list)
    for photo in session.execute(
        select(Photo).where(Photo.family_id.in_(ids)).order_by(Photo.id)
    ).scalars():
        photos[photo.family_id].append(photo)
    reused = reuse_linked(session, (p for ps in photos.values() for p in ps))
    latest = latest_of(session, ids)
    decided = {
        d.family_id: d
        for d in session.execute(
            select(Decision).where(Decision.family_id.in_(ids)).order_by(Decision.id)
        ).scalars()
    }
    session.commit()  # all is read: the photos are verified holding no transaction
    rows = []
    for family in (families[i] for i in ids):  # the database's order
        a = latest.get(family.id)
        decision = decided.get(family.id)
        flags, photo_flags = _flags(services, family, photos[family.id], reused)
        rows.append(
            FamilyRow(
                family_id=family.id,
                region=family.region,
                settlement=family.settlement,
                status=a.asp if a else NOT_ASSESSED,
                level=a.level if a else None,
                asp_probability=a.result.get("asp_probability") if a else None,
                stale_reason=why_latest_stale(
                    services, a, family, photos[family.id], reused, flags=photo_flags
                )
                if a
                else None,
                n_photos=len(photos[family.id]),
                flags=flags,
                decision=decision.kind
                if decision and a and decision.assessment_id == a.id
                else None,
                review_reasons=_review_reasons(a),
            )
        )
    # On PostgreSQL an assessment committed between the queries can change a row's status;
    # the row is then left out rather than shown under a filter it no longer matches.
    rows = [r for r in rows if (status is None or r.status == status)]
    rows = [r for r in rows if (level is None or r.level == level)]
    return FamilyList(rows=rows, total=total)


def statements(result: dict[str, Any], key: str, *, texts: str) -> list[dict[str, Any]]:
    """What an assessment says under `key` (code, params, text); one stored before codes
    existed has only English sentences (`texts`), shown as they are."""
    stored = result.get(key)
    if stored is not None:
        return list(stored)
    return [{"text": text} for text in result.get(texts, [])]


def _review_reasons(assessment: Assessment | None) -> list[dict[str, Any]]:
    """The doubts of an assessment that needs review, read from the row the list already holds
    (no query of its own); [] for any other."""
    if assessment is None or assessment.asp != "needs_review":
        return []
    return statements(assessment.result, "review_statements", texts="review_reasons")


def rules_checked(
    checks: list[dict[str, Any]],
) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Top-level rule checks in stored order (the income test first), each with the checks
    of its criteria (`<rule>.<criterion>`, e.g. the level-6 rule's four)."""
    rules = [c for c in checks if "." not in str(c.get("name", ""))]
    rules.sort(key=lambda c: c.get("name") != INCOME_TEST)
    return [
        (rule, [c for c in checks if str(c.get("name", "")).startswith(f"{rule.get('name')}.")])
        for rule in rules
    ]


@dataclass(frozen=True)
class FamilyPage:
    family: Family
    assessment: Assessment
    # Why the assessment shown is out of date (latest_current.why_stale); None: current. Shown
    # stale only when it is kept as it is (fusion_model_missing: no fusion model to redo it).
    stale_reason: str | None
    result: dict[str, Any]
    reasons: list[dict[str, Any]]  # statements (welfare.statements), as stored
    review_reasons: list[dict[str, Any]]
    # Every rule checked (income test, level-6 rule), each with its criteria's checks: a met
    # criterion of a rule that did not fire is not a rule that fired.
    rules: list[tuple[dict[str, Any], list[dict[str, Any]]]]
    level_probs: list[tuple[int, float]]
    photos: list[PhotoView]
    show_decisions: bool  # the viewer's role may read decisions (DECISION_READERS)
    decisions: list[tuple[Decision, str]]  # newest first, with who decided; [] if not shown
    copies: AbstractSet[int]  # of `decisions`, those the reports count once (report_overrides)
    decided: Decision | None  # the newest decision on this assessment, not a copy, if shown
    # The family's latest decision (0: none), shown or not: the decision form sends it back,
    # so one sent after another decision was recorded is not recorded unseen.
    last_decision_id: int
    heatmaps: bool
    eligible_min: float
    not_eligible_max: float
    override_reasons: list[str]

    @property
    def asp_percent_digits(self) -> int:
        return asp_percent_digits(self.result.get("asp_probability"))


def family_page(
    session: Session, services: Services, family: Family, user: CurrentUser
) -> FamilyPage:
    """The family's latest assessment (recomputed, audited, if its inputs changed, unless it
    is kept as it is: assessments.held_back) and more."""
    # One read of the photos and their reuse links for the assessment, its staleness and
    # every photo's reuse note (two when the assessment is recomputed: again under the lock);
    # the photos flagged once, and every photo verified holding no transaction
    # (`checked_latest`; the cards once the decisions are read in a session of their own).
    checked = checked_latest(
        session, services, family, actor=(user.id, user.username), flags=FlagsMemo()
    )
    row, photos, links = checked.assessment, checked.inputs.photos, checked.inputs.links
    show_decisions = user.role in DECISION_READERS
    decisions, last_decision_id = decisions_read(services, family.id, shown=show_decisions)
    left_out = copies(d for d, _ in reversed(decisions))  # newest first: oldest first here
    counted = [d for d, _ in decisions if d.id not in left_out]
    recommendation = get_welfare_config().recommendation
    probs = row.result.get("level_probs", {})
    repeated = counted_repeated(row)
    return FamilyPage(
        family=family,
        assessment=row,
        stale_reason=checked.stale_reason,
        result=row.result,
        reasons=statements(row.result, "reason_statements", texts="reasons"),
        review_reasons=statements(row.result, "review_statements", texts="review_reasons"),
        rules=rules_checked(row.result.get("rule_checks", [])),
        level_probs=sorted((int(k), float(v)) for k, v in probs.items()),
        photos=[
            photo_view(
                services, p, user, number=i, linked=links.get(p.id, ()), repeated=p.id in repeated
            )
            for i, p in enumerate(photos, 1)
        ],
        show_decisions=show_decisions,
        decisions=decisions,
        copies=left_out,
        decided=next((d for d in counted if d.assessment_id == row.id), None),
        last_decision_id=last_decision_id,
        heatmaps=heatmaps.available(services),
        eligible_min=recommendation.eligible_min_probability,
        not_eligible_max=recommendation.not_eligible_max_probability,
        override_reasons=list(services.settings.override_reasons),
    )
