"""tests/plots_once_helpers.py keeps the oversight page's "no data" plot per title, words and
figure size for the test process: the same picture as drawn, drawn again for other words or
another size, and drawn every time while a test reads the figures drawn through its own
`_encode`."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from matplotlib.figure import Figure

from serving.web import plots
from tests.web.oversight_page_helpers import read_figures


@pytest.fixture
def saved(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The figures saved as PNG (matplotlib's own savefig, counted)."""
    figures: list[Any] = []
    real = Figure.savefig

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        figures.append(self)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", counted)
    return figures


def _empty(title: str, words: str) -> plots.Plot:
    return plots.bar_plot([], [], title=title, ylabel="Rate", alt="none", no_data=words)


def test_the_same_words_are_drawn_once_as_the_real_drawing(saved: list[Any]) -> None:
    title = f"Override rate {uuid.uuid4()}"
    first, again = _empty(title, "No decisions yet"), _empty(title, "No decisions yet")
    assert len(saved) == 1
    assert again == first
    figure, axes = plots._figure()
    drawn = plots._no_data.__wrapped__(figure, axes, title=title, no_data="No decisions yet")
    assert first.data_uri == drawn
    # the paired plot of the drift section keeps the same picture for the same words
    assert plots.paired_bar_plot([], [], [], names=("a", "b"), title=title, alt="none",
                                 no_data="No decisions yet") == first  # fmt: skip
    assert len(saved) == 2  # the real drawing above; none for the paired plot


def test_other_words_are_drawn_anew(saved: list[Any]) -> None:
    title = f"Override rate {uuid.uuid4()}"
    english, russian = _empty(title, "No decisions yet"), _empty(title, "Решений пока нет")
    other_title = _empty(f"{title}.", "No decisions yet")
    assert len(saved) == 3
    assert len({english.data_uri, russian.data_uri, other_title.data_uri}) == 3


def test_a_figure_of_another_size_is_drawn_anew(saved: list[Any]) -> None:
    title = f"Override rate {uuid.uuid4()}"
    shown = _empty(title, "No decisions yet")
    figure, axes = plots._figure(6.0, 3.0)
    wider = plots._no_data(figure, axes, title=title, no_data="No decisions yet")
    assert len(saved) == 2
    assert wider != shown.data_uri


def test_a_test_reading_the_figures_gets_every_one_drawn(
    saved: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    title = f"Override rate {uuid.uuid4()}"
    kept = _empty(title, "No decisions yet")
    figures = read_figures(monkeypatch)
    assert _empty(title, "No decisions yet") == kept
    assert _empty(title, "No decisions yet") == kept
    assert [figure.axes[0].get_title() for figure in figures] == [title, title]
    assert len(saved) == 3
