"""Measurements other commands leave in the report's output folder (ceiling.json from
`welfare ceiling`, real_scores.json from `welfare evaluate-real`): each is merged into the
evaluation only when it belongs to it (same default model, data, recipe, model versions and
configs/welfare.yaml, targets aside); a stale or damaged one is left out, with the reason.
Damaged: unreadable, or a field of the wrong type or missing, so that the report could not
write its section from it (a file cut or edited by hand, or written by an older command).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shanyraq.errors import InputFileError, read_json_file
from shanyraq.json_values import finite_or_none
from welfare.fusion_version import fitting_recipe

log = logging.getLogger("welfare.report")  # the report's warnings, as before the split
Section = Callable[[dict[str, Any]], list[str]]  # a measurement's lines on the report's page


def _ceiling_mismatch(ceiling: dict[str, Any], public: dict[str, Any]) -> str | None:
    """Why the ceiling does not describe the evaluated default model, or None."""
    context = public["context"]
    wrong = _wrong_types(ceiling, recipe=dict, rows=list, welfare_config_measured_sha256=str)
    if wrong:
        return wrong
    if ceiling.get("model") != context["default_model"]:
        return (
            f"measured for {ceiling.get('model')}, not the default model {context['default_model']}"
        )
    if ceiling.get("seed") != context["seed"]:
        return (
            f"measured on data seed {ceiling.get('seed')}, the models on seed {context['seed']} "
            f"(measure it on theirs: --seed {context['seed']})"
        )
    theirs, ours = ceiling.get("recipe"), context.get("recipe")
    if theirs and ours:  # both recorded (neither file predates recording it)
        theirs, ours = fitting_recipe(theirs), fitting_recipe(ours)
        differ = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
        if differ:
            return f"measured with another fusion recipe (it differs in {', '.join(differ)})"
    return _config_mismatch(ceiling, context)


def _real_scores_mismatch(real: dict[str, Any], public: dict[str, Any]) -> str | None:
    """Why real_scores.json does not describe the evaluated models and data, or None."""
    context = public["context"]
    wrong = _wrong_types(real, data=dict, fusion_models=dict, welfare_config_measured_sha256=str)
    if wrong:
        return wrong
    data = real.get("data") or {}
    if (data.get("n"), data.get("seed")) != (context["n_families"], context["seed"]):
        return (
            f"measured on data n = {data.get('n')}, seed {data.get('seed')}; the models were "
            f"trained on n = {context['n_families']}, seed {context['seed']}"
        )
    measured = real.get("fusion_models") or {}
    evaluated = {name: m["version"] for name, m in public["models"].items()}
    common = sorted(set(measured) & set(evaluated))
    if not common:
        return "none of the fusion models it measured is evaluated here"
    other = [
        f"{n} {measured[n]} (evaluated: {evaluated[n]})"
        for n in common
        if measured[n] != evaluated[n]
    ]
    if other:
        return f"measured other model versions: {'; '.join(other)}"
    return _config_mismatch(real, context)


# The digest of configs/welfare.yaml a measurement and an evaluation record, targets and
# `fairness.intervals` aside (WelfareConfig.measured_digest).
MEASURED_DIGEST = "welfare_config_measured_sha256"


def same_welfare_config(measured: dict[str, Any], context: dict[str, Any]) -> bool | None:
    """Whether a measurement was made with the configs/welfare.yaml evaluated (`context`), by
    their measured digests: None when either records none (written before it was recorded)."""
    theirs, ours = measured.get(MEASURED_DIGEST), context.get(MEASURED_DIGEST)
    if not (theirs and ours):
        return None
    return bool(theirs == ours)


def _config_mismatch(measured: dict[str, Any], context: dict[str, Any]) -> str | None:
    """Why a measurement's configs/welfare.yaml is not the evaluated one, or None. The targets
    aside (they judge figures, not make them); a file written before the digest was recorded
    is not stale for lacking it."""
    if same_welfare_config(measured, context) is False:
        theirs, ours = measured[MEASURED_DIGEST], context[MEASURED_DIGEST]
        return (
            f"measured with another configs/welfare.yaml (digest {theirs[:12]}, targets aside; "
            f"evaluated with {ours[:12]})"
        )
    return None


_JSON_KINDS: dict[type, str] = {dict: "a JSON object", list: "a list", str: "text"}


def _wrong_types(measured: dict[str, Any], **kinds: type) -> str | None:
    """Why a field the checks or the report read is of another type than `kinds` gives it, or
    None; a field left out or null is judged by the check that reads it (older files lack some)."""
    for key, kind in kinds.items():
        value = measured.get(key)
        if value is not None and not isinstance(value, kind):
            return f"damaged (`{key}` is {_json_kind(value)}, not {_JSON_KINDS[kind]})"
    return None


def _json_kind(value: object) -> str:
    if isinstance(value, bool):  # an int to Python
        return "true/false"
    return next((name for t, name in _JSON_KINDS.items() if isinstance(value, t)), "a number")


def _unwritable(measured: dict[str, Any], section: Section | None) -> str | None:
    """Why the report cannot write its section from a measurement that belongs, or None: a
    field missing or of the wrong type deeper than the checks look (as written to the page:
    NaN as null)."""
    if section is None:
        return None
    try:
        section(finite_or_none(measured))
    except (LookupError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:
        why = f"{type(exc).__name__}: {exc}"
        return f"damaged (its report section cannot be written from it: {why})"
    return None


# Measurements other commands leave in the output folder: the command that writes each, and
# why a file does not belong to the evaluation just made (None: it does).
MismatchCheck = Callable[[dict[str, Any], dict[str, Any]], str | None]
MEASUREMENTS: dict[str, tuple[str, MismatchCheck]] = {
    "ceiling": ("welfare ceiling", _ceiling_mismatch),
    "real_scores": ("welfare evaluate-real", _real_scores_mismatch),
}


def _read_measurement(path: Path, command: str) -> tuple[dict[str, Any] | None, str | None]:
    """The measurement in `path`, or None and why it cannot be read: a damaged file is left
    out of the report (with its reason), not the cause of a failed report."""
    try:
        recorded = read_json_file(path, f"what `shanyraq {command}` writes")
    except InputFileError as exc:
        return None, f"unreadable ({exc.message})"
    if not isinstance(recorded, dict):
        return None, "unreadable (not a JSON object)"
    return recorded, None


def merge_measurements(
    public: dict[str, Any], out_dir: Path, sections: dict[str, Section] | None = None
) -> None:
    """Add each measurement file of out_dir that belongs to this evaluation; note the others.
    `sections` write each measurement's part of the page: one they cannot write it from is
    left out as damaged, not the cause of a failed report."""
    for key, (command, mismatch) in MEASUREMENTS.items():
        path = out_dir / f"{key}.json"
        if not path.exists():
            continue
        recorded, why = _read_measurement(path, command)
        if recorded is not None:
            why = mismatch(recorded, public) or _unwritable(recorded, (sections or {}).get(key))
        if why is None:
            public[key] = recorded
            continue
        log.warning("%s left out of the report: %s; run `shanyraq %s` again", path, why, command)
        public.setdefault("skipped", {})[key] = {"file": path.name, "why": why}
