"""Review 16: an infinite figure in the evaluation report's target table is no measurement: it
reads "n/a" and is never a target met (NaN already was)."""

from __future__ import annotations

import math
import re

import pytest

from training.recipe import QualityTargets
from training.report import finite_headline, target_checks, target_table


def _head(**changes: object) -> dict[str, object]:
    head: dict[str, object] = {
        "room_macro_f1": 0.99, "condition_qwk": 0.9, "signs_map": 0.9,
        "not_dwelling_recall": 0.99, "ece_after": {"room": 0.01, "condition": 0.01},
        "held_out_style": {"room_macro_f1": 0.98},
        "held_out_style_drop_ci": {"room_macro_f1": [0.0, 0.02]},
    }  # fmt: skip
    head.update(changes)
    return head


@pytest.mark.parametrize("bad", [math.inf, -math.inf])
def test_an_infinite_headline_figure_reads_n_a_and_is_not_met(bad):
    head = _head(room_macro_f1=bad, condition_qwk=bad, signs_map=bad, not_dwelling_recall=bad,
                 ece_after={"room": bad, "condition": 0.01})  # fmt: skip
    rows = {name: (reached, met) for name, _, reached, met in target_checks(head, QualityTargets())}
    undefined = ("n/a (undefined on these photos)", False)
    for name in ("room macro-F1", "condition QWK", "signs mAP", "not_dwelling recall",
                 "ECE room (calibrated)", "held-out style drop, room_macro_f1"):  # fmt: skip
        assert rows[name] == undefined, (name, rows[name])
    assert rows["ECE condition (calibrated)"] == ("0.010", True)


def test_an_infinite_held_out_style_figure_or_interval_reads_n_a():
    head = _head(held_out_style={"room_macro_f1": -math.inf})
    rows = {name: (reached, met) for name, _, reached, met in target_checks(head, QualityTargets())}
    assert rows["held-out style drop, room_macro_f1"] == ("n/a (undefined on these photos)", False)
    head = _head(held_out_style_drop_ci={"room_macro_f1": [-math.inf, math.inf]})
    rows = {name: (reached, met) for name, _, reached, met in target_checks(head, QualityTargets())}
    assert rows["held-out style drop, room_macro_f1"] == ("0.010 [n/a, n/a]", True)


def test_the_target_table_never_prints_inf_or_counts_it_met():
    table = "\n".join(target_table(_head(room_macro_f1=math.inf), QualityTargets()))
    assert "| room macro-F1 | >= 0.97 | n/a (undefined on these photos) | no |" in table, table
    assert not re.search(r"\b(inf|nan)\b", table, re.IGNORECASE), table


def test_finite_headline_leaves_finite_figures_and_the_input_alone():
    head = _head(room_macro_f1=math.inf, n_photos=12)
    finite = finite_headline(head)
    assert math.isnan(finite["room_macro_f1"]) and finite["n_photos"] == 12
    assert finite["ece_after"] == {"room": 0.01, "condition": 0.01}
    assert head["room_macro_f1"] == math.inf
