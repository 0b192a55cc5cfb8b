"""Paired bootstrap of level and ASP figures: several arms (model × reading) scored on the same
families, each resample drawn once and used for every arm, so differences between arms carry
intervals that pair each family with itself.

The figures are accuracy, quadratic-weighted kappa, exclusion error (eligible families
recommended not_eligible) and the needs_review rate, in numpy so a bootstrap stays fast.

Pairing holds only if row i of every arm is the same family: the arms are checked to list the
same families (`family_id`, where the frames have it) in the same order, with the same truth
(level, ASP eligibility), and refused otherwise rather than paired row by row.

Where the bootstrap never varies it claims a certainty the families cannot give, so two
intervals are made otherwise (each figure's `ci_method` names how):
- a share (accuracy, exclusion error, needs_review rate) on which every family agrees (0 or 1):
  no resample of families moves it off its value, so it gets the exact Clopper-Pearson interval
  (as welfare.fairness does for a group's figure);
- a difference of two arms' shares that no family makes (no discordant family: every resample
  gives the same difference, 0): Newcombe's hybrid score interval for a difference of paired
  proportions (Newcombe 1998, Stat Med 17:2635, method 10: the two shares' Wilson intervals
  combined with their correlation, phi corrected as there). A difference some family makes
  keeps the paired bootstrap, as QWK always does (not a share).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from welfare.fairness_intervals import exact_when_all_agree, wilson_interval

METRICS = ("accuracy", "qwk", "exclusion_error", "needs_review_rate")
CI = (2.5, 97.5)
# How a figure's interval was made (its `ci_method`; module docstring).
BOOTSTRAP, EXACT, NEWCOMBE_PAIRED = "bootstrap", "clopper-pearson", "newcombe-paired"
# How the report marks an interval that is not the bootstrap's, and what it says of it.
METHOD_NOTES = {
    EXACT: (
        "†",
        "the exact (Clopper-Pearson) interval of a share on which every family agrees (no "
        "resample of families moves it)",
    ),
    NEWCOMBE_PAIRED: (
        "‡",
        "Newcombe's hybrid score interval for paired proportions (Stat Med 1998, method 10) of "
        "a difference no family makes (every resample gives the same difference)",
    ),
}


Columns = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # level, pred, eligible, asp


def figures(columns: Columns, levels: list[int]) -> dict[str, float | None]:
    """Accuracy, QWK, exclusion error and needs_review rate (numpy: fast inside a bootstrap);
    each share over the families it rests on (`_shares`)."""
    level, pred, _, _ = columns
    shares = {
        name: float(np.mean(event[rests_on])) if rests_on.any() else None
        for name, (event, rests_on) in _shares(columns).items()
    }
    return {
        "accuracy": shares["accuracy"],
        "qwk": quadratic_kappa(level, pred, levels),
        "exclusion_error": shares["exclusion_error"],
        "needs_review_rate": shares["needs_review_rate"],
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


def _shares(columns: Columns) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each share's event per family, and the families it rests on."""
    level, pred, eligible, asp = columns
    everyone = np.ones(len(level), dtype=bool)
    return {
        "accuracy": (level == pred, everyone),
        "exclusion_error": (asp == "not_eligible", eligible),
        "needs_review_rate": (asp == "needs_review", everyone),
    }


def newcombe_paired_interval(a: int, b: int, c: int, d: int) -> tuple[float, float]:
    """Newcombe's hybrid score interval (1998, paired data, method 10) of p1 - p2, where
    p1 = (a + b) / n and p2 = (a + c) / n: a families with the event in both arms, b in the
    first only, c in the second only, d in neither."""
    n = a + b + c + d
    p1, p2 = (a + b) / n, (a + c) / n
    (l1, u1), (l2, u2) = wilson_interval(a + b, n), wilson_interval(a + c, n)
    margins = (a + b) * (c + d) * (a + c) * (b + d)
    cross = float(a * d - b * c)  # Newcombe's correction of phi: a positive ad - bc less n / 2
    cross = max(cross - n / 2, 0.0) if cross > 0 else cross
    phi = cross / math.sqrt(margins) if margins else 0.0
    below, above = p1 - l1, u2 - p2
    lower = p1 - p2 - math.sqrt(below**2 - 2 * phi * below * above + above**2)
    below, above = p2 - l2, u1 - p1
    upper = p1 - p2 + math.sqrt(below**2 - 2 * phi * below * above + above**2)
    return max(-1.0, lower), min(1.0, upper)


