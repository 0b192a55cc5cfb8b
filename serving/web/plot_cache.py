"""The oversight page's plots, each drawn once per distinct input and kept in a bounded cache.

Drawing the page's plots costs about a second per request (matplotlib), while the figures
behind them change only when decisions, assessments or photos do. A plot is kept under a
digest of exactly what it draws: the drawing function, its labels, values, titles and other
arguments, and the reader's language (`form`: how its formatter `shown` writes a value, as
"45 %" in Russian). New figures make a new key, so a plot is never served stale; its text
alternative is not drawn and is always the caller's own. The least recently used plots are
forgotten past `capacity`. Each app keeps its own (`app_plot_cache`); the page's helpers draw
without one where none is given.

Thread-safe: the cache is guarded by a lock, and drawing happens outside it with a figure
object per call (serving/web/plots.py). Two requests that meet the same new plot at once may
both draw it (the same bytes); one is kept.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from serving.web.plots import Plot

# Not in the picture: the text alternative is always the caller's own.
NOT_KEYED = ("alt",)


def plot_key(
    draw: Callable[..., Plot], args: tuple[Any, ...], kwargs: dict[str, Any], form: str
) -> str:
    """The digest of what `draw(*args, **kwargs)` puts in the picture, in the reader's `form`.

    A formatter (`shown`, as Translator.percent) is keyed by its name, and `form` (the reader's
    language) says how it writes a value. Floats are written exactly (their repr), NaN (a side
    without photos) apart from None; a value JSON does not know is written as its type and
    repr, so it cannot pass for a label or a number."""
    drawn = {
        k: getattr(v, "__qualname__", v) if callable(v) else v
        for k, v in kwargs.items()
        if k not in NOT_KEYED
    }
    text = json.dumps(
        [f"{draw.__module__}.{draw.__qualname__}", args, drawn, form],
        sort_keys=True,
        ensure_ascii=False,
        default=_tagged,
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _tagged(value: object) -> list[str]:
    return ["\x00", type(value).__qualname__, repr(value)]


class PlotCache:
    """Drawn plots (their data URIs) by `plot_key`, the least recently used forgotten first.

    `drawn` and `served` count the draws and the plots served from the cache."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("a plot cache holds at least one plot")
        self.capacity = capacity
        self.drawn = 0
        self.served = 0
        self._uris: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._uris)

    def clear(self) -> None:
        """Forget every plot and reset the counts."""
        with self._lock:
            self._uris.clear()
            self.drawn = self.served = 0

    def plot(self, draw: Callable[..., Plot], *args: Any, form: str, **kwargs: Any) -> Plot:
        """`draw(*args, **kwargs)`, drawn only if no plot of the same key is kept; the text
        alternative is `kwargs["alt"]` either way."""
        key = plot_key(draw, args, kwargs, form)
        with self._lock:
            uri = self._uris.get(key)
            if uri is not None:
                self._uris.move_to_end(key)
                self.served += 1
        if uri is not None:
            return Plot(uri, kwargs["alt"])
        plot = draw(*args, **kwargs)
        with self._lock:
            self._uris[key] = plot.data_uri
            self._uris.move_to_end(key)
            while len(self._uris) > self.capacity:
                self._uris.popitem(last=False)
            self.drawn += 1
        return plot


def plot_with(
    cache: PlotCache | None, draw: Callable[..., Plot], *args: Any, form: str, **kwargs: Any
) -> Plot:
    """`draw(*args, **kwargs)` through `cache`, or drawn anew where there is none."""
    if cache is None:
        return draw(*args, **kwargs)
    return cache.plot(draw, *args, form=form, **kwargs)


_MAKING = threading.Lock()


def app_plot_cache(app: Any) -> PlotCache:
    """The app's plot cache (`app.state.plot_cache`), made on first use with its settings'
    `oversight_plot_cache` (configs/serving.yaml): one per app, so a new app (a restart, a
    test's) starts with none kept."""
    cache = getattr(app.state, "plot_cache", None)
    if cache is None:
        with _MAKING:  # two first requests at once make one cache
            cache = getattr(app.state, "plot_cache", None)
            if cache is None:
                capacity = app.state.services.settings.oversight_plot_cache
                cache = app.state.plot_cache = PlotCache(capacity)
    return cache
