"""Review 20: the evaluation report's plots stay readable (confusion counts on dark cells, a
severity axis of the measured levels) and its calibration warning points the right way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from training import report_plots, report_warnings


@pytest.fixture
def drawn(monkeypatch) -> list[Any]:
    """The figures the plot functions close, kept (and closed) to look at what they drew."""
    figures: list[Any] = []
    close = plt.close

    def keep(fig: Any) -> None:
        figures.append(fig)
        close(fig)

    monkeypatch.setattr(plt, "close", keep)
    return figures


def test_confusion_counts_on_dark_cells_are_written_in_white(tmp_path: Path, drawn):
    # Before: every count was black, so a good model's diagonal (recall near 1, the darkest
    # blue) showed its counts black on navy.
    matrix = [[95, 3, 2], [1, 98, 1], [0, 2, 60]]
    report_plots.plot_confusion(tmp_path / "c.png", matrix, ["a", "b", "c"], "room")
    colours = {
        text.get_text(): matplotlib.colors.to_hex(text.get_color())
        for text in drawn[0].axes[0].texts
    }
    assert {colours[n] for n in ("95", "98", "60")} == {"#ffffff"}
    assert {colours[n] for n in ("3", "2", "1", "0")} == {"#000000"}


def test_robustness_axis_shows_only_the_measured_severities(tmp_path: Path, drawn):
    # Before: matplotlib's ticks for 1..3 were 1.0, 1.5, ..., 3.0 (no severity 1.5 exists).
    curves: dict[str, dict[str, dict[str, float | None]]] = {
        name: {str(s): {"room.macro_f1": 1 - s / 5} for s in (1, 3, 2)}
        for name in ("blur", "noise")
    }
    report_plots.plot_robustness(tmp_path / "r.png", curves)
    assert list(drawn[0].axes[0].get_xticks()) == [1, 2, 3]


@pytest.mark.parametrize(
    ("bound", "words"),
    [(0.05, "bound 0.05: the fit wanted it lower"), (20.0, "bound 20: the fit wanted it higher")],
)
def test_bound_warning_says_which_way_the_probabilities_are_off(bound, words):
    # softmax(logits / T): a T held at 0.05 could not sharpen enough (still under-confident),
    # one held at 20 could not soften enough (still over-confident).
    lines = report_warnings.bound_lines({"calibration": {"temperature_at_bound": {"room": bound}}})
    assert words in lines[0]
    assert ("under-confident" if bound < 1 else "over-confident") in lines[0]
    assert lines[-1] == ""
    assert report_warnings.bound_lines({"calibration": {"temperature_at_bound": {}}}) == []
