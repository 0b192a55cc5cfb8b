"""Drift and oversight plots (review 16): the PSI against hand-computed figures, empty bins
floored; a promotion's score shift survives a score with an empty head; the oversight plots
say when there is nothing to draw, keep long region names readable, show shares in percent
and counts in whole numbers, and are the same bytes for the same data with no metadata."""

from __future__ import annotations

import base64
import math
import struct
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

# The longest region names the pages ship (serving/web/i18n/ru.yaml), and one far longer.
LONG_REGIONS = (
    "Восточно-Казахстанская область",
    "Северо-Казахстанская область",
    "Мангистауская область",
)
VERY_LONG = "Регион с очень длинным названием, которое не помещается ни в одну подпись " * 3


# --- the PSI -----------------------------------------------------------------------------


def _hand_psi(reference: dict[str, float], current: dict[str, float], floor: float) -> float:
    """PSI written out term by term, each share floored, as a reader checks it by hand."""
    keys = set(reference) | set(current)
    p = {k: max(reference.get(k, 0.0), floor) for k in keys}
    q = {k: max(current.get(k, 0.0), floor) for k in keys}
    return sum((q[k] - p[k]) * math.log(q[k] / p[k]) for k in keys)


def test_psi_equals_the_hand_computed_figure():
    """0.5/0.3/0.2 against 0.4/0.4/0.2: 0.1 ln(0.8 ** -1) + 0.1 ln(4/3) = 0.0511."""
    from serving.reports import _psi

    psi = _psi({"a": 0.5, "b": 0.3, "c": 0.2}, {"a": 0.4, "b": 0.4, "c": 0.2})
    assert psi == pytest.approx(0.1 * math.log(1 / 0.8) + 0.1 * math.log(4 / 3))
    assert psi == pytest.approx(0.0511, abs=1e-4)


def test_a_bin_empty_on_one_side_is_floored_not_infinite():
    """A room the reference never saw (share 0) would be log(0) or a division by zero: the
    share is floored, so the PSI is a large finite figure, the same either way round."""
    from serving.reports import _EPS, _psi

    reference, current = {"kitchen": 1.0}, {"kitchen": 0.5, "bedroom": 0.5}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        forward, backward = _psi(reference, current), _psi(current, reference)
    assert forward is not None and math.isfinite(forward)
    assert forward == pytest.approx(_hand_psi(reference, current, _EPS))
    assert backward == pytest.approx(forward)
    assert forward > 0.25 * 10  # far above the shipped alert: a room never seen in training


def test_identical_distributions_give_zero_and_an_empty_side_gives_none():
    from serving.reports import _psi

    assert _psi({"3": 1.0}, {"3": 1.0}) == 0.0  # every photo the same grade, both sides
    assert _psi({"a": 0.25, "b": 0.75}, {"b": 0.75, "a": 0.25}) == pytest.approx(0.0)
    assert _psi({}, {"a": 1.0}) is None and _psi({"a": 1.0}, {}) is None


# --- a promotion's score shift -----------------------------------------------------------


def _stored(room: str, *, rooms: dict[str, float] | None = None) -> dict[str, Any]:
    """A stored score (PhotoScore.to_dict) whose top room is `room`, or whose room head is
    `rooms` as given (an empty one, say)."""
    from shanyraq.taxonomy import get_taxonomy
    from vision.score import PhotoScore

    taxonomy = get_taxonomy()
    if rooms is None:
        rooms = {name: 0.9 if name == room else 0.02 for name in taxonomy.room_names}
    return PhotoScore(
        photo_sha256="0" * 64, model_version="m", room=rooms,
        condition={1: 0.1, 2: 0.1, 3: 0.6, 4: 0.1, 5: 0.1},
        signs=dict.fromkeys(taxonomy.sign_names, 0.2), embedding=np.zeros(0, dtype=np.float32),
    ).to_dict()  # fmt: skip


def test_a_score_with_an_empty_room_head_is_counted_without_numbers_not_a_crash():
    """A stored score whose room head is empty names no top room (the drift report leaves it
    out: has_numbers); the dry run of a promotion raised ValueError (max of nothing)."""
    from serving.score_shift import ShiftTally, shift_lines

    tally = ShiftTally()
    tally.add(_stored("kitchen"), _stored("", rooms={}))
    tally.add(_stored("kitchen"), _stored("bedroom"))
    shift = tally.result()
    assert (shift.new.photos, shift.new.without_numbers) == (2, 1)
    assert shift.new.top_rooms == {"bedroom": 1} and shift.room_changed == 1
    assert shift.new.mean_condition == pytest.approx(3.0)
    assert list(shift.new.mean_signs.values()) == pytest.approx([0.2] * len(shift.new.mean_signs))
    assert shift.new.mean_signs
    assert "scores without numbers" in "\n".join(shift_lines(shift))


