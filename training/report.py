"""Evaluation outputs: metrics.json, PNG plots and a Markdown report (the model card, which
shares its sections, is training.model_card).

Plots (training.report_plots): confusion matrices (room, condition), reliability diagrams
before and after calibration (per head), robustness curves (headline metrics against
corruption severity).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from shanyraq.json_values import finite_or_none
from training.recipe import QualityTargets
from training.report_plots import number as _num
from training.report_plots import plot_confusion, plot_reliability, plot_robustness
from training.report_warnings import (
    bound_lines,
    families_claim,
    nonfinite_lines,
    overlap_lines,
    robustness_nonfinite_lines,
    validation_lines,
)
from vision.artifact import ModelArtifact

HEADS = ("room", "condition", "signs")
METRICS_JSON = "metrics.json"  # in the report folder (`write_report`)


def _fmt(value: Any, digits: int = 3, *, why: str = "") -> str:
    """A figure for the reader: "n/a" (and why, if given) where the photos leave it undefined."""
    number = _num(value)
    if not math.isfinite(number):  # an infinite figure is no measurement either
        return f"n/a ({why})" if why else "n/a"
    return f"{number:.{digits}f}"


def headline(metrics: dict[str, Any]) -> dict[str, Any]:
    """The few numbers model.json and the model card carry."""
    test = metrics["test"]
    out: dict[str, Any] = {
        "evaluated_on": metrics.get("data", {}).get("evaluated_split", "test"),
        "n_photos": metrics.get("n_test_photos"),
        "n_families": metrics.get("n_test_families"),
        "room_macro_f1": _num(test["room"]["macro_f1"]),
        "room_accuracy": _num(test["room"]["accuracy"]),
        "not_dwelling_recall": _num(test["room"]["not_dwelling_recall"]),
        "not_dwelling_precision": _num(test["room"]["not_dwelling_precision"]),
        "condition_qwk": _num(test["condition"].get("qwk")),
        "condition_accuracy": _num(test["condition"].get("accuracy")),
        "condition_mae": _num(test["condition"].get("mae")),
        "signs_map": _num(test["signs"]["map"]),
        "ece_before": {h: _num(test["ece"][h]["before"]) for h in HEADS},
        "ece_after": {h: _num(test["ece"][h]["after"]) for h in HEADS},
        # What a perfectly calibrated head would show here (evaluations before it have none).
        "ece_floor": {h: f for h in HEADS if (f := test.get("ece_floor", {}).get(h))},
    }
    if "score_reference" in metrics:  # what the service's drift report compares with
        out["score_reference"] = metrics["score_reference"]
    held = metrics.get("held_out_style")
    if held:
        out["held_out_style"] = {
            "room_macro_f1": _num(held["room"]["macro_f1"]),
            "condition_qwk": _num(held["condition"].get("qwk")),
            "signs_map": _num(held["signs"]["map"]),
        }
        # Bootstrap intervals of the drop (evaluations before they existed have none).
        out["held_out_style_drop_ci"] = {
            name: found["ci"] for name, found in metrics.get("held_out_style_drop", {}).items()
        }
    return out


def finite_headline(head: dict[str, Any]) -> dict[str, Any]:
    """The headline with every infinite figure as NaN (a copy): the report and the model card
    write it "n/a" and never count it as a target met (an infinite macro-F1 would otherwise
    read "inf ... yes")."""

    def finite(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: finite(item) for key, item in value.items()}
        if isinstance(value, list):
            return [finite(item) for item in value]
        if isinstance(value, float) and math.isinf(value):
            return math.nan
        return value

    return {key: finite(value) for key, value in head.items()}


def target_checks(
    head: dict[str, Any], targets: QualityTargets
) -> list[tuple[str, str, str, bool]]:
    """(what, target, reached, met) rows for the report and the model card; a figure NaN or
    infinite reads "n/a" and is not met."""
    head = finite_headline(head)

    def row(
        name: str, goal: str, value: float, met: bool, ci: list[float] | None = None, note: str = ""
    ) -> tuple[str, str, str, bool]:
        # e.g. QWK on photos of one grade (training.metrics.undefined_reasons)
        if not math.isfinite(value):
            return name, goal, "n/a (undefined on these photos)", False
        reached = f"{value:.3f}" + (f" [{_fmt(ci[0])}, {_fmt(ci[1])}]" if ci else "") + note
        return name, goal, reached, bool(met)

    nd_recall = head["not_dwelling_recall"]
    rows = [
        row("room macro-F1", f">= {targets.room_macro_f1}", head["room_macro_f1"],
            head["room_macro_f1"] >= targets.room_macro_f1),
        row("condition QWK", f">= {targets.condition_qwk}", head["condition_qwk"],
            head["condition_qwk"] >= targets.condition_qwk),
        row("signs mAP", f">= {targets.signs_map}", head["signs_map"],
            head["signs_map"] >= targets.signs_map),
        row("not_dwelling recall", f">= {targets.not_dwelling_recall}", nd_recall,
            nd_recall >= targets.not_dwelling_recall),
    ]  # fmt: skip
    floors = head.get("ece_floor", {})
    for name, value in head["ece_after"].items():
        floor = floors.get(name)
        note = f" (calibrated: {_fmt(floor['mean'])}, 95 % {_fmt(floor['high'])})" if floor else ""
        rows.append(row(f"ECE {name} (calibrated)", f"<= {targets.ece_max}", value,
                        value <= targets.ece_max, note=note))  # fmt: skip
    intervals = head.get("held_out_style_drop_ci", {})
    for name, value in head.get("held_out_style", {}).items():
        drop = head[name] - value
        rows.append(row(f"held-out style drop, {name}", f"<= {targets.held_out_style_max_drop}",
                        drop, drop <= targets.held_out_style_max_drop,
                        intervals.get(name)))  # fmt: skip
    return rows


def _floor(floor: dict[str, float] | None) -> str:
    return f"{_fmt(floor['mean'], 4)} (95 % {_fmt(floor['high'], 4)})" if floor else "-"


def write_report(
    out_dir: Path,
    metrics: dict[str, Any],
    *,
    artifact: ModelArtifact,
    targets: QualityTargets | None = None,
) -> Path:
    """metrics.json, plots and report.md in out_dir; returns the report's path.

    metrics.json holds null for a figure the photos leave undefined (JSON has no NaN); the
    plots and the report are drawn from the same values, so they read what the file says."""
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics = finite_or_none(json.loads(json.dumps(metrics, default=_json_default)))
    text = json.dumps(metrics, indent=2, allow_nan=False)
    (out_dir / METRICS_JSON).write_text(text, encoding="utf-8")
    test = metrics["test"]
    plot_confusion(out_dir / "confusion_room.png", test["room"]["confusion"],
                    artifact.labels.room, "room")  # fmt: skip
    if "confusion" in test["condition"]:
        grades = [str(g) for g in artifact.labels.condition]
        plot_confusion(out_dir / "confusion_condition.png", test["condition"]["confusion"],
                        grades, "condition")  # fmt: skip
    plot_reliability(out_dir / "reliability.png", test["reliability"])
    if metrics.get("robustness"):
        plot_robustness(out_dir / "robustness.png", _curves(metrics["robustness"]))
    path = out_dir / "report.md"
    path.write_text(_report_markdown(metrics, artifact, targets or QualityTargets()))
    return path


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def _curves(robustness: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """The robustness figures to draw: each entry without its `nonfinite` counts."""
    return {
        name: {severity: {k: v for k, v in entry.items() if k != "nonfinite"}
               for severity, entry in by_severity.items()}
        for name, by_severity in robustness.items()
    }  # fmt: skip


# How the calibration figures are measured: the report's calibration section and the card.
ECE_CONVENTION = (
    "ECE is top-label for room and condition: the most probable class's (grade's) probability "
    "against whether that class (grade) is right; for signs, every sign's probability against "
    "whether the sign is there. Condition accuracy, MAE and QWK are on the median grade, which "
    "can differ from the most probable one, so the accuracy in the condition reliability "
    "diagram is not the reported condition accuracy."
)


def room_classes_absent(room: dict[str, Any]) -> list[str]:
    """The room classes no evaluated photo is labelled with (recall undefined): macro-F1
    leaves them out."""
    recalls = room.get("per_class_recall", {})
    return [name for name, recall in recalls.items() if math.isnan(_num(recall))]


def room_f1_note(metrics: dict[str, Any]) -> str:
    """How room macro-F1 is averaged, naming the classes it leaves out on these photos."""
    absent = []
    for key, what in (("test", "evaluated"), ("held_out_style", "held-out-style")):
        room = (metrics.get(key) or {}).get("room") or {}
        names = room_classes_absent(room)
        # None present: macro-F1 reads n/a with its reason, no class list needed.
        if names and len(names) < len(room.get("per_class_recall", {})):
            absent.append(f"{', '.join(names)} (in no {what} photo)")
    left_out = f"; left out here: {'; '.join(absent)}" if absent else ""
    return (
        "Room macro-F1 averages F1 over the room classes among the photos' true labels only (a "
        "class predicted but never a true label counts only through the recall of the classes "
        f"it was mistaken for){left_out}."
    )


def target_table(
    head: dict[str, Any], targets: QualityTargets, metrics: dict[str, Any] | None = None
) -> list[str]:
    """The targets table and its notes; with `metrics`, how room macro-F1 is averaged there."""
    lines = ["| metric | target | reached | met |", "| --- | --- | ---: | --- |"]
    for name, goal, value, met in target_checks(head, targets):
        lines.append(f"| {name} | {goal} | {value} | {'yes' if met else 'no'} |")
    if metrics is not None:
        lines += ["", room_f1_note(metrics)]
    if head.get("held_out_style_drop_ci"):
        lines += [
            "",
            "A held-out-style drop is the in-style score minus the score on photos of styles "
            "never trained on; in brackets its 95 % bootstrap interval (each set resampled on "
            "its own). It is met on the point value; an interval reaching past the target "
            "means the photos cannot tell whether it is met.",
        ]
    if head.get("ece_floor"):
        lines += [
            "",
            "Beside each ECE: the ECE a perfectly calibrated head with the same confidences "
            "would show on these photos (mean and 95th percentile of 500 draws). ECE over a few "
            "hundred photos is biased upwards, so a figure under that percentile cannot be told "
            "apart from a calibrated head here, and a target below the mean cannot be shown met "
            "on this many photos.",
        ]
    return lines


def ceiling_lines(metrics: dict[str, Any], targets: QualityTargets) -> list[str]:
    """What a perfect reader reaches on the synthetic data (training.synth.ceiling), if known."""
    found = metrics.get("data", {}).get("condition_ceiling")
    if not found:
        return []
    from training.synth.ceiling import ConditionCeiling

    ceiling = ConditionCeiling.model_validate(found)
    needed = ceiling.wear_sd_for(targets.condition_qwk)
    reach = (
        f"reaching QWK {targets.condition_qwk} needs the wear read within sd {needed:g} "
        "(on its 0..1 scale)"
        if needed is not None
        else f"no reader reaches the target QWK {targets.condition_qwk} on this data"
    )
    curve = ", ".join(f"{sd} -> {qwk:.3f}" for sd, qwk in ceiling.qwk.items())
    return [
        f"Ceiling of the synthetic data: the generator grades a photo from its signs and wear "
        f"plus noise, so a reader that sees both exactly reaches condition QWK "
        f"{ceiling.qwk['0']:.3f} (grade accuracy {ceiling.exact_accuracy:.3f}); {reach}. "
        f"QWK by the reader's wear error (sd): {curve} ({ceiling.n_photos} sampled photos).",
        "",
    ]


def _report_markdown(
    metrics: dict[str, Any], artifact: ModelArtifact, targets: QualityTargets
) -> str:
    head = headline(metrics)
    test = metrics["test"]
    condition = test["condition"]
    lines = [
        f"# Evaluation of {artifact.model_version}",
        "",
        *overlap_lines(metrics),
        *nonfinite_lines(metrics),
        f"Measured on {head['n_photos']} photos of {head['n_families']} "
        f"{families_claim(metrics)} ({head['evaluated_on']} split) with the exported ONNX model.",
        "",
        *validation_lines(metrics),
        *target_table(head, targets, metrics),
        "",
        *ceiling_lines(metrics, targets),
        "## Room",
        "",
        "| class | recall |",
        "| --- | ---: |",
        *(
            f"| {k} | {_fmt(v, why='no photo of it')} |"
            for k, v in test["room"]["per_class_recall"].items()
        ),
        "",
        "not_dwelling precision "
        f"{_fmt(head['not_dwelling_precision'], why='no photo was predicted not_dwelling')}.",
        "",
        "## Condition",
        "",
        f"QWK {_fmt(head['condition_qwk'])}, accuracy {_fmt(head['condition_accuracy'])}, "
        f"MAE {_fmt(head['condition_mae'])} grades{_condition_note(condition)}",
        "",
        "## Signs (average precision)",
        "",
        *(
            f"- {k}: {_fmt(v, why='needs a photo with it and one without')}"
            for k, v in test["signs"]["ap"].items()
        ),
        "",
        "## Calibration (ECE, 15 bins)",
        "",
        "| head | before | after | after, 95 % CI | a calibrated head | temperature | offsets |",
        "| --- | ---: | ---: | --- | --- | ---: | --- |",
        *(
            f"| {h} | {_fmt(head['ece_before'][h], 4)} | {_fmt(head['ece_after'][h], 4)} | "
            f"{_interval(test.get('ece_ci', {}).get(h))} | "
            f"{_floor(head['ece_floor'].get(h))} | "
            f"{getattr(artifact.temperatures, h):.3f} | "
            f"{_offsets(getattr(artifact.biases, h, []))} |"
            for h in HEADS
        ),
        "",
        "The interval is a bootstrap over the evaluated photos. 'A calibrated head' is the ECE a "
        "perfectly calibrated head with the same confidences would show on this many photos "
        "(mean and 95th percentile of 500 draws): ECE over a few hundred photos is biased "
        "upwards, so a figure below that 95th percentile is within what sampling alone gives. "
        + ECE_CONVENTION,
        "",
        *bound_lines(metrics),
        "![reliability](reliability.png) ![room confusion](confusion_room.png)",
        "",
    ]
    if metrics.get("robustness"):
        lines += ["## Robustness", "", *robustness_nonfinite_lines(metrics)]
        lines += ["![robustness](robustness.png)", ""]
    return "\n".join(lines)


def _condition_note(condition: dict[str, Any]) -> str:
    """The end of the condition line: why its figures are undefined, or its confusion plot
    (drawn only where a photo has a grade)."""
    if not condition.get("n"):
        return " (no evaluated photo has a condition grade)."
    one_grade = math.isnan(_num(condition.get("qwk")))
    note = (
        " (QWK undefined: the photos and the predictions show one grade only)" if one_grade else ""
    )
    plot = " ![confusion](confusion_condition.png)" if "confusion" in condition else ""
    return f"{note}.{plot}"


def _interval(ci: list[float] | None) -> str:
    return "—" if not ci else f"[{_fmt(ci[0], 4)}, {_fmt(ci[1], 4)}]"


def _offsets(values: list[float]) -> str:
    return "—" if not values else ", ".join(f"{v:+.2f}" for v in values)
