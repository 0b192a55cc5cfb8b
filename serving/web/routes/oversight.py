"""Admins' pages: oversight (override rates, fairness, drift, as plots) and the audit trail."""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from serving import reports
from serving.api.deps import CurrentUser, CurrentUserDep, ServicesDep, SessionDep, policy
from serving.api.routes.system import record_check
from serving.decision_check import verify_with_decisions
from serving.web.audit_rows import action_codes, audit_rows
from serving.web.deps import record_view
from serving.web.i18n import Translator, translator
from serving.web.plot_cache import PlotCache, app_plot_cache, plot_with
from serving.web.plots import Plot, Shown, bar_plot, paired_bar_plot, row_label
from serving.web.render import page_language, render
from serving.web.session import PREFIX
from shanyraq.display import decimals_keeping_side

router = APIRouter(prefix=PREFIX, include_in_schema=False)

ADMINS = ("admin",)
AUDIT_ROWS = 200


def _alt(t: Translator, title: str, values: list[str]) -> str:
    """A plot's text alternative: its title, then the figures it draws ("no data" if none)."""
    return t("oversight.plot_alt", title=title, values="; ".join(values) or t("oversight.no_data"))


def _group_plot(
    t: Translator,
    table: dict[str, dict[str, Any]],
    *,
    kind: str,
    field: str,
    title: str,
    ylabel: str,
    written: Shown,
    ylim: tuple[float, float] = (0.0, 1.0),
    axis: Shown | None = None,
    rows: bool = False,
    cache: PlotCache | None = None,
) -> Plot:
    """One figure (`field`) per group, written as the table beside it writes it (`written`;
    `axis` for the y ticks, `written` where none); a group without one reads "no data" in the
    plot and its text alternative, never 0. `rows`: the groups named as the fairness tables'
    rows name them (`row_label`)."""
    labels = [t.label(kind, k) for k in table]
    if rows:
        labels = [row_label(label) for label in labels]
    values = [row[field] for row in table.values()]
    shown = [t("oversight.no_data") if v is None else written(v) for v in values]
    alt = _alt(t, title, [f"{label}: {v}" for label, v in zip(labels, shown, strict=True)])
    return plot_with(
        cache,
        bar_plot,
        labels,
        values,
        title=title,
        ylabel=ylabel,
        ylim=ylim,
        alt=alt,
        no_data=t("oversight.no_data"),
        shown=axis or written,
        form=t.language,
    )


def _rate_plot(
    t: Translator,
    table: dict[str, dict[str, Any]],
    *,
    kind: str,
    title: str,
    rows: bool = False,
    cache: PlotCache | None = None,
) -> Plot:
    """Override rate per group; a group without a rate (no decisions) reads "no data" in the
    plot and its text alternative, never 0 %."""
    return _group_plot(
        t, table, kind=kind, field="override_rate", title=title,
        ylabel=t("oversight.override_rate"), written=t.percent, rows=rows, cache=cache,
    )  # fmt: skip


def _override_plots(
    t: Translator, stats: dict[str, Any], cache: PlotCache | None = None
) -> dict[str, Plot]:
    """By level, region and reason: each shown beside the table of its figures (drawn through
    `cache` where one is given, as for the plots below), its groups named as the table's rows
    name them (`row_label`)."""
    by_reason = stats["by_reason"]
    reason_labels = [row_label(t.label("reason_code", k)) for k in by_reason]
    title = t("oversight.by_reason")
    counts = [f"{k}: {t.number(v)}" for k, v in zip(reason_labels, by_reason.values(), strict=True)]
    return {
        "level": _rate_plot(
            t,
            stats["by_level"],
            kind="level_short",
            title=t("oversight.by_level"),
            rows=True,
            cache=cache,
        ),
        "region": _rate_plot(
            t,
            stats["by_region"],
            kind="region",
            title=t("oversight.by_region"),
            rows=True,
            cache=cache,
        ),
        "reason": plot_with(
            cache,
            bar_plot,
            reason_labels,
            list(by_reason.values()),
            title=title,
            ylabel=t("oversight.overrides"),
            ylim=None,
            alt=_alt(t, title, counts),
            no_data=t("oversight.no_data"),
            shown=t.number,
            form=t.language,
        ),
    }


# Fairness groupings whose override rate the overrides section plots already, from the same
# figures (each family by its latest decision, grouped by the decision's region; the same
# title in English): under fairness such a grouping's plot shows the mean decided level
# instead, the table's figure that no other plot shows, so no picture stands twice.
PLOTTED_ABOVE = ("region",)


def _fairness_plots(
    t: Translator, fairness: dict[str, Any], cache: PlotCache | None = None
) -> dict[str, Plot]:
    """Per grouping, its override rate by group (the gap the section reports), or for one of
    PLOTTED_ABOVE its mean decided level by group, on the configured levels' scale; groups
    named as the table's rows name them."""
    from welfare.criteria import get_welfare_config

    top = float(max(get_welfare_config().level_values))
    plots = {}
    for grouping, block in fairness["groupings"].items():
        named = t.label("grouping", grouping)
        if grouping in PLOTTED_ABOVE:
            plots[grouping] = _group_plot(
                t, block["groups"], kind=grouping, field="mean_decided_level",
                title=t("oversight.mean_level_by", grouping=named),
                ylabel=t("oversight.mean_level"), written=lambda v: t.fixed(v, 2),
                ylim=(0.0, top), axis=t.number, rows=True, cache=cache,
            )  # fmt: skip
        else:
            title = t("oversight.fairness_by", grouping=named)
            plots[grouping] = _rate_plot(
                t, block["groups"], kind=grouping, title=title, rows=True, cache=cache
            )
    return plots