# --- the oversight plots -----------------------------------------------------------------


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """The figures the plots encode, in order, laid out again at the page's size."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from serving.web import plots

    figures: list[Any] = []
    encode = plots._encode

    def keep(figure: Any) -> str:
        uri = encode(figure)
        FigureCanvasAgg(figure).draw()
        figures.append(figure)
        return uri

    monkeypatch.setattr(plots, "_encode", keep)
    yield figures


def _texts(figure: Any) -> list[str]:
    return [t.get_text() for axes in figure.axes for t in axes.texts]


def test_a_drift_plot_without_values_says_so_instead_of_an_empty_axis(drawn):
    from serving.web.plots import paired_bar_plot

    paired_bar_plot([], [], [], names=("эталон", "сейчас"), title="Распределение: комната",
                    alt="нет данных", no_data="данных пока нет")  # fmt: skip
    axes = drawn[-1].axes[0]
    assert not axes.axison and _texts(drawn[-1]) == ["данных пока нет"]
    assert axes.get_title() == "Распределение: комната"


def test_a_rate_plot_without_values_says_so_in_the_words_given(drawn):
    from serving.web.plots import bar_plot

    bar_plot([], [], title="By region", ylabel="override rate", alt="", no_data="no data yet")
    assert not drawn[-1].axes[0].axison and _texts(drawn[-1]) == ["no data yet"]


def _png_chunks(uri: str) -> list[bytes]:
    data = base64.b64decode(uri.split(",", 1)[1])
    kinds, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kinds.append(data[at + 4 : at + 8])
        at += 12 + length
    return kinds


def test_a_plot_is_the_same_png_for_the_same_data_and_carries_no_metadata():
    """No text or time chunk (matplotlib writes its name and version by default): the bytes
    depend on the figures alone, so a cached page or a test compares them as they are."""
    from serving.web.plots import bar_plot, paired_bar_plot

    def both() -> tuple[str, str]:
        rates = bar_plot(["a", "b"], [0.25, None], title="t", ylabel="y", alt="")
        shares = paired_bar_plot(["a"], [1.0], [0.5], names=("r", "c"), title="t", alt="")
        return rates.data_uri, shares.data_uri

    first, second = both(), both()
    assert first == second
    for uri in first:
        chunks = _png_chunks(uri)
        assert chunks[0] == b"IHDR" and chunks[-1] == b"IEND"
        assert not {b"tEXt", b"iTXt", b"zTXt", b"tIME"} & set(chunks), chunks


def _label_boxes(figure: Any) -> list[Any]:
    renderer = figure.canvas.get_renderer()
    axes = figure.axes[0]
    return [t.get_window_extent(renderer) for t in axes.get_xticklabels() if t.get_text()]


@pytest.mark.parametrize("plot", ["rates", "shares"])
def test_a_few_long_region_names_are_wrapped_apart_inside_the_plot(drawn, plot):
    """Three of the longest shipped region names, level: written on one line each they ran
    into one another; wrapped, no two touch and none leaves the image."""
    from serving.web.plots import bar_plot, paired_bar_plot

    n = len(LONG_REGIONS)
    if plot == "rates":
        bar_plot(LONG_REGIONS, [0.4] * n, title="t", ylabel="y", alt="")
    else:
        paired_bar_plot(LONG_REGIONS, [0.3] * n, [0.4] * n, names=("r", "c"), title="t", alt="")
    figure = drawn[-1]
    boxes = _label_boxes(figure)
    assert len(boxes) == n
    for i, box in enumerate(boxes):
        assert figure.bbox.x0 <= box.x0 and box.x1 <= figure.bbox.x1, (i, box)
        assert all(not box.overlaps(other) for other in boxes[i + 1 :]), i
    shown = [t.get_text() for t in figure.axes[0].get_xticklabels()]
    assert [" ".join(s.replace("-\n", "-").split()) for s in shown] == list(LONG_REGIONS)


def test_many_labels_slant_and_end_at_their_own_bar(drawn):
    """Eight regions slant; each label ends under its own tick (a label centred on its tick
    reads as the next bar's), and the bars keep a fair share of the plot's height."""
    from serving.web.plots import bar_plot

    labels = [*LONG_REGIONS, "Шымкент", "Алматы", "Астана", "Туркестанская область", "Кар"]
    bar_plot(labels, [0.4] * len(labels), title="t", ylabel="y", alt="")
    figure = drawn[-1]
    axes = figure.axes[0]
    to_pixels = axes.transData.transform
    ticks = [to_pixels((x, 0))[0] for x in axes.get_xticks()]
    for tick, box in zip(ticks, _label_boxes(figure), strict=True):
        assert abs(box.x1 - tick) < 12, (tick, box)  # centred: half a label (60 px and more) off
    assert axes.get_window_extent().height > 0.3 * figure.bbox.height


@pytest.mark.parametrize("count", [1, 2, 3, 8])
def test_a_name_too_long_for_any_plot_is_shortened_not_a_collapsed_layout(drawn, count):
    """A 200-odd character name squeezed the axes to nothing (matplotlib: 'constrained_layout
    not applied'); it is shortened with an ellipsis (the table beside keeps it whole)."""
    from serving.web.plots import bar_plot, paired_bar_plot

    labels = [f"{i} {VERY_LONG}" for i in range(count)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bar_plot(labels, [0.5] * count, title="t", ylabel="y", alt="")
        paired_bar_plot(labels, [0.5] * count, [0.5] * count, names=("r", "c"), title="t", alt="")
    for figure in drawn[-2:]:
        axes = figure.axes[0]
        assert axes.get_window_extent().height > 0.3 * figure.bbox.height
        shown = [t.get_text() for t in axes.get_xticklabels()]
        assert all(text.endswith("…") and len(text) < 80 for text in shown), shown


def test_shares_read_in_percent_and_counts_in_whole_numbers(drawn):
    """The table beside a plot shows shares as percentages: the axis does too (not 0.25, with
    a point a Russian or Kazakh reader does not write); a count of overrides has no 0.5."""
    from serving.web.plots import bar_plot, paired_bar_plot

    bar_plot(["a", "b"], [0.25, 0.5], title="t", ylabel="y", alt="")
    paired_bar_plot(["a"], [1.0], [0.5], names=("r", "c"), title="t", alt="")
    bar_plot(["income_evidence"], [1], title="t", ylabel="overrides", alt="", ylim=None)
    rates, shares, counts = (figure.axes[0] for figure in drawn[-3:])
    for axes in (rates, shares):
        labels = [t.get_text() for t in axes.get_yticklabels()]
        assert labels[0] == "0%" and labels[-1] == "100%", labels
    assert all(float(tick).is_integer() for tick in counts.get_yticks())
