"""The evaluation report's warnings, each a few Markdown lines or none: photos the model
trained on among those evaluated, figures from validation, photos left out as non-finite (in
the evaluation and in the robustness curves), calibration temperatures at their bound; and
what the report and the card may claim of the evaluated families (families_claim): held out
only as far as the evaluation verified it."""

from __future__ import annotations

from typing import Any


def overlap_lines(metrics: dict[str, Any]) -> list[str]:
    """A warning when evaluated photos are ones the model was trained or validated on.

    Written by `training.leak_guard.check_overlap`; absent (builds) means nothing to say.
    """
    data = metrics.get("data", {})
    n_photos = metrics.get("n_test_photos", 0) + metrics.get("n_held_out_style_photos", 0)
    where = (
        f"rows of splits {', '.join(data.get('training_splits_compared', []))} in "
        f"`{data.get('training_manifest', '?')}`"
    )
    inflated = "The figures here are inflated: do not quote them as results on unseen photos."
    lines: list[str] = []
    if overlap := data.get("overlap_with_training"):
        lines += [
            f"> **WARNING: {overlap} of the {n_photos} evaluated photos are photos this model "
            f"was trained or validated on** (same sha256 as {where}). {inflated}",
            "",
        ]
    if family_overlap := data.get("family_overlap_with_training"):
        lines += [
            f"> **WARNING: {family_overlap} of the {n_photos} evaluated photos are other photos "
            f"of {data.get('families_overlapping_training', '?')} families this model was "
            f"trained or validated on** (same family_id as {where}). {inflated}",
            "",
        ]
    if lines:
        return lines
    if data.get("training_photos_known") is False:
        split = data.get("evaluated_split", "test")
        # A train or val split (or all) of a manifest is most likely the model's own: its
        # photos trained the model or chose its epoch and fitted its calibration.
        own = (
            f" These are the manifest's {split} photos: if it is the manifest the model was "
            "trained on, the model trained or was validated on them and the figures are "
            "inflated."
            if split != "test"
            else ""
        )
        return [
            "> **WARNING: Not checked against the model's training photos** "
            f"({data.get('training_photos_unknown_reason', 'unknown')}): whether the model "
            f"trained or was validated on these photos or their families is unknown.{own} Do "
            "not quote the figures as results on unseen photos until the check has run.",
            "",
        ]
    return []


def held_out_status(metrics: dict[str, Any]) -> str:
    """What the evaluation verified about its photos being unseen by the model:

    "overlap": the leak guard found photos or families the model trained or validated on;
    "checked": it compared them with the model's training photos and found none;
    "build": a build's own test split (its families checked to be in one split only);
    "validation": a build's validation split (kept out of training, but it chose the epoch
    and fitted the calibration); "unchecked": nothing was (unknown training photos, or
    metrics that say neither).
    """
    data = metrics.get("data", {})
    if data.get("overlap_with_training") or data.get("family_overlap_with_training"):
        return "overlap"
    if data.get("training_photos_known") is True:
        return "checked"
    if data.get("training_photos_known") is None and "evaluated_on_validation" in data:
        return "validation" if data["evaluated_on_validation"] else "build"
    return "unchecked"


def families_claim(metrics: dict[str, Any]) -> str:
    """What "N photos of M families ..." may say of those families: held out only as far as
    the evaluation verified it (held_out_status)."""
    data = metrics.get("data", {})
    status = held_out_status(metrics)
    if status == "overlap":
        same = data.get("overlap_with_training") or 0
        other = data.get("family_overlap_with_training") or 0
        families = data.get("families_overlapping_training") or 0
        return (
            f"families, NOT all held out: {same} evaluated photos are photos the model was "
            f"trained or validated on and {other} are other photos of {families} families it "
            "was trained or validated on, so the figures are inflated"
        )
    if status == "checked":
        splits = ", ".join(data.get("training_splits_compared", []))
        return f"families never seen in training (checked against its {splits} photos)"
    if status == "build":
        return "families never seen in training"
    if status == "validation":
        return (
            "families kept out of training, but they chose the epoch and fitted the "
            "calibration, so the figures are inflated"
        )
    return (
        "families NOT checked against the model's training photos: whether it saw them in "
        "training is unknown"
    )


def validation_lines(metrics: dict[str, Any]) -> list[str]:
    """A warning when a build had no test split and measured on its validation split."""
    if not metrics.get("data", {}).get("evaluated_on_validation"):
        return []
    return [
        "> **WARNING: these figures come from the validation split, not a test split.** The "
        "validation split chose the best epoch and fitted the calibration, so the figures "
        "below overstate how the model does on photos it never saw. Add a test split of "
        "families kept out of training and validation, and measure again.",
        "",
    ]


def nonfinite_lines(metrics: dict[str, Any]) -> list[str]:
    """A warning when photos were left out because the model's scores on them are NaN or
    infinite (`training.calibrate.finite_only`); evaluations before it counted none."""
    lines = []
    for key, what in (("test", "evaluated"), ("held_out_style", "held-out-style")):
        counts = (metrics.get(key) or {}).get("nonfinite") or {}
        if any(counts.values()):
            lines += [
                f"> **WARNING: on some {what} photos the model gave NaN or infinite scores** "
                f"(photos: {', '.join(f'{h} {n}' for h, n in counts.items())}). They are left "
                "out of that head's figures and plots below, not counted as a prediction; the "
                "model is broken on them (diverged training or damaged weights).",
                "",
            ]
    return lines


def robustness_nonfinite_lines(metrics: dict[str, Any]) -> list[str]:
    """A warning naming the corruptions and severities whose curves leave out photos because
    the model's scores on them are NaN or infinite (evaluations before it counted none)."""
    found = [
        f"{name} {severity}: "
        + ", ".join(f"{h} {n}" for h, n in (entry.get("nonfinite") or {}).items() if n)
        for name, by_severity in metrics["robustness"].items()
        for severity, entry in by_severity.items()
        if any((entry.get("nonfinite") or {}).values())
    ]
    if not found:
        return []
    return [
        "> **WARNING: on some corrupted photos the model gave NaN or infinite scores** "
        f"(photos left out, per head: {'; '.join(found)}). The curves below are drawn from "
        "the other photos only, so they look better than the model is on corrupted uploads.",
        "",
    ]


def bound_lines(metrics: dict[str, Any]) -> list[str]:
    """Heads whose calibration temperature the fit left at its bound (0.05 or 20)."""
    found = (metrics.get("calibration") or {}).get("temperature_at_bound") or {}
    return [
        f"The {head} temperature is at its bound {bound:g}: the fit wanted it "
        f"{'lower' if bound < 1 else 'higher'}, so this head's probabilities stay "
        f"{'under' if bound < 1 else 'over'}-confident after calibration."
        for head, bound in found.items()
    ] + ([""] if found else [])