DriftRow = tuple[str, float | None, float | None]


def _shares(side: dict[str, float], keys: list[str]) -> list[float | None]:
    """Each key's share on one side; None for all when the side has no photos (no share of
    nothing: shown as "no data", never 0 %)."""
    return [side.get(k, 0.0) if side else None for k in keys]


def _drift_rows(t: Translator, drift: dict[str, Any]) -> dict[str, list[DriftRow]]:
    """Per head, each value's label (as a table's row names it, `row_label`) with its reference
    and current share: plot and table."""
    rows = {}
    for head, block in drift["heads"].items():
        keys = sorted(set(block["reference"]) | set(block["current"]))
        kind = "room" if head == "room" else "condition"
        labels = [row_label(t.label(kind, k)) for k in keys]
        reference, current = _shares(block["reference"], keys), _shares(block["current"], keys)
        rows[head] = list(zip(labels, reference, current, strict=True))
    return rows


def _psi_shown(t: Translator, drift: dict[str, Any]) -> dict[str, str]:
    """Each head's PSI, two decimals unless fewer would put it on or across the alert line
    (0.2496 beside "above 0.25" is not shown as 0.25)."""
    shown = {}
    for head, block in drift["heads"].items():
        psi = block["psi"]
        digits = 2 if psi is None else decimals_keeping_side(
            psi, [drift["alert_psi"]], least=2, most=6
        )  # fmt: skip
        shown[head] = t.fixed(psi, digits)
    return shown


def _share_or_none(t: Translator, share: float | None) -> str:
    return t("oversight.no_data") if share is None else t.percent(share)


def _drift_plots(
    t: Translator,
    drift: dict[str, Any],
    rows: dict[str, list[DriftRow]],
    psi: dict[str, str],
    cache: PlotCache | None = None,
) -> dict[str, Plot]:
    """A side with no photos draws no bars (NaN) and its text alternative says "no data"."""
    plots = {}
    for head in drift["heads"]:
        labels = [label for label, _, _ in rows[head]]
        reference = [r for _, r, _ in rows[head]]
        current = [c for _, _, c in rows[head]]
        title = t("oversight.drift_of", head=t.label("head", head))
        shares = [
            t("oversight.drift_share", label=label, reference=_share_or_none(t, r),
              current=_share_or_none(t, c))
            for label, r, c in zip(labels, reference, current, strict=True)
        ]  # fmt: skip
        plots[head] = plot_with(
            cache,
            paired_bar_plot,
            labels,
            [math.nan if r is None else r for r in reference],
            [math.nan if c is None else c for c in current],
            names=(t("oversight.reference"), t("oversight.current")),
            title=title,
            alt=f"{_alt(t, title, shares)}; {t('oversight.drift_psi', psi=psi[head])}",
            no_data=t("oversight.no_data"),
            shown=t.percent,
            form=t.language,
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
    """How often, where and why the commission overrides; group gaps; drift of photo scores.

    The figures are gathered on every request; each plot of them is drawn only when the app's
    plot cache keeps none of the same figures, labels and language (serving/web/plot_cache.py)."""
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
    drift_rows, psi_shown = _drift_rows(t, drift), _psi_shown(t, drift)
    cache = app_plot_cache(request.app)
    return render(
        request,
        "oversight.html",
        user=user,
        stats=stats,
        fairness=fairness,
        drift=drift,
        override_plots=_override_plots(t, stats, cache),
        fairness_plots=_fairness_plots(t, fairness, cache),
        drift_rows=drift_rows,
        drift_plots=_drift_plots(t, drift, drift_rows, psi_shown, cache),
        psi_shown=psi_shown,
        psi_alert_shown=_threshold(t, drift["alert_psi"]),
        plotted_above=PLOTTED_ABOVE,
    )


def _known_actions(session: Any, user: CurrentUser, t: Translator) -> list[tuple[str, str]]:
    """The actions the admin's log holds, as (code, label in the reader's words), by label."""
    codes = action_codes(session, user)
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
    `/audit/verify` is: the chain spans every region, and the check is audited as that
    route's is (`audit_verified`). A regional admin's page offers no verification and ignores
    `verify`. A verification without the anchor file's checks (the file missing or empty, as
    after a restore) says so beside its result.
    """
    action = code.strip() or action
    rows, cut = audit_rows(session, user, action, limit=AUDIT_ROWS)
    actions = _known_actions(session, user, translator(page_language(request)))
    may_verify = user.region is None
    checked = (
        verify_with_decisions(session, services.signing_key) if verify and may_verify else None
    )
    anchor_unchecked = checked is not None and bool(checked.notes)  # the only note there is
    if checked is not None:  # audited as the API's check is
        record_check(session, services, user, checked)
    # The filter where one is set; a view without one records no `action` (not a null one).
    filtered = {"action": action} if action else None
    record_view(session, services, user, page="audit", details=filtered)
    session.commit()
    return render(
        request, "audit.html", user=user, rows=rows, cut=cut, action=action, actions=actions,
        known=action in dict(actions), checked=checked, may_verify=may_verify,
        anchor_unchecked=anchor_unchecked,
    )  # fmt: skip
