"""The evaluation report's plots (training.report writes them): confusion matrices, reliability
diagrams before and after calibration, robustness curves against corruption severity. An
undefined figure (None in metrics.json, NaN in memory) is left out of a curve."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np


def number(value: Any) -> float:
    """A figure as a float; undefined (None, as JSON without NaN holds it) is NaN."""
    return float(value) if value is not None else float("nan")


def plot_confusion(path: Path, matrix: list[list[int]], labels: list[str], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = np.asarray(matrix, dtype=float)
    recall = m / np.maximum(m.sum(axis=1, keepdims=True), 1)  # each true class's row sums to 1
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    ax.imshow(recall, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    for (i, j), value in np.ndenumerate(m):
        # White on the dark cells: black on the darkest blue (a good model's diagonal) is unread.
        colour = "white" if recall[i, j] > 0.5 else "black"
        ax.text(j, i, f"{int(value)}", ha="center", va="center", fontsize=8, color=colour)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_reliability(path: Path, reliability: dict[str, dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(reliability), figsize=(4 * len(reliability), 4))
    for ax, (head, curves) in zip(np.atleast_1d(axes), reliability.items(), strict=True):
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":")
        for key, style in (("before", "o--"), ("after", "s-")):
            points = [[number(v) for v in curves[key][axis]] for axis in ("confidence", "accuracy")]
            ax.plot(*points, style, label=key)
        ax.set(title=head, xlabel="confidence", ylabel="observed frequency", xlim=(0, 1))
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_robustness(path: Path, robustness: dict[str, dict[str, dict[str, float | None]]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(next(iter(next(iter(robustness.values())).values())))
    levels = sorted({int(s) for by_severity in robustness.values() for s in by_severity})
    fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3.6))
    for ax, key in zip(np.atleast_1d(axes), keys, strict=True):
        lowest = 0.0
        for name, by_severity in robustness.items():
            severities = sorted(by_severity, key=int)
            values = [number(by_severity[s][key]) for s in severities]
            ax.plot([int(s) for s in severities], values, "o-", label=name)
            lowest = min([lowest, *(v for v in values if not math.isnan(v))])
        # From 0, or below it where a figure is (QWK is negative when worse than chance).
        bottom = lowest - 0.05 if lowest < 0 else 0.0
        ax.set(title=key, xlabel="severity", ylim=(bottom, 1.02))
        ax.set_xticks(levels)  # the measured severities only: no severity 1.5 on the axis
    np.atleast_1d(axes)[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
