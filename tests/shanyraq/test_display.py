"""A number beside a threshold keeps its side when rounded for display."""

from __future__ import annotations

import pytest

from shanyraq.display import decimals_keeping_side, side


@pytest.mark.parametrize(
    ("value", "digits"),
    [
        (45.6, 0),  # far from both: a whole percentage
        (70.0, 0),  # on the threshold: shown on it
        (69.6, 1),  # 69.6 %, not 70 % (needs review)
        (69.96, 2),
        (10.4, 1),  # 10.4 %, not 10 % (needs review)
        (9.96, 2),  # 9.96 %, not 10 % (not eligible)
        (70.04, 2),  # above the threshold, not on it
        (69.99996, 3),  # none up to `most` keeps it: `most`
    ],
)
def test_the_fewest_decimals_that_keep_every_side(value, digits):
    assert decimals_keeping_side(value, (10.0, 70.0)) == digits


def test_a_report_figure_starts_from_its_least_decimals():
    assert decimals_keeping_side(4.96, [5.0], least=1, most=9) == 2  # +4.96, never +5.0
    assert decimals_keeping_side(5.3, [5.0], least=1, most=9) == 1


def test_float_noise_is_no_side():
    gain = 100 * (0.57 - 0.52)  # 4.999999999999993
    assert side(gain, 5.0) == 0
    assert decimals_keeping_side(gain, [5.0], least=1, most=9) == 1
    assert side(4.99, 5.0) == -1 and side(5.01, 5.0) == 1
