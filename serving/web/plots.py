"""Plots of the oversight page, drawn on the server as PNG data URIs (matplotlib, no pyplot).

Each plot stands beside a table of the same figures on the page (templates/oversight.html),
so nothing is only in pixels. A figure object per call (not pyplot's global state) keeps
concurrent requests apart.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# Colours with at least 4.5:1 contrast on white (WCAG AA), told apart by more than hue.
BAR_COLOUR = "#1f4e79"
REFERENCE_COLOUR = "#8a8a8a"
LINE_COLOUR = "#b3261e"
# Pixels per inch of the PNG: twice the size the page shows it at (500 x 260), so its text
# stays sharp when the reader zooms to 200 %.
SAVE_DPI = 200


@dataclass(frozen=True)
class Plot:
    data_uri: str
    alt: str


def _figure(width_in: float = 5.0, height_in: float = 2.6) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width_in, height_in), dpi=100, layout="constrained")
    return figure, figure.add_subplot()


def _encode(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=SAVE_DPI)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def bar_plot(
    labels: Sequence[str],
    values: Sequence[float | None],
    *,
    title: str,
    ylabel: str,
    alt: str,
    ylim: tuple[float, float] | None = (0.0, 1.0),
    threshold: float | None = None,
) -> Plot:
    """One bar per label; a missing value draws no bar. `threshold` adds a dashed line."""
    figure, axes = _figure()
    heights = [0.0 if v is None else float(v) for v in values]
    axes.bar(list(labels), heights, color=BAR_COLOUR, width=0.5)
    axes.set_title(title, fontsize=10)
    axes.set_ylabel(ylabel, fontsize=9)
    axes.tick_params(axis="x", labelrotation=30 if len(labels) > 4 else 0, labelsize=8)
    if ylim is not None:
        axes.set_ylim(*ylim)
    if threshold is not None:
        axes.axhline(threshold, color=LINE_COLOUR, linestyle="--", linewidth=1)
    if len(labels) < 3:  # keep a lone bar from filling the whole plot
        axes.set_xlim(-1, len(labels))
    if not labels:
        axes.text(0.5, 0.5, "—", ha="center", va="center", transform=axes.transAxes)
    return Plot(_encode(figure), alt)


def paired_bar_plot(
    labels: Sequence[str],
    reference: Sequence[float],
    current: Sequence[float],
    *,
    names: tuple[str, str],
    title: str,
    alt: str,
) -> Plot:
    """Reference and current shares side by side per label (drift of a distribution)."""
    figure, axes = _figure()
    positions = range(len(labels))
    width = 0.4
    axes.bar(
        [p - width / 2 for p in positions],
        reference,
        width,
        label=names[0],
        color=REFERENCE_COLOUR,
        hatch="//",
    )
    axes.bar([p + width / 2 for p in positions], current, width, label=names[1], color=BAR_COLOUR)
    axes.set_xticks(
        list(positions), list(labels), fontsize=8, rotation=30 if len(labels) > 4 else 0
    )
    axes.set_ylim(0, 1)
    axes.set_title(title, fontsize=10)
    axes.legend(fontsize=8)
    return Plot(_encode(figure), alt)
