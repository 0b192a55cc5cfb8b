"""The audit page's filter form in a real browser, in English, Russian and Kazakh: at 1280 px
its four controls (the action list, the code field, the chain check's box and the button)
stand in one row; at 360 px the fields stand one under another, each as wide as the form,
and nothing runs past the window."""

from __future__ import annotations

from typing import Any

import pytest

from tests.web.live_module import measured

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PHONE = {"width": 360, "height": 740}
DESK = {"width": 1280, "height": 900}
# The form's controls, as the national admin (who may verify the chain) has them.
CONTROLS = ("#action", "#action-code", "#verify", "form.filters button")
# Each control's box (left, top, right, bottom), the form's, and the page's widths.
MEASURE = """(selectors) => {
  const box = e => {
    const r = e.getBoundingClientRect();
    return [r.left, r.top, r.right, r.bottom];
  };
  return {controls: selectors.map(s => box(document.querySelector(s))),
          form: box(document.querySelector('form.filters')),
          page: document.scrollingElement.scrollWidth,
          window: document.scrollingElement.clientWidth};
}"""
# The main column at 1280 px is 72rem less its padding: 1120 px. The four controls' own widths
# (the longest action label in the list, a code field of 18rem, the check's label, the button)
# come to about 700 px in Russian, the longest of the three: one row holds them, the code
# field's help wrapping above its field.
DESK_ROWS = 1


def _measure(browser: Any, server: Any, viewport: dict[str, int], language: str) -> Any:
    scripts = [(MEASURE, list(CONTROLS))]
    (found,) = measured(browser, server, "/ui/audit", language=language, viewport=viewport,
                        scripts=scripts)  # fmt: skip
    return found


def _rows(boxes: list[list[float]]) -> list[list[list[float]]]:
    """The boxes grouped into rows: a box that starts below every box of the row above (by more
    than a pixel) starts a row of its own; one that overlaps it vertically stands in it."""
    rows: list[list[list[float]]] = []
    for box in sorted(boxes, key=lambda b: b[1]):
        if rows and box[1] < max(b[3] for b in rows[-1]) - 1:
            rows[-1].append(box)
        else:
            rows.append([box])
    return rows


@pytest.mark.parametrize("language", ["en", "ru", "kk"])
def test_the_audit_filters_stand_in_one_row_at_1280_px(browser, seeded_server, language):
    # Before: the code field's help, one long line, took a row of its own width, so the
    # controls stood in two rows (English, Kazakh) or three (Russian).
    found = _measure(browser, seeded_server, DESK, language)
    action, code, _, button = found["controls"]
    rows = _rows(found["controls"])
    assert len(rows) <= DESK_ROWS, rows
    assert abs(action[3] - code[3]) <= 1, (action, code)  # the fields line up by their foot
    assert code[2] - code[0] >= 16 * 16, code  # the code field keeps room for a code
    assert button[2] <= found["form"][2] + 1, (button, found["form"])
    assert found["page"] <= found["window"], found


@pytest.mark.parametrize("language", ["en", "ru", "kk"])
def test_the_audit_filters_stack_within_the_window_at_360_px(browser, seeded_server, language):
    # Before: the action list kept its options' width (about 200 px) under a code field as
    # wide as the form: two fields of different widths, one under the other.
    found = _measure(browser, seeded_server, PHONE, language)
    action, code, check, button = found["controls"]
    form = found["form"]
    assert found["page"] <= found["window"], found  # nothing runs past the window
    for box in found["controls"]:
        assert box[0] >= form[0] - 1 and box[2] <= found["window"], (box, found)
    assert action[3] <= code[1], (action, code)  # one under the other
    for field in (action, code):  # each as wide as the form
        assert abs(field[0] - form[0]) <= 1 and abs(field[2] - form[2]) <= 1, (field, form)
    assert code[3] <= min(check[1], button[1]), (code, check, button)
