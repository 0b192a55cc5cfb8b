"""Plots of the oversight page, drawn on the server as PNG data URIs (matplotlib, no pyplot).

Each plot stands beside a table of the same figures on the page (templates/oversight.html),
so nothing is only in pixels: a long label is wrapped and, past what the plot has room for,
shortened with an ellipsis (the table and the alt text keep it whole). A figure object per
call on its own Agg canvas (not pyplot's global state) keeps concurrent requests apart; the
page draws through serving/web/plot_cache.py, once per distinct input.
"""

from __future__ import annotations

import base64
import io
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

# Colours with at least 4.5:1 contrast on white (WCAG AA), told apart by more than hue.
BAR_COLOUR = "#1f4e79"
REFERENCE_COLOUR = "#8a8a8a"
LINE_COLOUR = "#b3261e"
MISSING_COLOUR = "#595959"
# Pixels per inch of the PNG: twice the size the page shows it at (500 x 260), so its text
# stays sharp when the reader zooms to 200 %.
SAVE_DPI = 200
# Text sizes in points. The page shows a plot 500 CSS px wide on a desk and, on a phone of
# 360 px, as wide as its panel: about 292 px. TEXT_PT (the ticks' labels on both axes, the
# legend's, the words drawn in the plot) comes to 9.3 CSS px there (11.5/72 of an inch of a
# figure 5 inches wide, shown 292 px wide), still legible; the title a little larger. The
# y axis's name keeps AXIS_NAME_PT: it runs along the axis, which slanted labels under many
# bars leave short, and the title says the same larger.
TEXT_PT = 11.5
TITLE_PT = 12.5
AXIS_NAME_PT = 9
# Tick labels: up to this many labels stand level, each wrapped to a share of the plot's
# width (LEVEL_LINE_CHARS characters at TEXT_PT over at least 3 of them: a plot of fewer
# bars keeps them narrow, bar_plot's xlim; LABEL_LINES lines at most);
# more are slanted, one line of SLANTED_CHARS at most, so labels never run into each other
# nor squeeze the bars away: under eight slanted region names (they run to 30 characters
# and more; the table beside and the text alternative keep them whole) the bars keep about
# a third of the plot's height.
LEVEL_LABELS = 4
LEVEL_LINE_CHARS = 42
LABEL_LINES = 3
SLANTED_CHARS = 18
# The words that stand upright where a value is missing: lines of this many characters at
# most, so they stay within the bars' height under slanted labels.
MISSING_LINE_CHARS = 8
ELLIPSIS = "…"
# PNG text chunks matplotlib writes by default (its name and version): none, so the image is
# the same bytes whatever the server runs and tells nothing about it.
NO_METADATA = {"Software": None}


# A value on the y axis in the reader's form: a share as the page writes a percentage ("45 %"
# in Russian), a count grouped as the page groups it ("1 234"); the page's Translator gives
# both (percent, number). Without one, English: "45%", counts as matplotlib writes them.
Shown = Callable[[float], str]


@dataclass(frozen=True)
class Plot:
    data_uri: str
    alt: str


