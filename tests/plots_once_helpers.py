"""The oversight page's "no data" plot drawn once per test process for the same title, words
and figure size (tests/conftest.py puts it in place for every test process).

Every test starts apps of its own, and a new app draws every plot of the oversight page anew
(its plot cache is the app's: serving/web/plot_cache.py); on the little data a test makes, most
of them are "no data" placeholders, 0.1 s of matplotlib each. Such a picture depends on its
title, its words and the figure's size alone (serving/web/plots.py `_no_data`: the fonts are
the module's constants), and the PNG is the same bytes for the same ones, so the first one
drawn is kept for them. While a test reads the figures drawn (it has put its own
`plots._encode` in place), every one is drawn, as before."""

from __future__ import annotations

from typing import Any

from tests.library_once_helpers import replace_once


def no_data_plots_drawn_once() -> None:
    """`serving.web.plots._no_data` kept per (title, words, figure size) for the process,
    drawn where a test's own `_encode` is in place."""
    from serving.web import plots

    encode = plots._encode

    def wrap(real: Any) -> Any:
        drawn: dict[tuple[str, str, tuple[float, ...]], str] = {}

        def drawn_once(figure: Any, axes: Any, *, title: str, no_data: str) -> str:
            if plots._encode is not encode:  # a test reads the figures drawn
                return str(real(figure, axes, title=title, no_data=no_data))
            key = (title, no_data, tuple(float(x) for x in figure.get_size_inches()))
            if key not in drawn:
                drawn[key] = str(real(figure, axes, title=title, no_data=no_data))
            return drawn[key]

        return drawn_once

    replace_once(plots, "_no_data", wrap)
