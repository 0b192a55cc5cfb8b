"""The fairness section of the welfare report (docs/welfare-report.md): FNR, exclusion and level
accuracy per group with bootstrap intervals (Wilson's where the bootstrap cannot be trusted, or
was drawn from too few resamples), and the largest gap between groups with Newcombe's interval."""

from __future__ import annotations

from typing import Any

from welfare.fairness import UNKNOWN_GROUP, WILSON, configured_intervals, least_bootstrap_draws


def fairness_lines(result: dict[str, Any]) -> list[str]:
    """The fairness section of docs/welfare-report.md, for the model `result` names."""
    if "fairness" not in result:
        return []
    model = result["fairness"]["model"]
    drawn = _drawn(result["fairness"])
    settings = _settings(result["fairness"])
    share = (settings or configured_intervals().model_dump())["min_drawn_share"]
    served = ", the model the service uses" if model == result.get("serving_model") else ""
    lines = [
        f"## Fairness (model `{model}`{served}, 95 % intervals)",
        "",
        "FNR: eligible families not recommended `eligible` outright (sent to review or "
        "`not_eligible`). Exclusion: eligible families recommended `not_eligible`. n: the "
        "families a figure rests on (eligible ones for FNR and exclusion); — where a group has "
        f"none. A group's interval is the bootstrap of its families{drawn}; a figure resting on "
        "one family has the whole range 0–100 % instead, and one on which all of its families "
        "agree (0 % or 100 %) the exact Clopper–Pearson interval: a bootstrap of them never "
        "varies. Any other figure keeps its bootstrap interval only where it can be trusted: a "
        "figure whose group was drawn, with its figure defined, in fewer than "
        f"{100 * share:.0f} % of the bootstrap samples (or in none; "
        "configs/welfare.yaml `fairness.intervals.min_drawn_share`), or whose bootstrap gives "
        "an interval that misses the value or has no width (likely for a tiny group or few "
        "bootstrap samples), has Wilson's score interval instead, marked *Wilson*. "
        f"{_too_few(settings)}A figure resting on fewer families than configs/welfare.yaml "
        "`fairness.min_families_per_group` is marked *too small*, and the group of families "
        f"whose attribute is missing (`{UNKNOWN_GROUP}`, e.g. no disability count) *attribute "
        "missing*: both are shown but left out of the largest gap, which compares only the "
        "remaining groups. The largest gap is the highest group minus the lowest; its interval "
        "is Newcombe's hybrid score interval for the difference of two independent shares "
        "(1998, method 10, from the two groups' Wilson intervals), not a bootstrap: it stays "
        "honest where neither group has an event (0 % − 0 %), and may cross 0 (no clear gap).",
        "",
        "| grouping | metric | groups (value [CI], n) | largest gap [CI] |",
        "| --- | --- | --- | --- |",
    ]
    for f in result["fairness"]["figures"]:
        groups = ", ".join(_group_cell(g) for g in f["groups"])
        lines.append(f"| {f['grouping']} | {f['metric']} | {groups} | {_gap_cell(f)} |")
    return lines


def _drawn(fairness: dict[str, Any]) -> str:
    """How the groups' intervals were drawn, where the figures record it ('' where not)."""
    n_boot, seed = fairness.get("n_boot"), fairness.get("seed")
    if n_boot is None or seed is None:
        return ""
    return f" ({n_boot} resamples of all the families evaluated, seed {seed})"


def _settings(fairness: dict[str, Any]) -> dict[str, Any] | None:
    """The interval settings the figures record (GapFigure.intervals); None for figures of
    before they were recorded."""
    recorded = [f["intervals"] for f in fairness["figures"] if f.get("intervals")]
    return recorded[0] if recorded else None


def _too_few(settings: dict[str, Any] | None) -> str:
    """What the page says of the bootstrap's own minimum, and, where the figures' bootstrap
    samples fall short of it, that no interval below is a bootstrap one."""
    if settings is None:  # figures of before the minimum
        return ""
    least, n_boot = settings["min_bootstrap_draws"], settings["n_boot"]
    key = "configs/welfare.yaml `fairness.intervals.min_bootstrap_draws`"
    if n_boot >= least:
        return f"A bootstrap is drawn only from {least} bootstrap samples up ({key}). "
    return (
        f"**{n_boot} bootstrap samples are fewer than the {least} a bootstrap interval needs "
        f"({key}; with fewer than {least_bootstrap_draws()} even their lowest and highest draw "
        "span less than 95 % of the bootstrap), so none was drawn: every interval below is "
        "Wilson's, the whole range or the exact one, none a bootstrap interval.** "
    )


def _fair(value: float | None) -> str:
    """A fairness figure; undefined (no family to rest on) is a dash, never 0."""
    return "—" if value is None else f"{100 * value:.1f} %"


def _group_cell(g: dict[str, Any]) -> str:
    if g["value"] is None:
        return f"{g['group']} — (n = {g['denominator']})"
    small = ", too small" if g["too_small"] else ""
    small += ", attribute missing" if g.get("attribute_missing") else ""
    wilson = ", Wilson" if g.get("ci_method") == WILSON else ""  # no bootstrap to trust
    ci = f"[{_fair(g['ci_low'])}–{_fair(g['ci_high'])}{wilson}]"
    return f"{g['group']} {_fair(g['value'])} {ci} (n = {g['denominator']}{small})"


def _gap_cell(f: dict[str, Any]) -> str:
    left_out = f" ({', '.join(f['left_out'])} left out)" if f["left_out"] else ""
    if f["largest_gap"] is None:
        return (
            "— (not measurable: fewer than two groups with a figure resting on "
            f"{f['min_families']}+ families){left_out}"
        )
    n = {g["group"]: g["denominator"] for g in f["groups"]}
    sides = f"{f['highest']} (n = {n[f['highest']]}) − {f['lowest']} (n = {n[f['lowest']]})"
    ci = f"[{_fair(f['gap_ci_low'])}–{_fair(f['gap_ci_high'])}]"
    return f"{_fair(f['largest_gap'])} {ci}: {sides}{left_out}"
