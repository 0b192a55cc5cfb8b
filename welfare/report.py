"""Evaluation report: figures as JSON, plots as PNG, a Markdown page (docs/welfare-report.md).

ceiling.json (`welfare ceiling`) and real_scores.json (`welfare evaluate-real`) found in the
output folder are merged in only when they belong to the evaluation just made (ceiling.json:
same default model, data seed and fusion recipe; real_scores.json: same data and model
versions; both: same configs/welfare.yaml, targets aside); a stale or damaged one (unreadable,
or with a field the report cannot read) is left out, with a warning and a line saying why. The
targets the figures are held against are configs/welfare.yaml `targets`, passed in by the caller.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shanyraq.atomic import atomic_file
from shanyraq.display import decimals_keeping_side, side
from shanyraq.json_values import finite_or_none
from welfare.fairness_report import fairness_lines
from welfare.report_measurements import MEASUREMENTS, merge_measurements

if TYPE_CHECKING:
    from welfare.criteria import Targets

log = logging.getLogger(__name__)


def write_report(
    result: dict[str, Any],
    *,
    out_dir: Path,
    markdown: Path,
    context: dict[str, Any],
    levels: list[int],
    targets: Targets,
) -> Path:
    """Write metrics.json and PNG plots under out_dir and the Markdown page; returns the page.

    Everything is written first under temporary names (the figures in a staging folder inside
    out_dir, the page beside itself); only then are the figures moved into place and the page
    renamed, last: the page's rename is the commit point. A failure while writing leaves the
    old figures and page as they were (and no temporary file behind). A figure the families
    leave undefined is null in metrics.json (JSON has no NaN), and the page reads the same.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    public = {k: v for k, v in result.items() if not k.startswith("_")}
    public["context"] = context
    from welfare.real_report import real_score_lines

    sections = {
        "ceiling": ceiling_lines,
        "real_scores": lambda real: real_score_lines(real, targets=targets, context=context),
    }
    merge_measurements(public, out_dir, sections)
    public = finite_or_none(public)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=out_dir))
    try:
        text = json.dumps(public, indent=2, allow_nan=False)
        (staging / "metrics.json").write_text(text, encoding="utf-8")
        staged = _plots(public, out_dir=staging, levels=levels, default=context["default_model"])
        links = {k: os.path.relpath(out_dir / v.name, markdown.parent) for k, v in staged.items()}
        page = render_markdown(public, context=context, plots=links, targets=targets)
        with atomic_file(markdown) as page_tmp:
            page_tmp.write_text(page, encoding="utf-8")
            for figure in sorted(staging.iterdir()):
                figure.replace(out_dir / figure.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("report written to %s", markdown)
    return markdown


def _plots(
    result: dict[str, Any], *, out_dir: Path, levels: list[int], default: str
) -> dict[str, Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = result["models"]
    paths = {}
    if default in models:
        matrix = models[default]["overall"]["level"]["confusion"]
        fig, ax = plt.subplots(figsize=(4.5, 4))
        ax.imshow(matrix, cmap="Blues")
        for i, row in enumerate(matrix):
            for j, v in enumerate(row):
                ax.text(j, i, str(v), ha="center", va="center", fontsize=8)
        ax.set_xticks(range(len(levels)), [str(v) for v in levels])
        ax.set_yticks(range(len(levels)), [str(v) for v in levels])
        ax.set_xlabel("predicted level")
        ax.set_ylabel("true level")
        ax.set_title(f"{default}: confusion")
        paths["confusion"] = _save(fig, out_dir / "confusion.png")
    fig, ax = plt.subplots(figsize=(6, 3.5))
    names = list(models)
    overall = [_nan(models[n]["overall"]["level"]["accuracy"]) for n in names]
    hidden = [_nan(_hidden_accuracy(models[n])) for n in names]  # none: no bar, never 0
    xs = range(len(names))
    ax.bar([x - 0.2 for x in xs], overall, width=0.4, label="all test families")
    ax.bar([x + 0.2 for x in xs], hidden, width=0.4, label="hidden-income families")
    ax.set_xticks(list(xs), names)
    ax.set_ylim(0, 1)
    ax.set_ylabel("level accuracy")
    ax.legend(fontsize=8)
    paths["accuracy"] = _save(fig, out_dir / "accuracy.png")
    if "fairness" in result:
        paths["fairness"] = _fairness_plot(result["fairness"]["figures"], out_dir, plt)
    return paths


def _fairness_plot(figures: list[dict[str, Any]], out_dir: Path, plt: Any) -> Path:
    chosen = [f for f in figures if f["metric"] == "fnr"]
    fig, axes = plt.subplots(1, len(chosen), figsize=(3.2 * len(chosen), 3.2), squeeze=False)
    for ax, figure in zip(axes[0], chosen, strict=True):
        groups = figure["groups"]
        # An undefined FNR (no eligible family) gets no bar, never a bar at 0.
        values = [math.nan if g["value"] is None else g["value"] for g in groups]
        low = [0.0 if g["value"] is None else max(0.0, g["value"] - g["ci_low"]) for g in groups]
        high = [0.0 if g["value"] is None else max(0.0, g["ci_high"] - g["value"]) for g in groups]
        ax.bar(range(len(groups)), values, yerr=[low, high], capsize=3)
        names = [g["group"] + (" (—)" if g["value"] is None else "") for g in groups]
        ax.set_xticks(range(len(groups)), names, rotation=60, fontsize=7)
        ax.set_title(f"FNR by {figure['grouping']}", fontsize=9)
    return _save(fig, out_dir / "fairness_fnr.png")


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def _nan(value: float | None) -> float:
    """A figure to plot: undefined (null) is NaN, which draws no bar."""
    return math.nan if value is None else value


def is_undefined(value: float | None) -> bool:
    """Undefined: null as metrics.json holds it, or NaN as an older file held it."""
    return value is None or math.isnan(value)


def _pct(value: float | None) -> str:
    return "n/a" if is_undefined(value) else f"{100 * value:.1f} %"  # type: ignore[operator]


def _fixed(value: float | None, digits: int = 3) -> str:
    return "n/a" if is_undefined(value) else f"{value:.{digits}f}"


def share(value: float) -> str:
    """A configured share as the report names it: 0.92 -> "92 %" (figures, not results)."""
    return f"{100 * value:g} %"


def _target_rows(result: dict[str, Any], context: dict[str, Any], targets: Targets) -> list[str]:
    models, default = result["models"], context["default_model"]
    level, asp = models[default]["overall"]["level"], models[default]["overall"]["asp"]
    gain = targets.hidden_income_gain_points
    return [
        _target_row(f"Level accuracy ≥ {share(targets.level_accuracy)}", level["accuracy"],
                    targets.level_accuracy, at_least=True),
        _target_row(f"Fused beats tabular-only by ≥ {gain:g} points on hidden-income families",
                    _hidden_gain(models, default), gain, at_least=True, points=True),
        _target_row(f"Exclusion error ≤ {share(targets.exclusion_error)}",
                    asp["exclusion_error"], targets.exclusion_error, at_least=False),
        _target_row(f"needs_review ≤ {share(targets.needs_review_rate)}",
                    asp["needs_review_rate"], targets.needs_review_rate, at_least=False),
    ]  # fmt: skip


def _target_row(label: str, value: float | None, target: float, *, at_least: bool,
                points: bool = False) -> str:  # fmt: skip
    """A share in % or a gain in points, never rounded onto or across its target (+4.96)."""
    if is_undefined(value):
        return f"| {label} | n/a | NOT reached |"
    shown, goal = ((1 if points else 100) * v for v in (value, target))  # type: ignore[operator]
    digits = decimals_keeping_side(shown, [goal], least=1, most=9)
    met = side(shown, goal) in ((0, 1) if at_least else (-1, 0))
    text = f"{shown:+.{digits}f} points" if points else f"{shown:.{digits}f} %"
    return f"| {label} | {text} | {'reached' if met else 'NOT reached'} |"


def _hidden_accuracy(model: dict[str, Any]) -> float | None:
    return model["hidden_income"]["level"]["accuracy"] if model["hidden_income"] else None


def _hidden_gain(models: dict[str, Any], default: str) -> float | None:
    """Points a fused model gains over its tabular twin on the same hidden-income families."""
    pairs = [("lgbm_fused", "lgbm_tabular"), ("rf_fused", "rf_tabular")]
    for fused, tabular in sorted(pairs, key=lambda pair: default not in pair):  # default's first
        if fused in models and tabular in models:
            a, b = _hidden_accuracy(models[fused]), _hidden_accuracy(models[tabular])
            return None if is_undefined(a) or is_undefined(b) else 100 * (a - b)  # type: ignore[operator]
    return None


def render_markdown(
    result: dict[str, Any], *, context: dict[str, Any], plots: dict[str, str], targets: Targets
) -> str:
    lines = [
        "# Welfare fusion: evaluation report",
        "",
        "_Generated by `shanyraq welfare evaluate`; do not edit by hand._",
        "",
        f"Command: `{context['command']}`",
        "",
        *_models_named(result, context),
        "## Data: synthetic families with **simulated** photo scores",
        "",
        context["data_note"],
        "",
        "## Targets",
        "",
        f"Default model: `{context['default_model']}`.",
        "",
        "| target | reached value | status |",
        "| --- | --- | --- |",
        *_target_rows(result, context, targets),
        "",
        "Accuracy, macro-F1, QWK and needs_review are over all test families. Exclusion error: "
        "the share of the families eligible by the data's own label recommended `not_eligible`; "
        "a family sent to review is not counted as excluded, hence the needs_review target. "
        "Inclusion error: the share of the others recommended `eligible`.",
        "",
        "## Models (held-out test families)",
        "",
        "| model | accuracy | macro-F1 | QWK | exclusion | inclusion | needs_review "
        "| hidden-income accuracy |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, m in result["models"].items():
        lv, asp = m["overall"]["level"], m["overall"]["asp"]
        hidden = _hidden_accuracy(m)
        lines.append(
            f"| {name} | {_pct(lv['accuracy'])} | {_fixed(lv['macro_f1'])} | {_fixed(lv['qwk'])} | "
            f"{_pct(asp['exclusion_error'])} | {_pct(asp['inclusion_error'])} | "
            f"{_pct(asp['needs_review_rate'])} | {_pct(hidden)} |"
        )
    lines += ["", "Level accuracy by case (default model):", ""]
    by_case = result["models"][context["default_model"]]["accuracy_by_case"]
    lines += [f"- {case}: {_pct(acc)}" for case, acc in by_case.items()]
    lines += [""] + [f"![{k}]({v})" for k, v in plots.items()] + [""]
    lines += ceiling_lines(result.get("ceiling"))
    from welfare.real_report import real_score_lines

    lines += real_score_lines(result.get("real_scores"), targets=targets, context=context)
    lines += _skipped_lines(result.get("skipped") or {})
    lines += fairness_lines(result)
    lines += ["", "## Notes and limits", "", *context.get("notes", []), ""]
    return "\n".join(lines)


def _models_named(result: dict[str, Any], context: dict[str, Any]) -> list[str]:
    """Which model the service uses, and which model each part of the report is about."""
    serving = context.get("serving_model")
    if serving is None:  # a context from before it was recorded
        return []
    fairness = result.get("fairness", {}).get("model")
    return [
        f"The service assesses families with `{serving}` (configs/welfare.yaml "
        f"`fusion.serving_model`). The targets are held against the default model "
        f"`{context['default_model']}` (`fusion.default_model`)"
        + (f"; fairness is reported for `{fairness}`." if fairness else "."),
        "",
    ]


def _skipped_lines(skipped: dict[str, dict[str, str]]) -> list[str]:
    """One line per measurement file left out because it belongs to other models or data."""
    lines = [
        f"_{s['file']} in the output folder was left out: {s['why']}. Run `shanyraq "
        f"{MEASUREMENTS[key][0]}` again to measure these models._"
        for key, s in skipped.items()
    ]
    return [line for pair in zip(lines, [""] * len(lines), strict=True) for line in pair]


def ceiling_lines(ceiling: dict[str, Any] | None) -> list[str]:
    """The ceiling section: test accuracy with simulated vs noise-free photo scores."""
    if not ceiling:
        return []
    sizes = sorted({r["n_train"] for r in ceiling["rows"]})
    readings = list(dict.fromkeys(r["reading"] for r in ceiling["rows"]))
    value = {(r["reading"], r["n_train"]): r["accuracy"] for r in ceiling["rows"]}
    recipe = ceiling.get("recipe")  # recorded since ceiling.json carries its recipe
    calibrates = (
        share(recipe["calibration_fraction"]) if recipe else "the recipe's `calibration_fraction`"
    )
    lines = [
        f"## Ceiling: how much of the error is the data's own noise (`{ceiling['model']}`)",
        "",
        f"Command: `{ceiling['command']}` ({ceiling['n_families']:,} families, seed "
        f"{ceiling['seed']}, {ceiling['n_test']:,} test families; {calibrates} of each training "
        "set calibrates). Noise-free scores are a perfect photo reader: each photo's true room, "
        "grade and signs. At the largest size, more data adds little; what the perfect reader "
        "still gets wrong is noise in the data itself (photos are a noisy view of the home, "
        "income a noisy view of the level), which no model can remove.",
        "",
        "| photo scores | " + " | ".join(f"{n:,} training families" for n in sizes) + " |",
        "| --- |" + " --- |" * len(sizes),
    ]
    for reading in readings:
        cells = [_pct(value.get((reading, n))) for n in sizes]
        lines.append(f"| {reading} | " + " | ".join(cells) + " |")
    return [*lines, ""]
