"""The report's sentence on which configuration measured real_scores.json: it names the digest
the staleness check compares (targets and `fairness.intervals` aside) and says whether it is
the configuration evaluated, instead of claiming so whatever the digests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from welfare.criteria import get_welfare_config
from welfare.real_report import real_score_lines
from welfare.report import write_report
from welfare.report_measurements import _config_mismatch

# A complete real_scores.json as `welfare evaluate-real` writes it (the shipped measurement).
SHIPPED = Path(__file__).resolve().parents[2] / "docs/images/welfare/real_scores.json"
CODE = "0.1.0+abc123def456"


def _intervals_changed(config: Any) -> Any:
    """`config` with only `fairness.intervals` changed: another full digest, the same measured."""
    intervals = config.fairness.intervals.model_copy(
        update={"min_bootstrap_draws": config.fairness.intervals.min_bootstrap_draws + 60}
    )
    fairness = config.fairness.model_copy(update={"intervals": intervals})
    return config.model_copy(update={"fairness": fairness})


def _real(evaluated: dict[str, Any], config: Any | None) -> dict[str, Any]:
    """real_scores.json of the evaluated models and data, measured with `config` (None: written
    before the digests were recorded)."""
    real = json.loads(SHIPPED.read_text(encoding="utf-8"))
    for key in ("code_version", "welfare_config_sha256", "welfare_config_measured_sha256"):
        real.pop(key, None)
    real["data"] = {**real["data"], "n": 900, "seed": 3}
    real["fusion_models"] = {name: m["version"] for name, m in evaluated["models"].items()}
    if config is not None:
        real["code_version"] = CODE
        real["welfare_config_sha256"] = config.digest()
        real["welfare_config_measured_sha256"] = config.measured_digest()
    return real


def _context(evaluated: dict[str, Any], config: Any | None) -> dict[str, Any]:
    """The evaluation's context (welfare.train.evaluate_saved's), made with `config`."""
    context = {
        "command": "test", "default_model": evaluated["default_model"], "data_note": "note",
        "notes": [], "n_families": 900, "seed": 3, "recipe": None,
    }  # fmt: skip
    if config is not None:
        context["welfare_config_sha256"] = config.digest()
        context["welfare_config_measured_sha256"] = config.measured_digest()
    return context


def _page(tmp_path: Path, evaluated: dict[str, Any], context: dict[str, Any], real: dict) -> str:
    """The report's page (as `welfare evaluate` writes it) with `real` in its output folder."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "real_scores.json").write_text(json.dumps(real), encoding="utf-8")
    page = write_report(
        evaluated, out_dir=out, markdown=tmp_path / "r.md", context=context,
        levels=[1, 2, 3, 4, 5, 6], targets=get_welfare_config().targets,
    )  # fmt: skip
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert "real_scores" in metrics, metrics.get("skipped")  # the file belongs: merged
    return " ".join(page.read_text(encoding="utf-8").split())


def test_a_change_of_fairness_intervals_alone_names_the_same_digest(
    tmp_path, evaluated, welfare_config
):
    measured_with = _intervals_changed(welfare_config)
    assert measured_with.digest() != welfare_config.digest()
    assert measured_with.measured_digest() == welfare_config.measured_digest()
    real = _real(evaluated, measured_with)
    page = _page(tmp_path, evaluated, _context(evaluated, welfare_config), real)
    digest = welfare_config.measured_digest()[:12]
    assert (
        f"Measured by code `{CODE}` with configs/welfare.yaml `{digest}` (its digest with the "
        "targets and `fairness.intervals` aside): the same configuration as the one evaluated "
        "above." in page
    )
    # Neither full digest is shown: they differ in fairness.intervals alone.
    assert measured_with.digest()[:12] not in page and welfare_config.digest()[:12] not in page


def test_an_evaluation_without_the_digest_leaves_the_configuration_unknown(
    tmp_path, evaluated, welfare_config
):
    # The staleness check cannot judge it, so the file is merged: the page must not claim it
    # was measured with the configuration evaluated.
    real = _real(evaluated, welfare_config)
    page = _page(tmp_path, evaluated, _context(evaluated, None), real)
    digest = welfare_config.measured_digest()[:12]
    assert (
        f"configs/welfare.yaml `{digest}` (its digest with the targets and `fairness.intervals` "
        "aside); the evaluation above records no such digest, so whether it was made with the "
        "same configuration is unknown." in page
    )
    assert "the configuration evaluated above." not in page
    assert "the same configuration as the one evaluated above" not in page


def test_another_configuration_is_said_to_be_another(evaluated, welfare_config):
    other = welfare_config.model_copy(
        update={"thresholds": welfare_config.thresholds.model_copy(update={"poverty_line_kzt": 1})}
    )
    real, context = _real(evaluated, other), _context(evaluated, welfare_config)
    assert _config_mismatch(real, context) is not None  # the report would leave it out
    text = " ".join(real_score_lines(real, targets=welfare_config.targets, context=context))
    assert (
        f"configs/welfare.yaml `{other.measured_digest()[:12]}` (its digest with the targets "
        "and `fairness.intervals` aside): NOT the configuration evaluated above "
        f"(`{welfare_config.measured_digest()[:12]}`), so these figures may not hold for it."
        in text
    )
    assert "the same configuration" not in text


@pytest.mark.parametrize("keep_full", [False, True], ids=["none", "full digest only"])
def test_a_file_without_the_measured_digest_says_so(evaluated, welfare_config, keep_full):
    real = _real(evaluated, welfare_config if keep_full else None)
    real.pop("welfare_config_measured_sha256", None)
    context = _context(evaluated, welfare_config)
    text = " ".join(real_score_lines(real, targets=welfare_config.targets, context=context))
    assert (
        "real_scores.json records no configs/welfare.yaml digest (written before it was "
        "recorded), so whether the configuration evaluated above measured it is unknown" in text
    )
    assert "Measured by code" not in text
