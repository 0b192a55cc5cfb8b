"""The evaluation report: its figures come from their sources, and stale measurements stay out."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import yaml

from welfare import report, report_measurements
from welfare.criteria import load_welfare_config
from welfare.real_report import engine_trained_verdict
from welfare.report import ceiling_lines, write_report

REAL = Path(__file__).resolve().parents[2] / "configs" / "welfare.yaml"


def _figure(value: float) -> dict[str, float]:
    return {"value": value, "ci_low": value, "ci_high": value}


def test_target_labels_follow_the_targets(welfare_config):
    level = {"accuracy": 0.91}
    asp = {"exclusion_error": 0.04, "needs_review_rate": 0.1}
    result = {"models": {"m": {"overall": {"level": level, "asp": asp}, "hidden_income": None}}}
    context = {"default_model": "m"}
    shipped = "\n".join(report._target_rows(result, context, welfare_config.targets))
    assert "Level accuracy ≥ 92 % | 91.0 % | NOT reached" in shipped
    assert "Exclusion error ≤ 3 %" in shipped and "needs_review ≤ 15 %" in shipped
    targets = welfare_config.targets.model_copy(
        update={
            "level_accuracy": 0.9,
            "exclusion_error": 0.05,
            "needs_review_rate": 0.125,
            "hidden_income_gain_points": 7.5,
        }
    )
    text = "\n".join(report._target_rows(result, context, targets))
    assert "Level accuracy ≥ 90 % | 91.0 % | reached" in text
    assert "by ≥ 7.5 points" in text
    assert "Exclusion error ≤ 5 % | 4.0 % | reached" in text
    assert "needs_review ≤ 12.5 %" in text


def test_engine_trained_verdict_names_the_targets_it_compares_with(welfare_config):
    arm = {
        "accuracy": _figure(0.8),
        "exclusion_error": _figure(0.04),
        "needs_review_rate": _figure(0.12),
    }
    real = {
        "engine_trained": "e",
        "tabular": "t",
        "fused": "f",
        "overall": {"arms": {"e | engine": arm, "t | engine": arm}, "n_eligible": 50},
        "engine_training": {"train_families": 10},
        "reuse": "full hash",
    }
    shipped = welfare_config.targets
    assert "ABOVE the 3 % target" in " ".join(engine_trained_verdict(real, targets=shipped))
    targets = shipped.model_copy(update={"exclusion_error": 0.05, "needs_review_rate": 0.1})
    text = " ".join(engine_trained_verdict(real, targets=targets))
    assert "within the 5 % target" in text and "ABOVE the 10 % target" in text


def test_ceiling_section_names_the_calibration_share_it_was_measured_with():
    ceiling = {
        "model": "m",
        "command": "c",
        "n_families": 100,
        "seed": 0,
        "n_test": 25,
        "rows": [{"reading": "a", "n_train": 10, "accuracy": 0.5}],
    }
    assert "the recipe's `calibration_fraction` of each" in "\n".join(ceiling_lines(ceiling))
    recorded = {**ceiling, "recipe": {"calibration_fraction": 0.25}}
    assert "25 % of each training set calibrates" in "\n".join(ceiling_lines(recorded))


def _context(result, **changes):
    context = {
        "command": "test",
        "default_model": result["default_model"],
        "data_note": "note",
        "notes": [],
        "n_families": 900,
        "seed": 3,
        "recipe": None,
    }
    return {**context, **changes}


def _ceiling(model, seed, **extra):
    rows = [{"reading": "a", "n_train": 10, "accuracy": 0.5}]
    return {"model": model, "command": "c", "n_families": 100, "seed": seed, "n_test": 25,
            "rows": rows, **extra}  # fmt: skip


def _write(tmp_path, result, context, targets, **files):
    out = tmp_path / "out"
    out.mkdir()
    for name, data in files.items():
        (out / f"{name}.json").write_text(json.dumps(data))
    page = write_report(
        result,
        out_dir=out,
        markdown=tmp_path / "r.md",
        context=context,
        levels=[1, 2, 3, 4, 5, 6],
        targets=targets,
    )
    return json.loads((out / "metrics.json").read_text()), page.read_text()


def _config_with_targets(tmp_path, **targets):
    """configs/welfare.yaml with `targets` changed, loaded from a temp file."""
    data = yaml.safe_load(REAL.read_text())
    data["targets"].update(targets)
    path = tmp_path / "welfare.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_welfare_config(path)


@pytest.mark.parametrize(("level_accuracy", "status"), [(0.05, "reached"), (1.0, "NOT reached")])
def test_target_rows_follow_configs_welfare_yaml(tmp_path, evaluated, level_accuracy, status):
    accuracy = evaluated["models"][evaluated["default_model"]]["overall"]["level"]["accuracy"]
    assert 0.05 <= accuracy < 1.0
    config = _config_with_targets(
        tmp_path, level_accuracy=level_accuracy, exclusion_error=0.5, needs_review_rate=0.0
    )
    _, text = _write(tmp_path, evaluated, _context(evaluated), config.targets)
    target = f"Level accuracy ≥ {report.share(level_accuracy)} | {100 * accuracy:.1f} %"
    assert f"| {target} | {status} |" in text
    assert "| Exclusion error ≤ 50 % |" in text and "| needs_review ≤ 0 % |" in text


def test_measurements_of_these_models_are_merged(tmp_path, evaluated, welfare_config):
    context = _context(evaluated)
    metrics, text = _write(
        tmp_path, evaluated, context, welfare_config.targets, ceiling=_ceiling("lgbm_fused", 3)
    )
    assert metrics["ceiling"]["rows"] and "skipped" not in metrics
    assert "## Ceiling" in text and "in the output folder was left out" not in text


def test_stale_measurements_are_left_out_with_the_reason(
    tmp_path, evaluated, welfare_config, caplog
):
    versions = {name: m["version"] for name, m in evaluated["models"].items()}
    real = {
        "data": {"n": 900, "seed": 3},
        "fusion_models": {**versions, "lgbm_fused": "lgbm_fused-000000000000"},
    }
    with caplog.at_level(logging.WARNING, logger="welfare.report"):
        metrics, text = _write(
            tmp_path,
            evaluated,
            _context(evaluated),
            welfare_config.targets,
            ceiling=_ceiling("lgbm_fused", 7),
            real_scores=real,
        )
    assert "ceiling" not in metrics and "real_scores" not in metrics
    assert "data seed 7, the models on seed 3" in metrics["skipped"]["ceiling"]["why"]
    why = metrics["skipped"]["real_scores"]["why"]
    assert f"lgbm_fused lgbm_fused-000000000000 (evaluated: {versions['lgbm_fused']})" in why
    assert "## Ceiling" not in text and "## With photos scored" not in text
    assert "_ceiling.json in the output folder was left out: measured on data seed 7" in text
    assert "Run `shanyraq welfare evaluate-real` again" in text
    assert sum("left out of the report" in r.message for r in caplog.records) == 2


@pytest.mark.parametrize(
    ("real", "words"),
    [
        ({"data": {"n": 500, "seed": 3}}, "measured on data n = 500, seed 3"),
        ({"data": {"n": 900, "seed": 3}, "fusion_models": {"x": "x-1"}}, "none of the fusion"),
    ],
)
def test_real_scores_of_other_data_or_models_are_stale(evaluated, real, words):
    public = {**evaluated, "context": _context(evaluated)}
    assert words in (report_measurements._real_scores_mismatch(real, public) or "")
    versions = {name: m["version"] for name, m in evaluated["models"].items()}
    same = {"data": {"n": 900, "seed": 3}, "fusion_models": {**versions, "engine": "e-1"}}
    assert report_measurements._real_scores_mismatch(same, public) is None


def test_ceiling_of_another_model_or_recipe_is_stale(evaluated, welfare_config):
    recipe = welfare_config.fusion.model_dump(mode="json")
    public = {**evaluated, "context": _context(evaluated, recipe=recipe)}
    stale = report_measurements._ceiling_mismatch(_ceiling("rf_fused", 3), public)
    assert "not the default model" in (stale or "")
    other = {**recipe, "calibration_fraction": 0.3, "serving_model": "lgbm_fused"}
    why = report_measurements._ceiling_mismatch(_ceiling("lgbm_fused", 3, recipe=other), public)
    assert why == "measured with another fusion recipe (it differs in calibration_fraction)"
    renamed = {**recipe, "serving_model": "lgbm_fused", "n_families": 64000}
    same = _ceiling("lgbm_fused", 3, recipe=renamed)
    assert report_measurements._ceiling_mismatch(same, public) is None
    # Measured under other rules or criteria (configs/welfare.yaml, targets aside): stale too.
    digest = {"welfare_config_measured_sha256": "a" * 64}
    measured = {**public, "context": {**public["context"], **digest}}
    other_config = {**same, "welfare_config_measured_sha256": "b" * 64}
    why = report_measurements._ceiling_mismatch(other_config, measured)
    assert "another configs/welfare.yaml" in (why or "")
    assert report_measurements._ceiling_mismatch({**same, **digest}, measured) is None


def _real_scores_of(evaluated, **extra):
    """real_scores.json of these models and data (only what the staleness check reads)."""
    versions = {name: m["version"] for name, m in evaluated["models"].items()}
    return {"data": {"n": 900, "seed": 3}, "fusion_models": versions, **extra}


def test_real_scores_measured_with_another_welfare_config_are_left_out(
    tmp_path, evaluated, welfare_config
):
    context = _context(evaluated, welfare_config_measured_sha256="a" * 64)
    real = _real_scores_of(
        evaluated, welfare_config_measured_sha256="b" * 64, code_version="0.1.0+x"
    )
    metrics, text = _write(tmp_path, evaluated, context, welfare_config.targets, real_scores=real)
    assert "real_scores" not in metrics and "## With photos scored" not in text
    why = metrics["skipped"]["real_scores"]["why"]
    assert why == (
        "measured with another configs/welfare.yaml (digest bbbbbbbbbbbb, targets aside; "
        "evaluated with aaaaaaaaaaaa)"
    )
    assert f"_real_scores.json in the output folder was left out: {why}." in text
    public = {**evaluated, "context": context}
    same = _real_scores_of(evaluated, welfare_config_measured_sha256="a" * 64)
    assert report_measurements._real_scores_mismatch(same, public) is None


def test_real_scores_recorded_before_the_config_digest_still_belong(evaluated):
    """A file written before the digest was recorded is judged as before: data and models."""
    public = {
        **evaluated,
        "context": _context(evaluated, welfare_config_measured_sha256="a" * 64),
    }
    assert report_measurements._real_scores_mismatch(_real_scores_of(evaluated), public) is None


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ('{"data": {"n": 9', "unreadable ("),  # cut short: not valid JSON
        ("null", "unreadable (not a JSON object)"),
        (b"\xff\xfe{}", "unreadable ("),  # not UTF-8
    ],
)
def test_a_damaged_measurement_file_is_left_out_not_the_report(
    tmp_path, evaluated, welfare_config, content, why
):
    out = tmp_path / "out"
    out.mkdir()
    target = out / "real_scores.json"
    if isinstance(content, bytes):
        target.write_bytes(content)
    else:
        target.write_text(content)
    write_report(
        evaluated,
        out_dir=out,
        markdown=tmp_path / "r.md",
        context=_context(evaluated),
        levels=[1, 2, 3, 4, 5, 6],
        targets=welfare_config.targets,
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert "real_scores" not in metrics
    assert metrics["skipped"]["real_scores"]["why"].startswith(why)
    assert (
        "_real_scores.json in the output folder was left out: unreadable"
        in (tmp_path / "r.md").read_text()
    )
