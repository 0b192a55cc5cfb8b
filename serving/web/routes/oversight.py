"""Admins' pages: oversight (override rates, fairness, drift, as plots) and the audit trail."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import select

from serving import audit, reports
from serving.api.deps import CurrentUser, CurrentUserDep, ServicesDep, SessionDep, policy
from serving.db.models import AuditEntry, User
from serving.web.deps import record_view
from serving.web.i18n import Translator, translator
from serving.web.plots import Plot, bar_plot, paired_bar_plot
from serving.web.render import page_language, render
from serving.web.session import PREFIX

router = APIRouter(prefix=PREFIX, include_in_schema=False)

ADMINS = ("admin",)
AUDIT_ROWS = 200


def _alt(t: Translator, title: str, values: list[str]) -> str:
    """A plot's text alternative: its title, then the figures it draws ("no data" if none)."""
    return t("oversight.plot_alt", title=title, values="; ".join(values) or t("oversight.no_data"))


def _rate_plot(t: Translator, table: dict[str, dict[str, Any]], *, kind: str, title: str) -> Plot:
    """Override rate per group; a group without a rate (no decisions) reads "no data" in the
    plot and its text alternative, never 0 %."""
    labels = [t.label(kind, k) for k in table]
    values = [row["override_rate"] for row in table.values()]
    shown = [t("oversight.no_data") if v is None else t.percent(v) for v in values]
    alt = _alt(t, title, [f"{label}: {v}" for label, v in zip(labels, shown, strict=True)])
    return bar_plot(
        labels,
        values,
        title=title,
        ylabel=t("oversight.override_rate"),
        alt=alt,
        no_data=t("oversight.no_data"),
    )


def _override_plots(t: Translator, stats: dict[str, Any]) -> dict[str, Plot]:
    """By level, region and reason: each shown beside the table of its figures."""
    by_reason = stats["by_reason"]
    reason_labels = [t.label("reason_code", k) for k in by_reason]
    title = t("oversight.by_reason")
    counts = [f"{k}: {v}" for k, v in zip(reason_labels, by_reason.values(), strict=True)]
    return {
        "level": _rate_plot(
            t, stats["by_level"], kind="level_short", title=t("oversight.by_level")
        ),
        "region": _rate_plot(t, stats["by_region"], kind="region", title=t("oversight.by_region")),
        "reason": bar_plot(
            reason_labels,
            list(by_reason.values()),
            title=title,
            ylabel=t("oversight.overrides"),
            ylim=None,
            alt=_alt(t, title, counts),
            no_data=t("oversight.no_data"),
        ),
    }


def _fairness_plots(t: Translator, fairness: dict[str, Any]) -> dict[str, Plot]:
    return {
        grouping: _rate_plot(
            t,
            block["groups"],
            kind=grouping,
            title=t("oversight.fairness_by", grouping=t.label("grouping", grouping)),
        )
        for grouping, block in fairness["groupings"].items()
    }


DriftRow = tuple[str, float, float]


def _drift_rows(t: Translator, drift: dict[str, Any]) -> dict[str, list[DriftRow]]:
    """Per head, each value's label with its reference and current share: plot and table."""
    rows = {}
    for head, block in drift["heads"].items():
        keys = sorted(set(block["reference"]) | set(block["current"]))
        kind = "room" if head == "room" else "condition"
        rows[head] = [
            (t.label(kind, k), block["reference"].get(k, 0.0), block["current"].get(k, 0.0))
            for k in keys
        ]
    return rows


