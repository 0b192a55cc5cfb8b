"""Paired bootstrap of level and ASP figures: several arms (model × reading) scored on the same
families, each resample drawn once and used for every arm, so differences between arms carry
intervals that pair each family with itself.

The figures are accuracy, quadratic-weighted kappa, exclusion error (eligible families
recommended not_eligible) and the needs_review rate, in numpy so a bootstrap stays fast.

Pairing holds only if row i of every arm is the same family: the arms are checked to list the
same families (`family_id`, where the frames have it) in the same order, with the same truth
(level, ASP eligibility), and refused otherwise rather than paired row by row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

METRICS = ("accuracy", "qwk", "exclusion_error", "needs_review_rate")
CI = (2.5, 97.5)


Columns = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # level, pred, eligible, asp


def figures(columns: Columns, levels: list[int]) -> dict[str, float | None]:
    """Accuracy, QWK, exclusion error and needs_review rate (numpy: fast inside a bootstrap)."""
    level, pred, eligible, asp = columns
    n_eligible = int(eligible.sum())
    return {
        "accuracy": float(np.mean(level == pred)) if len(level) else None,
        "qwk": quadratic_kappa(level, pred, levels),
        "exclusion_error": float(np.mean(asp[eligible] == "not_eligible")) if n_eligible else None,
        "needs_review_rate": float(np.mean(asp == "needs_review")) if len(asp) else None,
    }


def quadratic_kappa(y: np.ndarray, pred: np.ndarray, levels: list[int]) -> float | None:
    """Cohen's kappa with quadratic weights (as sklearn's cohen_kappa_score)."""
    k = len(levels)
    pos = {v: i for i, v in enumerate(levels)}
    observed = np.zeros((k, k))
    np.add.at(observed, ([pos[int(v)] for v in y], [pos[int(v)] for v in pred]), 1)
    expected = np.outer(observed.sum(1), observed.sum(0)) / max(observed.sum(), 1)
    weights = (np.arange(k)[:, None] - np.arange(k)[None, :]) ** 2
    denominator = float((weights * expected).sum())
    return 1.0 - float((weights * observed).sum()) / denominator if denominator else None


def _columns(frame: pd.DataFrame) -> Columns:
    return (
        frame["level"].to_numpy(int),
        frame["level_pred"].to_numpy(int),
        frame["asp_eligible"].to_numpy(bool),
        frame["asp"].to_numpy(str),
    )


def _interval(values: np.ndarray, value: float | None) -> dict[str, float | None]:
    known = values[~np.isnan(values)]
    low, high = np.percentile(known, CI) if len(known) else (None, None)
    return {"value": value, "ci_low": _num(low), "ci_high": _num(high)}


def check_aligned(frames: Mapping[str, pd.DataFrame]) -> None:
    """Refuse arms that are not the same families in the same order (ValueError naming them)."""
    if not frames:
        raise ValueError("no arms to compare")
    (first, reference), *others = frames.items()
    with_ids = [key for key, frame in frames.items() if "family_id" in frame.columns]
    if with_ids and len(with_ids) != len(frames):
        missing = sorted(set(frames) - set(with_ids))
        raise ValueError(f"arms {missing} have no family_id column, other arms have one")
    for key, frame in others:
        if len(frame) != len(reference):
            why = f"{len(frame)} families, {first!r} {len(reference)}"
        elif with_ids and not np.array_equal(
            frame["family_id"].astype(str).to_numpy(), reference["family_id"].astype(str).to_numpy()
        ):
            why = "other families or another order"
        elif not all(
            np.array_equal(frame[c].to_numpy(), reference[c].to_numpy())
            for c in ("level", "asp_eligible")
        ):
            why = "other true levels or ASP eligibility: other families or another order"
        else:
            continue
        raise ValueError(
            f"arm {key!r} is not paired with {first!r}: {why}; every arm must hold the same "
            "families in the same order"
        )


def paired_bootstrap(
    frames: Mapping[str, pd.DataFrame],
    *,
    pairs: Sequence[tuple[str, str]],
    levels: list[int],
    n_boot: int,
    seed: int,
) -> dict[str, Any]:
    """Each arm's figures with percentile intervals, and each pair's difference (a minus b).

    The arms must hold the same families in the same order (`check_aligned`)."""
    check_aligned(frames)
    columns = {key: _columns(frame) for key, frame in frames.items()}
    n = len(next(iter(frames.values())))
    point = {key: figures(cols, levels) for key, cols in columns.items()}
    draws = {key: {m: np.full(n_boot, np.nan) for m in METRICS} for key in frames}
    rng = np.random.default_rng(seed)
    for b in range(n_boot):
        idx = rng.integers(0, n, n)
        for key, (level, pred, eligible, asp) in columns.items():
            drawn = figures((level[idx], pred[idx], eligible[idx], asp[idx]), levels)
            for metric, value in drawn.items():
                draws[key][metric][b] = np.nan if value is None else value
    arms = {key: {m: _interval(draws[key][m], point[key][m]) for m in METRICS} for key in frames}
    differences = []
    for first, second in pairs:
        for m in METRICS:
            pa, pb = point[first][m], point[second][m]
            value = None if pa is None or pb is None else pa - pb
            delta = draws[first][m] - draws[second][m]
            differences.append({"a": first, "b": second, "metric": m, **_interval(delta, value)})
    n_eligible = int(next(iter(columns.values()))[2].sum())
    return {"n": n, "n_eligible": n_eligible, "arms": arms, "differences": differences}


def _num(value: Any) -> float | None:
    return None if value is None else float(value)
