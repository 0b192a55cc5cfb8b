"""Per-head metrics from probabilities and targets: pure NumPy / scikit-learn, no model.

Targets use the training encoding: class or grade index, -1 for "not labelled" (those
examples are left out of that head's metrics). Condition predictions are decoded as the
median of the grade distribution, the natural point estimate for an ordinal scale.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.metrics import average_precision_score, cohen_kappa_score, confusion_matrix, f1_score

IGNORE = -1
ECE_BINS = 15


def ordinal_median(probs: np.ndarray) -> np.ndarray:
    """(N, K) grade probabilities -> (N,) index of the first grade whose cumulative >= 0.5."""
    cumulative = np.cumsum(probs, axis=1)
    return np.argmax(cumulative >= 0.5 - 1e-9, axis=1)


def expected_calibration_error(
    confidence: np.ndarray, correct: np.ndarray, *, bins: int = ECE_BINS
) -> float:
    """Weighted mean |accuracy - confidence| over equal-width confidence bins."""
    confidence, correct = np.ravel(confidence).astype(float), np.ravel(correct).astype(float)
    if confidence.size == 0:
        return float("nan")
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    # Per bin, count * |mean accuracy - mean confidence| = |sum correct - sum confidence|; as
    # sums it is one pass, not one per bin (the bootstrap draws call this thousands of times).
    gap = np.bincount(which, weights=correct, minlength=bins) - np.bincount(
        which, weights=confidence, minlength=bins
    )
    return float(np.abs(gap).sum() / confidence.size)


def ece_interval(
    confidence: np.ndarray,
    correct: np.ndarray,
    *,
    resamples: int = 200,
    level: float = 0.95,
    seed: int = 0,
) -> list[float]:
    """Bootstrap interval of the ECE over photos: how much of it the sample size explains.

    One value per photo, or (photos, values) as `signs_calibration` gives: a photo's values
    are drawn together, since they move together (one blurred photo, every sign off)."""
    confidence, correct = np.asarray(confidence, float), np.asarray(correct, float)
    if confidence.size == 0:
        return []
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(confidence), size=(resamples, len(confidence)))
    values = [expected_calibration_error(confidence[i], correct[i]) for i in draws]
    tail = (1.0 - level) / 2 * 100
    return [float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))]


def ece_floor(
    confidence: np.ndarray, *, draws: int = 500, level: float = 0.95, seed: int = 0
) -> dict[str, float]:
    """The ECE a perfectly calibrated head would show with these confidences on this many
    examples: each example is right with probability its confidence, drawn `draws` times.

    ECE over a few hundred examples is biased upwards (each bin's accuracy is an estimate),
    so a measured ECE near this floor cannot tell a calibrated head from a slightly
    miscalibrated one; one above its `level` percentile can. {"mean", "high"}; {} if empty.
    """
    confidence = np.ravel(confidence).astype(float)
    if confidence.size == 0:
        return {}
    rng = np.random.default_rng(seed)
    values = [
        expected_calibration_error(confidence, rng.random(confidence.size) < confidence)
        for _ in range(draws)
    ]
    return {"mean": float(np.mean(values)), "high": float(np.percentile(values, level * 100))}


def difference_interval(
    score_a: Callable[[np.ndarray], float],
    n_a: int,
    score_b: Callable[[np.ndarray], float],
    n_b: int,
    *,
    resamples: int = 200,
    level: float = 0.95,
    seed: int = 0,
) -> list[float]:
    """Bootstrap interval of score_a - score_b over two independent sets of examples.

    Each score takes the indices of one resample of its own set. Resamples where a score is
    undefined (e.g. no labelled example drawn) are left out; [] when none is defined.
    """
    if n_a == 0 or n_b == 0:
        return []
    rng = np.random.default_rng(seed)
    values = np.array(
        [
            score_a(rng.integers(0, n_a, size=n_a)) - score_b(rng.integers(0, n_b, size=n_b))
            for _ in range(resamples)
        ]
    )
    values = values[~np.isnan(values)]
    if not values.size:
        return []
    tail = (1.0 - level) / 2 * 100
    return [float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))]


def reliability_curve(
    confidence: ArrayLike, correct: ArrayLike, *, bins: int = ECE_BINS
) -> dict[str, list[float]]:
    """Per non-empty bin: mean confidence, accuracy and count (for reliability diagrams)."""
    confidence_, correct_ = np.ravel(confidence).astype(float), np.ravel(correct).astype(float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence_, edges[1:-1]), 0, bins - 1)
    out: dict[str, list[float]] = {"confidence": [], "accuracy": [], "count": []}
    for b in range(bins):
        in_bin = which == b
        if in_bin.any():
            out["confidence"].append(float(confidence_[in_bin].mean()))
            out["accuracy"].append(float(correct_[in_bin].mean()))
            out["count"].append(float(in_bin.sum()))
    return out


def top_label_calibration(probs: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Confidence of the top class and whether it was right, for labelled examples."""
    keep = target != IGNORE
    return probs[keep].max(axis=1), probs[keep].argmax(axis=1) == target[keep]


def room_metrics(
    probs: np.ndarray, target: np.ndarray, *, labels: list[str], not_dwelling: str
) -> dict[str, Any]:
    keep = target != IGNORE
    y, pred = target[keep], probs[keep].argmax(axis=1)
    classes = list(range(len(labels)))
    # Nothing labelled (e.g. a resample of unlabelled rows): every figure below is NaN.
    recall = (
        confusion_matrix(y, pred, labels=classes)
        if y.size
        else np.zeros((len(classes), len(classes)), dtype=np.int64)
    )
    per_class_recall = {
        name: float(recall[i, i] / recall[i].sum()) if recall[i].sum() else float("nan")
        for i, name in enumerate(labels)
    }
    nd = labels.index(not_dwelling)
    predicted_nd = pred == nd
    return {
        "n": int(keep.sum()),
        "accuracy": float((pred == y).mean()) if y.size else float("nan"),
        "macro_f1": float(f1_score(y, pred, labels=sorted(set(y)), average="macro"))
        if y.size
        else float("nan"),
        "per_class_recall": per_class_recall,
        "not_dwelling_recall": per_class_recall[not_dwelling],
        "not_dwelling_precision": float((y[predicted_nd] == nd).mean())
        if predicted_nd.any()
        else float("nan"),
        "confusion": recall.tolist(),
    }


def condition_metrics(probs: np.ndarray, target: np.ndarray) -> dict[str, Any]:
    keep = target != IGNORE
    y, pred = target[keep], ordinal_median(probs[keep])
    grades = list(range(probs.shape[1]))
    if not y.size:  # no confusion matrix: the report draws none
        return {"n": 0, "qwk": float("nan"), "accuracy": float("nan"), "mae": float("nan")}
    qwk = cohen_kappa_score(y, pred, labels=grades, weights="quadratic")
    return {
        "n": int(keep.sum()),
        "qwk": float(qwk),
        "accuracy": float((pred == y).mean()),
        "mae": float(np.abs(pred - y).mean()),
        "confusion": confusion_matrix(y, pred, labels=grades).tolist(),
    }


def signs_metrics(probs: np.ndarray, target: np.ndarray, known: np.ndarray, *, labels: list[str]):
    """AP per sign and mAP. A sign with no positive example, or present in every photo, has no
    AP (NaN) and is left out of mAP: with nothing to rank against, AP would be 1.0 whatever
    the scores."""
    y, p = target[known], probs[known]
    ap: dict[str, float] = {}
    for i, name in enumerate(labels):
        column = y[:, i] > 0.5
        rankable = column.any() and not column.all()
        ap[name] = float(average_precision_score(column, p[:, i])) if rankable else np.nan
    measured = [v for v in ap.values() if not np.isnan(v)]
    return {
        "n": int(known.sum()),
        "ap": ap,
        "map": float(np.mean(measured)) if measured else float("nan"),
    }


def signs_calibration(
    probs: np.ndarray, target: np.ndarray, known: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Every (photo, sign) probability against whether the sign is there, one row a photo
    (the ECE functions take every value; `ece_interval` resamples whole photos)."""
    return probs[known], target[known] > 0.5


def undefined_reasons(metrics: dict[str, Any], *, not_dwelling: str) -> dict[str, str]:
    """Why each headline figure of an evaluation that came out NaN is undefined on its photos
    (a split of one class, no photo of a class), so a reader is told why, not shown "nan"."""
    test = metrics["test"]
    room, condition, signs = test["room"], test["condition"], test["signs"]
    found = {
        "room_macro_f1": (room["macro_f1"], "no evaluated photo has a room label"),
        "not_dwelling_recall": (
            room["not_dwelling_recall"],
            f"no evaluated photo is labelled {not_dwelling}",
        ),
        "condition_qwk": (
            condition.get("qwk", np.nan),
            "the photos and the predictions show one grade only: agreement beyond chance is "
            "undefined"
            if condition.get("n")
            else "no evaluated photo has a condition grade",
        ),
        "signs_map": (
            signs["map"],
            "no sign is both present and absent among the evaluated photos"
            if signs.get("n")
            else "no evaluated photo has its signs labelled",
        ),
    }
    return {key: why for key, (value, why) in found.items() if np.isnan(_float(value))}


def _float(value: Any) -> float:
    return float("nan") if value is None else float(value)
