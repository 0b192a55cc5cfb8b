"""`shanyraq assessments refresh` as one audited run: a new assessment version for each
family (of a region) whose latest assessment is stale, whatever made it so.

serving.reassessment finds the stale families and recomputes each in its own transaction;
here the run around them: its start and end audit entries, a family that cannot be
recomputed named and passed over, and the report the command prints.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from serving import audit
from serving.assessments import STALE_REASONS, fusion_version, outcome_rests_on
from serving.db.session import session_scope
from serving.reassessment import StaleAssessment, find_stale, recompute, refuse_rules_only
from shanyraq.errors import ShanyraqError

if TYPE_CHECKING:
    from serving.state import Services

logger = logging.getLogger(__name__)

# The audit actions of a refresh run: one before its first family, one when it ends.
RUN_STARTED = "assessments_refresh_started"
RUN_ENDED = "assessments_refreshed"


class RefreshFamiliesFailedError(ShanyraqError):
    """Families a refresh could not recompute (their record no longer validates, ...); the
    others were refreshed."""

    code = "refresh_families_failed"

    @classmethod
    def of(cls, report: RefreshReport, *, again: str = "") -> RefreshFamiliesFailedError:
        """`again`: the options to run the command again with (--as NAME, --region, --config),
        so that the command the message names runs as written."""
        failed = report.failed
        shown = ", ".join(f"{family} ({code})" for family, code in list(failed.items())[:10])
        more = f" and {len(failed) - 10} more" if len(failed) > 10 else ""
        return cls(
            f"{len(failed)} family(ies) could not be recomputed and keep their stale assessment: "
            f"{shown}{more}. The others were refreshed. Fix what each one's error above says "
            f"(e.g. correct the family's record), then run `shanyraq assessments refresh{again}` "
            "again"
        )


@dataclass(frozen=True)
class Refreshed:
    """One stale family's outcome: the version made for it, or None when it was already
    current by its turn (a page view or another refresh recomputed it meanwhile) or could not
    be recomputed: then `error` is the code of the domain error it raised, `detail` its text."""

    family_id: str
    reason: str
    version: int | None
    error: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class RefreshReport:
    region: str | None
    families: list[Refreshed]

    @property
    def found(self) -> dict[str, int]:
        """Stale assessments found, per reason."""
        return count_reasons(self.families)

    @property
    def refreshed(self) -> dict[str, int]:
        """New versions made by this run, per reason."""
        return count_reasons(f for f in self.families if f.version is not None)

    @property
    def already_current(self) -> int:
        return sum(f.version is None and f.error is None for f in self.families)

    @property
    def failed(self) -> dict[str, str]:
        """Families that could not be recomputed: family id -> error code."""
        return {f.family_id: f.error for f in self.families if f.error is not None}


def count_reasons(items: Iterable[StaleAssessment | Refreshed]) -> dict[str, int]:
    """How many of `items` per reason, in STALE_REASONS order (reasons with none left out)."""
    counts = Counter(item.reason for item in items)
    return {reason: counts[reason] for reason in STALE_REASONS if counts[reason]}


def _audit_run(
    services: Services,
    actor: tuple[int, str],
    action: str,
    region: str | None,
    details: dict[str, Any],
) -> int:
    """One audit entry about the run, in its own transaction; its seq."""
    with session_scope(services.sessions) as session:
        return audit.append(
            session, services.signing_key, actor=actor[1], action=action,
            target=f"region:{region or 'all'}", details={"region": region, **details},
        ).seq  # fmt: skip


def refresh(
    services: Services,
    *,
    actor: tuple[int, str],
    region: str | None = None,
    progress: bool | None = None,
    allow_rules_only: bool = False,
) -> RefreshReport:
    """A new assessment version for each family (of `region`) whose latest one is stale.

    Audited as a run: `assessments_refresh_started` before the first family (actor, region,
    the fusion model and welfare rules it assesses with, the stale assessments planned per
    reason), then one transaction per family, each new version audited by
    `assessments.compute`, then `assessments_refreshed` (the start's seq, the outcome, counts
    per reason). A family that raises a domain error (its record no longer validates, ...) is
    left stale and named (`failed`, outcome `completed_with_failures`) and the run goes on:
    otherwise every run would stop at the same family, and the ones after it would never be
    refreshed. A run that fails otherwise records the outcome `failed` (or `interrupted`),
    the family it was on and what it did so far, if the database still takes it; a run
    killed outright leaves its start entry without an end. `progress`: a progress bar; None
    shows it only on a terminal.
    Refused before anything is written when the services have no fusion model and stale
    assessments rest on one (`refuse_rules_only`), unless `allow_rules_only` (or the
    services' settings allow it).
    """
    from tqdm import tqdm

    stale = find_stale(services, region=region)
    fusion = fusion_version(services)
    allow_rules_only = allow_rules_only or services.settings.allow_rules_only
    refuse_rules_only((s.fusion for s in stale), fusion=fusion, allow_rules_only=allow_rules_only)
    planned = count_reasons(stale)
    rests_on = {"fusion": fusion, **outcome_rests_on(services.fusion_model)}
    started = _audit_run(services, actor, RUN_STARTED, region, {
        "model_versions": rests_on, "planned": len(stale), "stale": planned,
    })  # fmt: skip
    done: list[Refreshed] = []
    warned: set[str] = set()  # error codes already logged as a warning in this run
    item: StaleAssessment | None = None
    try:
        for item in tqdm(
            stale, desc="refreshing", unit="family",
            disable=None if progress is None else not progress,
        ):  # fmt: skip
            done.append(_refresh_one(services, item, actor, allow_rules_only, warned))
    except BaseException as exc:
        report = RefreshReport(region=region, families=done)
        ended = {"outcome": "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed",
                 "error": getattr(exc, "code", None) or type(exc).__name__,
                 "family_id": item.family_id if item is not None else None}  # fmt: skip
        try:
            _audit_run(services, actor, RUN_ENDED, region, _end(report, started, planned, ended))
        except Exception:  # the database may be what failed: the run's own error is raised
            logger.exception("could not audit the end of refresh run %d", started)
        raise
    report = RefreshReport(region=region, families=done)
    ended = {"outcome": "completed_with_failures" if report.failed else "completed"}
    _audit_run(services, actor, RUN_ENDED, region, _end(report, started, planned, ended))
    return report


def _refresh_one(
    services: Services,
    item: StaleAssessment,
    actor: tuple[int, str],
    allow_rules_only: bool,
    warned: set[str],
) -> Refreshed:
    """`recompute` one stale family; a domain error it raises is its outcome, logged: as a
    warning the first time its code comes in a run (`warned`), after that at debug level,
    so a run where every family fails the same way does not print a line per family (the
    summary groups them; the end audit entry names every one)."""
    try:
        version = recompute(
            services, item.family_id, actor=actor, allow_rules_only=allow_rules_only,
            flags=item.flags,  # as finding it flagged its photos: not verified again
        )  # fmt: skip
    except ShanyraqError as exc:
        level = logging.DEBUG if exc.code in warned else logging.WARNING
        warned.add(exc.code)
        logger.log(
            level, "refresh: family %s not recomputed: [%s] %s", item.family_id, exc.code, exc
        )
        return Refreshed(item.family_id, item.reason, None, error=exc.code, detail=exc.message)
    return Refreshed(item.family_id, item.reason, version)


def _end(
    report: RefreshReport, started: int, planned: dict[str, int], ended: dict[str, str | None]
) -> dict[str, Any]:
    """The details of a run's end entry: its start entry, outcome and counts."""
    return {
        "started_seq": started, **ended, "stale": planned, "refreshed": report.refreshed,
        "already_current": report.already_current, "failed": report.failed,
        "not_reached": sum(planned.values()) - len(report.families),
    }  # fmt: skip