def _figure(width_in: float = 5.0, height_in: float = 2.6) -> tuple[Any, Any]:
    """A new figure on its own Agg canvas (non-interactive, whatever backend pyplot was given):
    nothing of it is shared with another request's."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width_in, height_in), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def _encode(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=SAVE_DPI, metadata=NO_METADATA)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def row_label(label: str) -> str:
    """`label` as a table's row names it, and so as a plot of that table shows it: its first
    letter a capital ("urban" -> "Urban"), the rest as the catalogue writes it ("Almaty"
    inside a label stays so; str.capitalize would lower it). The same rule as the templates'
    `row_label` macro (templates/_macros.html), for every language of the page."""
    return label[:1].upper() + label[1:]


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + ELLIPSIS


def tick_label(label: str, *, count: int) -> str:
    """`label` as the plot shows it among `count` labels: wrapped to its share of the width
    when they stand level, one shortened line when they are slanted."""
    if count > LEVEL_LABELS:
        return _shorten(" ".join(label.split()), SLANTED_CHARS)
    width = LEVEL_LINE_CHARS // max(count, 3)
    lines = textwrap.wrap(label, width=width, break_long_words=True) or [""]
    if len(lines) > LABEL_LINES:
        lines = [*lines[: LABEL_LINES - 1], _shorten(" ".join(lines[LABEL_LINES - 1 :]), width)]
    return "\n".join(lines)


def _label_axis(axes: Any, labels: Sequence[str]) -> None:
    """Ticks under the bars with their labels (`tick_label`); slanted ones end at their tick."""
    count = len(labels)
    shown = [tick_label(label, count=count) for label in labels]
    if count > LEVEL_LABELS:
        axes.set_xticks(
            range(count), shown, fontsize=TEXT_PT, rotation=40, ha="right", rotation_mode="anchor"
        )
    else:
        axes.set_xticks(range(count), shown, fontsize=TEXT_PT)


def _share_axis(axes: Any, shown: Shown | None) -> None:
    """A 0..1 share axis in whole percentages, as the table beside it shows them."""
    from matplotlib.ticker import PercentFormatter

    axes.set_ylim(0.0, 1.0)
    if shown is None:
        axes.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
    _ticks_shown(axes, shown)


def _ticks_shown(axes: Any, shown: Shown | None) -> None:
    """The y axis's tick labels at TEXT_PT, in the reader's form (`Shown`) where one is given."""
    from matplotlib.ticker import FuncFormatter

    axes.tick_params(axis="y", labelsize=TEXT_PT)
    if shown is not None:
        axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _position: shown(value)))


def _no_data(figure: Any, axes: Any, *, title: str, no_data: str) -> str:
    """A plot with nothing to draw: its title and `no_data` in words, not an empty axis."""
    axes.set_axis_off()
    axes.set_title(title, fontsize=TITLE_PT)
    axes.text(
        0.5, 0.5, no_data, ha="center", va="center", fontsize=TITLE_PT, transform=axes.transAxes
    )
    return _encode(figure)


def _bars(axes: Any, values: Sequence[float | None], *, missing: str) -> None:
    """A bar per measured value; `missing` in words, upright from the axis (in lines short
    enough to stay within the bars' height), where a value is None (a bar of height 0 would
    say 0 where nothing was measured)."""
    measured = [(x, float(v)) for x, v in enumerate(values) if v is not None]
    axes.bar([x for x, _ in measured], [v for _, v in measured], color=BAR_COLOUR, width=0.5)
    upright = textwrap.fill(missing, width=MISSING_LINE_CHARS)
    for x, value in enumerate(values):
        if value is None:
            axes.text(
                x, 0.02, upright, transform=axes.get_xaxis_transform(), rotation=90,
                ha="center", va="bottom", fontsize=TEXT_PT, color=MISSING_COLOUR,
            )  # fmt: skip


def bar_plot(
    labels: Sequence[str],
    values: Sequence[float | None],
    *,
    title: str,
    ylabel: str,
    alt: str,
    ylim: tuple[float, float] | None = (0.0, 1.0),
    threshold: float | None = None,
    no_data: str = "—",
    shown: Shown | None = None,
) -> Plot:
    """One bar per label; a missing value (None: nothing measured, as a rate of no decisions)
    draws no bar but `no_data` upright at its place, so it never reads as 0. `threshold` adds
    a dashed line.

    With `ylim` (0, 1) the values are shares, shown in percent; with None they are counts,
    on whole-number ticks; `shown` writes either as the page does. No label at all draws
    `no_data` (the reader's words for it)."""
    from matplotlib.ticker import MaxNLocator

    figure, axes = _figure()
    if not labels:
        return Plot(_no_data(figure, axes, title=title, no_data=no_data), alt)
    _bars(axes, values, missing=no_data)
    _label_axis(axes, labels)
    axes.set_title(title, fontsize=TITLE_PT)
    axes.set_ylabel(ylabel, fontsize=AXIS_NAME_PT)
    if ylim == (0.0, 1.0):
        _share_axis(axes, shown)
    else:
        if ylim is not None:
            axes.set_ylim(*ylim)
        else:
            axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        _ticks_shown(axes, shown)
    if threshold is not None:
        axes.axhline(threshold, color=LINE_COLOUR, linestyle="--", linewidth=1)
    if len(labels) < 3:  # keep a lone bar from filling the whole plot
        axes.set_xlim(-1, len(labels))
    return Plot(_encode(figure), alt)


def paired_bar_plot(
    labels: Sequence[str],
    reference: Sequence[float],
    current: Sequence[float],
    *,
    names: tuple[str, str],
    title: str,
    alt: str,
    no_data: str = "—",
    shown: Shown | None = None,
) -> Plot:
    """Reference and current shares side by side per label (drift of a distribution), in
    percent (written by `shown`, as the page writes them). No label at all draws `no_data`
    (the reader's words for it)."""
    figure, axes = _figure()
    if not labels:
        return Plot(_no_data(figure, axes, title=title, no_data=no_data), alt)
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
    _label_axis(axes, labels)
    _share_axis(axes, shown)
    axes.set_title(title, fontsize=TITLE_PT)
    axes.legend(fontsize=TEXT_PT)
    return Plot(_encode(figure), alt)
