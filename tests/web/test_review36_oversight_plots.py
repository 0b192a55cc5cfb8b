"""The oversight page draws each plot once per distinct figures, labels and language: a view
with unchanged figures draws nothing, new figures or another language draw their own plots,
the cache stays bounded, and concurrent draws stay apart."""

from __future__ import annotations

import math
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from serving.web import plots
from serving.web.i18n import translator
from serving.web.plot_cache import PlotCache, app_plot_cache, plot_key
from serving.web.plots import Plot, bar_plot, paired_bar_plot
from shanyraq.config import read_yaml
from tests.serving.helpers import OTHER_REGION, PASSWORD, ROOT, make_settings, started
from tests.web.helpers import sign_in
from tests.web.oversight_helpers import decide_family


@pytest.fixture
def draws(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The count of matplotlib figures made (one per plot drawn)."""
    made = [0]
    figure = plots._figure

    def counted(*args: Any, **kwargs: Any) -> Any:
        made[0] += 1
        return figure(*args, **kwargs)

    monkeypatch.setattr(plots, "_figure", counted)
    return made


def _images(page: str) -> list[tuple[str, str]]:
    """The page's plots in order: (data URI, text alternative)."""
    return re.findall(r'<img src="(data:image/png[^"]*)" alt="([^"]*)"', page)


def _distinct(images: list[tuple[str, str]]) -> int:
    """How many different pictures: a plot of the same figures and title is drawn once (the
    page shows none twice, so it is as many as the page shows)."""
    return len({uri for uri, _ in images})


def test_a_second_view_of_the_same_figures_draws_nothing(web, browser_for, draws):
    decide_family(web, "F1")
    admin = browser_for("admin")
    first = _images(admin.get("/ui/oversight").text)
    drawn = draws[0]
    assert len(first) == 8 == drawn
    second = _images(admin.get("/ui/oversight").text)
    assert draws[0] == drawn  # nothing drawn again
    assert second == first
    assert len(app_plot_cache(web.app)) == drawn == _distinct(first)


def test_new_figures_draw_new_plots_and_only_those(web, browser_for, draws):
    decide_family(web, "F1")
    admin = browser_for("admin_national")
    before = _images(admin.get("/ui/oversight").text)
    drawn = draws[0]
    decide_family(web, "F2", region=OTHER_REGION)  # another region, another override
    after = _images(admin.get("/ui/oversight").text)
    assert 0 < draws[0] - drawn < 8
    level, region, reason = range(3)
    assert after[region][0] != before[region][0]  # a second region's bar
    assert after[reason][0] != before[reason][0]  # two overrides for the reason, not one
    assert after[level][0] == before[level][0]  # one level group, every decision overridden
    assert after[-2:] == before[-2:]  # drift: still no photos


def test_each_language_has_its_own_plots(web, browser_for, draws):
    decide_family(web, "F1")
    admin = browser_for("admin")
    english = _images(admin.get("/ui/oversight?lang=en").text)
    russian = _images(admin.get("/ui/oversight?lang=ru").text)
    assert draws[0] == _distinct(english) + _distinct(russian)
    for (en_uri, en_alt), (ru_uri, ru_alt) in zip(english, russian, strict=True):
        assert en_uri != ru_uri and en_alt != ru_alt
    assert _images(admin.get("/ui/oversight?lang=en").text) == english
    assert draws[0] == _distinct(english) + _distinct(russian)


def test_the_apps_cache_holds_as_many_plots_as_its_settings_say(tmp_path):
    shipped = read_yaml(ROOT / "configs" / "serving.yaml")["oversight_plot_cache"]
    assert make_settings(tmp_path / "shipped", "").oversight_plot_cache == shipped
    with started(tmp_path / "site", oversight_plot_cache=3) as service:
        decide_family(service, "F1")
        admin = TestClient(service.app, base_url="http://127.0.0.1")
        assert sign_in(admin, "admin", PASSWORD).status_code == 303
        page = admin.get("/ui/oversight")
        assert page.status_code == 200
        cache = app_plot_cache(service.app)
        assert cache.capacity == 3 and len(cache) == 3 < _distinct(_images(page.text))


def _fake_draw(labels: list[str], values: list[float | None], *, alt: str, **_: Any) -> Plot:
    """A stand-in for a plot function that writes its inputs into the "picture"."""
    return Plot(f"data:{labels}={values}", alt)


def test_the_cache_keeps_at_most_its_capacity_forgetting_the_least_recently_used():
    cache = PlotCache(capacity=3)
    calls: list[str] = []

    def draw(labels: list[str], values: list[float | None], *, alt: str) -> Plot:
        calls.append(labels[0])
        return _fake_draw(labels, values, alt=alt)

    for name in "abc":
        cache.plot(draw, [name], [0.5], alt="", form="en")
    cache.plot(draw, ["a"], [0.5], alt="", form="en")  # a: used last, b: least recently
    for name in "de":
        cache.plot(draw, [name], [0.5], alt="", form="en")
    assert len(cache) == 3 and calls == ["a", "b", "c", "d", "e"]
    cache.plot(draw, ["a"], [0.5], alt="", form="en")
    cache.plot(draw, ["b"], [0.5], alt="", form="en")
    assert calls[-1] == "b" and calls.count("a") == 1  # b was forgotten, a was kept
    assert len(cache) == 3 and (cache.drawn, cache.served) == (6, 2)


def test_a_kept_plot_comes_with_the_callers_text_alternative():
    cache = PlotCache(capacity=4)
    first = cache.plot(_fake_draw, ["a"], [0.5], alt="old words", form="en")
    again = cache.plot(_fake_draw, ["a"], [0.5], alt="new words", form="en")
    assert again == Plot(first.data_uri, "new words") and cache.drawn == 1


def test_the_key_tells_apart_what_the_plot_would_show_differently():
    def key(*args: Any, form: str = "en", **kwargs: Any) -> str:
        return plot_key(bar_plot, args, {"title": "t", "ylabel": "y", "alt": "", **kwargs}, form)

    t_en, t_ru = translator("en"), translator("ru")
    same = key(["a"], [0.5], alt="other words", shown=t_en.percent)
    assert same == key(["a"], [0.5], shown=t_ru.percent)  # the language is in `form`
    assert len({same, key(["a"], [0.5000001], shown=t_en.percent), key(["a"], [0.5]),
                key(["a"], [0.5], shown=t_en.number), key(["a"], [None]), key(["a"], [math.nan]),
                key(["b"], [0.5]), key(["a"], [0.5], form="ru"), key(["a"], [0.5], threshold=0.2),
                key(["a"], [0.5], title="u"), key(["a"], [Decimal("0.5")]),
                key(["a"], ["Decimal('0.5')"])}) == 12  # fmt: skip
    assert plot_key(paired_bar_plot, (["a"], [0.5]), {}, "en") != plot_key(
        bar_plot, (["a"], [0.5]), {}, "en"
    )


def test_concurrent_requests_get_each_their_own_plot():
    cache = PlotCache(capacity=4)
    names = [f"group {i}" for i in range(12)]
    start = threading.Barrier(4)

    def ask(turn: int, name: str) -> Plot:
        if turn < 4:
            start.wait()  # the first four ask together
        return cache.plot(_fake_draw, [name], [0.25], alt=name, form="en")

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(ask, range(36), names * 3))
    assert answers == [_fake_draw([n], [0.25], alt=n) for n in names * 3]
    assert len(cache) <= 4


def test_plots_drawn_at_once_in_threads_are_those_drawn_one_by_one():
    inputs = [(["a", "b"], [0.25, None]), (["c"], [1.0]), (["d", "e", "f"], [0.1, 0.2, 0.3])]
    alone = [bar_plot(labels, values, title="t", ylabel="y", alt="") for labels, values in inputs]
    start = threading.Barrier(len(inputs))

    def draw(given: tuple[list[str], list[float | None]]) -> Plot:
        start.wait()
        return bar_plot(given[0], given[1], title="t", ylabel="y", alt="")

    with ThreadPoolExecutor(len(inputs)) as pool:
        assert list(pool.map(draw, inputs)) == alone