def _drift_plots(
    t: Translator, drift: dict[str, Any], rows: dict[str, list[DriftRow]]
) -> dict[str, Plot]:
    plots = {}
    for head, block in drift["heads"].items():
        labels = [label for label, _, _ in rows[head]]
        reference = [r for _, r, _ in rows[head]]
        current = [c for _, _, c in rows[head]]
        title = t("oversight.drift_of", head=t.label("head", head))
        shares = [
            t("oversight.drift_share", label=label, reference=t.percent(r), current=t.percent(c))
            for label, r, c in zip(labels, reference, current, strict=True)
        ]
        psi = t("oversight.drift_psi", psi=t.fixed(block["psi"], 2))
        plots[head] = paired_bar_plot(
            labels,
            reference,
            current,
            names=(t("oversight.reference"), t("oversight.current")),
            title=title,
            alt=f"{_alt(t, title, shares)}; {psi}",
            no_data=t("oversight.no_data"),
        )
    return plots


def _threshold(t: Translator, value: float) -> str:
    """A configured threshold as written in the config (0.25, 0.125), in the reader's form."""
    decimals = f"{value:.6f}".rstrip("0").split(".")[1]
    return t.fixed(value, len(decimals))


@router.get("/oversight", **policy(*ADMINS))
def oversight(
    request: Request, user: CurrentUserDep, services: ServicesDep, session: SessionDep
) -> Response:
    """How often, where and why the commission overrides; group gaps; drift of photo scores."""
    t = translator(page_language(request))
    stats = reports.override_stats(session, user.region)
    fairness = reports.fairness(session, user.region)
    drift = reports.serving_drift(
        session, user.region, engine=services.pipeline.engine,
        alert_psi=services.settings.drift_alert_psi,
        min_photos=services.settings.drift_min_photos,
    )  # fmt: skip
    record_view(session, services, user, page="oversight")
    session.commit()
    drift_rows = _drift_rows(t, drift)
    return render(
        request,
        "oversight.html",
        user=user,
        stats=stats,
        fairness=fairness,
        drift=drift,
        override_plots=_override_plots(t, stats),
        fairness_plots=_fairness_plots(t, fairness),
        drift_rows=drift_rows,
        drift_plots=_drift_plots(t, drift, drift_rows),
        psi_alert_shown=_threshold(t, drift["alert_psi"]),
    )


def _in_scope(statement: Any, user: CurrentUser) -> Any:
    """A regional admin sees what people of the region did; a national admin everything."""
    if user.region is None:
        return statement
    return statement.join(User, User.username == AuditEntry.actor).where(User.region == user.region)


def _audit_rows(session: Any, user: CurrentUser, action: str) -> list[AuditEntry]:
    statement = select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(AUDIT_ROWS)
    if action:
        statement = statement.where(AuditEntry.action == action)
    return list(session.execute(_in_scope(statement, user)).scalars())


def _known_actions(session: Any, user: CurrentUser, t: Translator) -> list[tuple[str, str]]:
    """The actions the admin's log holds, as (code, label in the reader's words), by label."""
    statement = _in_scope(select(AuditEntry.action).distinct(), user)
    codes = session.execute(statement).scalars()
    return sorted(((code, t.label("audit_action", code)) for code in codes), key=lambda a: a[1])


@router.get("/audit", **policy(*ADMINS))
def audit_log(
    request: Request,
    user: CurrentUserDep,
    services: ServicesDep,
    session: SessionDep,
    action: str = Query("", max_length=64),
    code: str = Query("", max_length=64),
    verify: bool = False,
) -> Response:
    """The newest audit entries (filter by action); optionally the whole chain verified.

    The action is chosen from the ones the log holds (`action`, with translated labels) or
    typed as a code (`code`, which wins). Verifying is for national admins only, as
    `/audit/verify` is: the chain spans every region. A regional admin's page offers no
    verification and ignores `verify`.
    """
    action = code.strip() or action
    rows = _audit_rows(session, user, action)
    actions = _known_actions(session, user, translator(page_language(request)))
    may_verify = user.region is None
    checked = audit.verify(session, services.signing_key) if verify and may_verify else None
    record_view(session, services, user, page="audit", details={"action": action or None})
    session.commit()
    return render(
        request, "audit.html", user=user, rows=rows, action=action, actions=actions,
        known=action in dict(actions), checked=checked, may_verify=may_verify,
    )  # fmt: skip
