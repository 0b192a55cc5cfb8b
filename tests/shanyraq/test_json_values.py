"""`finite_or_none`: what JSON cannot hold (NaN, infinity) becomes null, numpy's floats too."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from shanyraq.json_values import finite_or_none


@pytest.mark.parametrize(
    "bad",
    [math.nan, math.inf, -math.inf, np.float32("nan"), np.float32("inf"), np.float64("nan")],
    ids=["nan", "inf", "-inf", "f32-nan", "f32-inf", "f64-nan"],
)
def test_non_finite_numbers_become_null_at_any_depth(bad):
    value = {"a": bad, "b": [1.5, bad, {"c": bad}], "d": (bad, 2)}
    out = finite_or_none(value)
    assert out == {"a": None, "b": [1.5, None, {"c": None}], "d": [None, 2]}
    json.dumps(out, allow_nan=False)  # strict JSON now
    assert value["b"][1] is bad  # a copy: the original is left as it is


def test_finite_values_and_other_types_pass_unchanged():
    value = {"f": np.float32(0.25), "i": 3, "n": np.int64(7), "s": "nan", "t": True, "z": None}
    assert finite_or_none(value) == value
    assert type(finite_or_none(np.float32(0.25))) is np.float32
