"""Evaluation of a model on manifest rows: head metrics, calibration, robustness, held-out style.

The logits measured come from training.logits, so the same code measures the torch model
during training and the exported ONNX graph afterwards; corruptions apply to the decoded photo,
as a degraded upload would arrive. Families count as shanyraq.splits holds them."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.exceptions import UndefinedMetricWarning

from shanyraq.errors import ManifestError
from shanyraq.manifest import SPLITS, ManifestRow, read_manifest, sha256_file
from shanyraq.outputs import check_output_folder
from shanyraq.splits import same_family
from shanyraq.taxonomy import Taxonomy
from training.calibrate import HeadLogits, finite_only, temperatures_at_bound
from training.corruptions import CORRUPTIONS, SEVERITIES, Corruption
from training.dataset_splits import check_held_out_styles, check_rows, style_of
from training.leak_guard import check_overlap
from training.logits import Predictor, collect_logits, load_images, onnx_predictor
from training.metrics import (
    condition_metrics,
    difference_interval,
    ece_floor,
    ece_interval,
    expected_calibration_error,
    reliability_curve,
    room_metrics,
    signs_calibration,
    signs_metrics,
    top_label_calibration,
)
from training.score_reference import score_reference
from vision.artifact import ModelArtifact
from vision.heads import head_probs

logger = logging.getLogger(__name__)

SUMMARY_KEYS = (
    ("room", "macro_f1"),
    ("room", "not_dwelling_recall"),
    ("condition", "qwk"),
    ("signs", "map"),
)


def head_metrics(
    logits: HeadLogits, artifact: ModelArtifact, *, not_dwelling: str
) -> dict[str, Any]:
    """Every head's metrics (with calibrated probabilities) plus ECE before and after, and
    `nonfinite`: per head, the photos left out because their scores are NaN or infinite.

    A figure the photos cannot define (QWK on one grade) is NaN without sklearn's warning on
    stderr: `training.metrics.undefined_reasons` says why, where the figures are shown."""
    kept, nonfinite = finite_only(logits)
    if any(nonfinite.values()):
        logger.warning(
            "the model gives NaN or infinite scores on some of the %d evaluated photos (%s): "
            "they are left out of the figures and counted in metrics.json `nonfinite`",
            len(logits.room),
            ", ".join(f"{head} {n}" for head, n in nonfinite.items()),
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        metrics = _head_metrics(kept, artifact, not_dwelling=not_dwelling)
    metrics["nonfinite"] = nonfinite
    return metrics


def _head_metrics(
    logits: HeadLogits, artifact: ModelArtifact, *, not_dwelling: str
) -> dict[str, Any]:
    metrics: dict[str, Any] = {}
    ece: dict[str, dict[str, float]] = {}
    reliability: dict[str, dict[str, Any]] = {}
    for calibrated in (False, True):
        room_p, cond_p, signs_p = head_probs(
            artifact, logits.room, logits.condition, logits.signs, calibrated=calibrated
        )
        key = "after" if calibrated else "before"
        pairs = {
            "room": top_label_calibration(room_p, logits.room_target),
            "condition": top_label_calibration(cond_p, logits.condition_target),
            "signs": signs_calibration(signs_p, logits.signs_target, logits.signs_known),
        }
        for head, (confidence, correct) in pairs.items():
            ece.setdefault(head, {})[key] = expected_calibration_error(confidence, correct)
            reliability.setdefault(head, {})[key] = reliability_curve(confidence, correct)
    metrics.update(_calibrated_metrics(logits, artifact, not_dwelling=not_dwelling))
    metrics["ece"] = ece
    # `pairs` are the calibrated probabilities' now (the loop's last pass).
    metrics["ece_ci"] = {head: ece_interval(*pair) for head, pair in pairs.items()}
    # What a perfectly calibrated head would show with these confidences on these photos.
    metrics["ece_floor"] = {head: ece_floor(pair[0]) for head, pair in pairs.items()}
    metrics["reliability"] = reliability
    return metrics


def _calibrated_metrics(
    logits: HeadLogits, artifact: ModelArtifact, *, not_dwelling: str
) -> dict[str, Any]:
    """room, condition and signs metrics of the calibrated probabilities."""
    room_p, cond_p, signs_p = head_probs(
        artifact, logits.room, logits.condition, logits.signs, calibrated=True
    )
    return {
        "room": room_metrics(
            room_p, logits.room_target, labels=artifact.labels.room, not_dwelling=not_dwelling
        ),
        "condition": condition_metrics(cond_p, logits.condition_target),
        "signs": signs_metrics(
            signs_p, logits.signs_target, logits.signs_known, labels=artifact.labels.signs
        ),
    }


def summary_metrics(
    logits: HeadLogits, artifact: ModelArtifact, *, not_dwelling: str
) -> dict[str, Any]:
    """`summary` of `head_metrics` without the calibration figures and their bootstrap draws
    (nine tenths of a curve's time), with its `nonfinite` counts: how many were dropped."""
    kept, nonfinite = finite_only(logits)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        figures = summary(_calibrated_metrics(kept, artifact, not_dwelling=not_dwelling))
    return {**figures, "nonfinite": nonfinite}


def _target_scores(
    logits: HeadLogits, artifact: ModelArtifact, *, not_dwelling: str
) -> dict[str, Callable[[np.ndarray], float]]:
    """The held-out-style targets' metrics (calibrated, as `head_metrics`) on given indices."""
    logits, _ = finite_only(logits)
    room_p, cond_p, signs_p = head_probs(
        artifact, logits.room, logits.condition, logits.signs, calibrated=True
    )
    labels = artifact.labels

    def room_f1(i: np.ndarray) -> float:
        found = room_metrics(
            room_p[i], logits.room_target[i], labels=labels.room, not_dwelling=not_dwelling
        )
        return float(found["macro_f1"])

    def qwk(i: np.ndarray) -> float:
        return float(condition_metrics(cond_p[i], logits.condition_target[i]).get("qwk", np.nan))

    def signs_map(i: np.ndarray) -> float:
        found = signs_metrics(
            signs_p[i], logits.signs_target[i], logits.signs_known[i], labels=labels.signs
        )
        return float(found["map"])

    return {"room_macro_f1": room_f1, "condition_qwk": qwk, "signs_map": signs_map}


def style_drop(
    in_style: HeadLogits, held: HeadLogits, artifact: ModelArtifact, *, not_dwelling: str
) -> dict[str, dict[str, Any]]:
    """In-style minus held-out-style score per target metric, with a bootstrap 95 % interval.

    The two sets are different photos, so each is resampled on its own. A few hundred photos
    of a held-out style leave an interval of about a tenth on QWK: the interval says whether
    the drop target is met or only not contradicted.
    """
    a = _target_scores(in_style, artifact, not_dwelling=not_dwelling)
    b = _target_scores(held, artifact, not_dwelling=not_dwelling)
    n_a, n_b = len(in_style.room_target), len(held.room_target)
    whole_a, whole_b = np.arange(n_a), np.arange(n_b)
    with warnings.catch_warnings():
        # A resample with one grade or class leaves kappa or F1 undefined: it is left out.
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        return {
            name: {
                "drop": a[name](whole_a) - b[name](whole_b),
                "ci": difference_interval(a[name], n_a, b[name], n_b),
            }
            for name in a
        }


def summary(metrics: dict[str, Any]) -> dict[str, float]:
    """The headline numbers of one evaluation (used for robustness curves)."""
    return {f"{head}.{key}": float(metrics[head].get(key, np.nan)) for head, key in SUMMARY_KEYS}


def _bind(corruption: Corruption, severity: int) -> Callable[[np.ndarray, int], np.ndarray]:
    """The corruption at one severity; the photo's index seeds its randomness."""

    def corrupt(image: np.ndarray, index: int) -> np.ndarray:
        return corruption(image, severity, index)

    return corrupt


def robustness(
    predictor: Predictor,
    images: Sequence[np.ndarray],
    rows: Sequence[ManifestRow],
    artifact: ModelArtifact,
    *,
    taxonomy: Taxonomy,
) -> dict[str, dict[str, dict[str, Any]]]:
    """`summary_metrics` under each corruption at each severity: the headline figures and,
    under `nonfinite`, per head the photos left out because their scores are NaN or infinite."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for name, corruption in CORRUPTIONS.items():
        out[name] = {}
        for severity in SEVERITIES:
            logits = collect_logits(
                predictor,
                images,
                rows,
                spec=artifact.preprocessing,
                taxonomy=taxonomy,
                corrupt=_bind(corruption, severity),
            )
            out[name][str(severity)] = summary_metrics(
                logits, artifact, not_dwelling=taxonomy.not_dwelling
            )
    return out


def evaluate(
    predictor: Predictor,
    artifact: ModelArtifact,
    *,
    root: Path,
    test_rows: Sequence[ManifestRow],
    taxonomy: Taxonomy,
    held_out_style_rows: Sequence[ManifestRow] = (),
    with_robustness: bool = True,
) -> dict[str, Any]:
    """The full evaluation of the issue, as one JSON-ready dict."""
    spec = artifact.preprocessing
    images = load_images(test_rows, root, spec)
    logits = collect_logits(predictor, images, test_rows, spec=spec, taxonomy=taxonomy)
    result: dict[str, Any] = {
        "model_version": artifact.model_version,
        "test": head_metrics(logits, artifact, not_dwelling=taxonomy.not_dwelling),
        "n_test_photos": len(test_rows),
        "n_test_families": len({same_family(r.family_id) for r in test_rows}),
        # Temperatures the calibration fit left at its bound: the probabilities are off there.
        "calibration": {"temperature_at_bound": temperatures_at_bound(artifact.temperatures)},
        # The drift report's reference: these photos' scores, counted as it counts the service's.
        "score_reference": score_reference(
            logits, artifact, not_dwelling=taxonomy.not_dwelling, split="test"
        ),
    }
    if with_robustness:
        result["robustness"] = robustness(predictor, images, test_rows, artifact, taxonomy=taxonomy)
    if held_out_style_rows:
        held_images = load_images(held_out_style_rows, root, spec)
        held = collect_logits(
            predictor, held_images, held_out_style_rows, spec=spec, taxonomy=taxonomy
        )
        result["held_out_style"] = head_metrics(held, artifact, not_dwelling=taxonomy.not_dwelling)
        result["held_out_style_drop"] = style_drop(
            logits, held, artifact, not_dwelling=taxonomy.not_dwelling
        )
        result["n_held_out_style_photos"] = len(held_out_style_rows)
    return result


def evaluate_artifact(
    model_dir: Path,
    manifest_path: Path,
    *,
    out_dir: Path,
    split: str = "test",
    held_out_styles: Sequence[int] = (),
    with_robustness: bool = True,
    allow_overlap: bool = False,
) -> tuple[dict[str, Any], Path]:
    """`shanyraq evaluate`: an exported model on a manifest's rows; writes the report.

    Raises, before measuring anything: InputFileError when `out_dir` cannot be written;
    ManifestError when a row is malformed (`check_rows`: labels, split, style, a photo to
    measure that is missing), when a style to hold out has no photo, or when some rows are
    photos the model was trained or validated on, unless `allow_overlap`.
    """
    from shanyraq.taxonomy import get_taxonomy
    from training.report import write_report
    from vision.artifact import read_artifact

    check_output_folder(out_dir)
    taxonomy = get_taxonomy()
    artifact = read_artifact(model_dir)
    artifact.check_taxonomy(taxonomy)
    manifest = read_manifest(manifest_path)
    held = set(held_out_styles)
    measured = SPLITS if split == "all" else (split,)
    check_rows(manifest, manifest_path, splits=measured, held_out_styles=held)
    check_held_out_styles(manifest.rows, held, manifest_path)
    rows = manifest.rows if split == "all" else manifest.by_split(split)
    in_style = [r for r in rows if style_of(r) not in held]
    if not in_style:
        raise ManifestError(f"{manifest_path}: no photos in split '{split}' to evaluate")
    # Held-out styles from every split, as a build measures them: the model saw none of them
    # (check_overlap below refuses any it did).
    held_rows = [r for r in manifest.rows if held and style_of(r) in held]
    overlap = check_overlap(
        artifact, [*in_style, *held_rows], allow_overlap=allow_overlap, model_dir=model_dir
    )
    metrics = evaluate(
        onnx_predictor(model_dir),
        artifact,
        root=manifest.root,
        test_rows=in_style,
        taxonomy=taxonomy,
        held_out_style_rows=held_rows,
        with_robustness=with_robustness,
    )
    metrics["data"] = {
        "manifest": str(manifest_path),
        "manifest_sha256": sha256_file(manifest_path),
        "evaluated_split": split,
        "held_out_styles": sorted(held),
        **overlap,
    }
    return metrics, write_report(out_dir, metrics, artifact=artifact)