def _exact(value: float, rests_on: np.ndarray) -> dict[str, Any]:
    low, high = exact_when_all_agree(value, int(rests_on.sum()))
    return {"value": value, "ci_low": low, "ci_high": high, "ci_method": EXACT}


def _paired(
    first: tuple[np.ndarray, np.ndarray], second: tuple[np.ndarray, np.ndarray]
) -> dict[str, Any] | None:
    """Newcombe's paired interval of a difference no family makes; None where one does."""
    (x, rests_on), (y, _) = first, second  # aligned arms: the same families to rest on
    x, y = x[rests_on], y[rests_on]
    if np.any(x != y):
        return None
    low, high = newcombe_paired_interval(int(x.sum()), 0, 0, int((~x).sum()))
    return {"value": 0.0, "ci_low": low, "ci_high": high, "ci_method": NEWCOMBE_PAIRED}


def methods_note(*results: Mapping[str, Any] | None) -> str:
    """What the report says of the intervals in `results` that are not the bootstrap's."""
    figures = [f for r in results if r for arm in r.get("arms", {}).values() for f in arm.values()]
    figures += [d for r in results if r for d in r.get("differences", [])]
    found = {figure.get("ci_method") for figure in figures}
    notes = [" ".join(METHOD_NOTES[m]) for m in METHOD_NOTES if m in found]
    return ", except where marked: " + "; ".join(notes) if notes else ""


def ci_mark(figure: Mapping[str, Any]) -> str:
    """The report's mark of an interval not made by the bootstrap ('' for the bootstrap's)."""
    note = METHOD_NOTES.get(str(figure.get("ci_method")))
    return note[0] if note else ""


def _columns(frame: pd.DataFrame) -> Columns:
    return (
        frame["level"].to_numpy(int),
        frame["level_pred"].to_numpy(int),
        frame["asp_eligible"].to_numpy(bool),
        frame["asp"].to_numpy(str),
    )


def _interval(values: np.ndarray, value: float | None) -> dict[str, Any]:
    known = values[~np.isnan(values)]
    low, high = np.percentile(known, CI) if len(known) else (None, None)
    return {"value": value, "ci_low": _num(low), "ci_high": _num(high), "ci_method": BOOTSTRAP}


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
    shares = {key: _shares(cols) for key, cols in columns.items()}
    arms = {key: {m: _interval(draws[key][m], point[key][m]) for m in METRICS} for key in frames}
    for key, arm_shares in shares.items():
        for m, (_, rests_on) in arm_shares.items():
            if point[key][m] in (0.0, 1.0):  # every family agrees
                arms[key][m] = _exact(float(point[key][m]), rests_on)  # type: ignore[arg-type]
    differences = []
    for first, second in pairs:
        for m in METRICS:
            pa, pb = point[first][m], point[second][m]
            value = None if pa is None or pb is None else pa - pb
            delta = draws[first][m] - draws[second][m]
            figure = _interval(delta, value)
            if m in shares[first] and value is not None:
                figure = _paired(shares[first][m], shares[second][m]) or figure
            differences.append({"a": first, "b": second, "metric": m, **figure})
    n_eligible = int(next(iter(columns.values()))[2].sum())
    return {"n": n, "n_eligible": n_eligible, "arms": arms, "differences": differences}


def _num(value: Any) -> float | None:
    return None if value is None else float(value)
