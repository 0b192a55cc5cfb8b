"""Review 20: a measurement file in the report's output folder that is valid JSON but holds a
field of the wrong type (or lacks one the page reads) is left out as damaged, with the reason,
instead of failing `welfare evaluate`'s report; a well-formed one is still merged."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from welfare import report
from welfare.report import write_report

DIGEST = "a" * 64


def _model() -> dict[str, Any]:
    level = {"accuracy": 0.9, "macro_f1": 0.9, "qwk": 0.9, "confusion": [[1, 0], [0, 1]]}
    asp = {"exclusion_error": 0.01, "needs_review_rate": 0.1, "inclusion_error": 0.0}
    return {
        "version": "lgbm_fused-1",
        "overall": {"level": level, "asp": asp},
        "hidden_income": None,
        "accuracy_by_case": {},
    }


CONTEXT = {
    "command": "test",
    "default_model": "lgbm_fused",
    "data_note": "note",
    "notes": [],
    "n_families": 900,
    "seed": 3,
    "recipe": {"calibration_fraction": 0.2},
    "welfare_config_measured_sha256": DIGEST,
}
CEILING = {
    "model": "lgbm_fused",
    "command": "c",
    "n_families": 900,
    "seed": 3,
    "n_test": 25,
    "rows": [{"reading": "simulated", "n_train": 10, "accuracy": 0.5}],
    "recipe": {"calibration_fraction": 0.2},
    "welfare_config_measured_sha256": DIGEST,
}
REAL = {"data": {"n": 900, "seed": 3}, "fusion_models": {"lgbm_fused": "lgbm_fused-1"}}


def _write(folder: Path, monkeypatch, targets, **files: Any) -> tuple[dict[str, Any], str]:
    """metrics.json and the page written with `files` in the output folder (NaN as NaN)."""
    monkeypatch.setattr(report, "_plots", lambda *args, **kwargs: {})  # not what is tested
    out = folder / "out"
    out.mkdir(parents=True)
    for name, data in files.items():
        (out / f"{name}.json").write_text(json.dumps(data))
    page = write_report(
        {"models": {"lgbm_fused": _model()}},
        out_dir=out,
        markdown=folder / "r.md",
        context=CONTEXT,
        levels=[1, 2],
        targets=targets,
    )
    return json.loads((out / "metrics.json").read_text()), page.read_text()


@pytest.mark.parametrize(
    ("key", "data", "why"),
    [
        ("ceiling", {**CEILING, "recipe": 5}, "`recipe` is a number, not a JSON object"),
        ("ceiling", {**CEILING, "rows": {}}, "`rows` is a JSON object, not a list"),
        (
            "ceiling",
            {**CEILING, "welfare_config_measured_sha256": 5},
            "`welfare_config_measured_sha256` is a number, not text",
        ),
        ("real_scores", {**REAL, "data": [900, 3]}, "`data` is a list, not a JSON object"),
        ("real_scores", {**REAL, "fusion_models": "x"}, "`fusion_models` is text, not a JSON"),
        ("real_scores", {**REAL, "fusion_models": ["lgbm_fused"]}, "`fusion_models` is a list"),
        ("real_scores", {**REAL, "data": True}, "`data` is true/false, not a JSON object"),
        # Deeper than the checks look: the page's section cannot be written from it.
        ("ceiling", {**CEILING, "rows": [{"reading": "a"}]}, "written from it: KeyError: 'n_"),
        ("ceiling", {**CEILING, "rows": ["a"]}, "written from it: TypeError: "),
        ("ceiling", {**CEILING, "n_test": "25"}, "written from it: ValueError: "),
        ("ceiling", {**CEILING, "n_test": math.nan}, "written from it: TypeError: "),  # null
        ("real_scores", REAL, "written from it: KeyError: 'command'"),  # only what is checked
    ],
)
def test_a_measurement_with_a_wrong_typed_field_is_left_out_as_damaged(
    tmp_path, monkeypatch, welfare_config, key, data, why
):
    metrics, text = _write(tmp_path, monkeypatch, welfare_config.targets, **{key: data})
    assert key not in metrics
    skipped = metrics["skipped"][key]["why"]
    assert skipped.startswith("damaged (") and why in skipped, skipped
    assert f"_{key}.json in the output folder was left out: {skipped}." in text


def test_a_well_formed_ceiling_is_still_merged(tmp_path, monkeypatch, welfare_config):
    old = {
        k: v for k, v in CEILING.items() if k not in ("recipe", "welfare_config_measured_sha256")
    }
    for i, ceiling in enumerate((CEILING, old, {**CEILING, "recipe": None})):
        folder = tmp_path / str(i)
        metrics, text = _write(folder, monkeypatch, welfare_config.targets, ceiling=ceiling)
        assert metrics["ceiling"] == ceiling and "skipped" not in metrics
        assert "| simulated | 50.0 % |" in text


def test_an_undefined_figure_in_a_measurement_is_no_damage(tmp_path, monkeypatch, welfare_config):
    """NaN (an older file's undefined figure) reads as null on the page: n/a, not a damage."""
    ceiling = {**CEILING, "rows": [{"reading": "simulated", "n_train": 10, "accuracy": math.nan}]}
    metrics, text = _write(tmp_path, monkeypatch, welfare_config.targets, ceiling=ceiling)
    assert "skipped" not in metrics and metrics["ceiling"]["rows"][0]["accuracy"] is None
    assert "| simulated | n/a |" in text
