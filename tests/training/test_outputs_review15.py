"""Review 15: the training and welfare outputs: figures files that are valid JSON (null, never
NaN), photos whose scores are not numbers, temperatures fitted at their bound, and a
robustness plot that shows a negative QWK."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shanyraq.manifest import read_manifest
from training.calibrate import HeadLogits, fit_calibration
from training.evaluate import evaluate
from training.model_card import model_card
from training.report import write_report
from vision.artifact import Temperatures

from .fixed_model import fixed_predictor


def _strict_json(path: Path) -> Any:
    """The file as a JSON reader that keeps to the standard reads it (jq, a browser)."""

    def refuse(constant: str) -> Any:
        raise AssertionError(f"{path.name} holds {constant}, which is not JSON")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


@pytest.fixture(scope="module")
def test_rows(toy_manifest):
    manifest = read_manifest(toy_manifest)
    return manifest, manifest.by_split("test")


# 1. metrics.json and the welfare metrics.json hold null, not NaN.


def test_training_metrics_json_holds_null_for_undefined_figures(test_rows, taxonomy, tmp_path):
    manifest, rows = test_rows
    artifact, predict = fixed_predictor(taxonomy, sign_logit=0.0)
    # Every photo relabelled as one room: its macro-F1 is defined, every other recall is NaN.
    metrics = evaluate(predict, artifact, root=manifest.root, test_rows=rows, taxonomy=taxonomy,
                       with_robustness=False)  # fmt: skip
    metrics["test"]["condition"]["qwk"] = math.nan  # as on photos of one grade
    report = write_report(tmp_path / "ev", metrics, artifact=artifact)
    saved = _strict_json(tmp_path / "ev" / "metrics.json")
    assert saved["test"]["condition"]["qwk"] is None
    assert "QWK n/a" in report.read_text()
    # The figures saved as null read as undefined, as NaN did.
    card = model_card(artifact, saved, recipe=None)
    assert "condition QWK | >= 0.92 | n/a" in card and "None" not in card, card
    again = write_report(tmp_path / "again", saved, artifact=artifact).read_text()
    assert "None" not in again and "QWK n/a" in again


def _welfare_result(qwk: float) -> dict[str, Any]:
    level = {"accuracy": 0.5, "macro_f1": math.nan, "qwk": qwk, "confusion": [[1, 0], [1, 0]]}
    asp = {"exclusion_error": math.nan, "inclusion_error": 0.1, "needs_review_rate": 0.2}
    model = {"overall": {"level": level, "asp": asp}, "hidden_income": None,
             "accuracy_by_case": {"plain": math.nan}, "version": "v1"}  # fmt: skip
    return {"models": {"m": model}, "default_model": "m"}


def test_welfare_metrics_json_holds_null_and_the_page_reads_it(tmp_path):
    from welfare.criteria import get_welfare_config
    from welfare.report import write_report as write_welfare_report

    context = {"command": "test", "default_model": "m", "data_note": "note", "notes": [],
               "n_families": 10, "seed": 0, "recipe": None}  # fmt: skip
    out = tmp_path / "out"
    page = write_welfare_report(
        _welfare_result(math.nan), out_dir=out, markdown=tmp_path / "r.md", context=context,
        levels=[1, 2], targets=get_welfare_config().targets,
    )  # fmt: skip
    saved = _strict_json(out / "metrics.json")
    level = saved["models"]["m"]["overall"]["level"]
    assert level["qwk"] is None and level["macro_f1"] is None
    text = page.read_text()
    assert "| m | 50.0 % | n/a | n/a | n/a |" in text, text
    assert not any(word in text for word in ("nan", "None")), text


def test_real_scores_section_reads_null_figures_as_n_a():
    from welfare.real_report import _ci

    assert _ci({"value": 0.1, "ci_low": None, "ci_high": 0.2}, points=True) == "+10.0 [n/a, +20.0]"
    assert _ci({"value": None, "ci_low": None, "ci_high": None}) == "n/a"


# 2. A photo whose scores are not numbers is counted, not read as class 0.


def test_photos_with_non_finite_scores_are_counted_and_left_out_of_the_figures(
    test_rows, taxonomy, tmp_path
):
    manifest, rows = test_rows
    artifact, fixed = fixed_predictor(taxonomy, sign_logit=-1.0)
    graded = next(i for i, r in enumerate(rows) if r.condition is not None)
    signed = next(i for i, r in enumerate(rows) if r.condition is not None and i != graded)

    def predict(batch: np.ndarray):
        room, condition, signs = (a.astype(np.float64) for a in fixed(batch))
        room[0, 1], condition[graded, 2], signs[signed, 0] = np.nan, np.inf, np.nan
        return room, condition, signs

    clean = evaluate(fixed, artifact, root=manifest.root, test_rows=rows, taxonomy=taxonomy,
                     with_robustness=False)["test"]  # fmt: skip
    found = evaluate(predict, artifact, root=manifest.root, test_rows=rows, taxonomy=taxonomy,
                     with_robustness=False)  # fmt: skip
    test = found["test"]
    assert test["nonfinite"] == {"room": 1, "condition": 1, "signs": 1}
    assert clean["nonfinite"] == {"room": 0, "condition": 0, "signs": 0}
    # Before: the NaN photo was argmax'd to room 0 and counted in the confusion matrix.
    assert np.sum(test["room"]["confusion"]) == np.sum(clean["room"]["confusion"]) - 1
    assert test["condition"]["n"] == clean["condition"]["n"] - 1
    assert test["signs"]["n"] == clean["signs"]["n"] - 1
    for head in ("room", "condition", "signs"):
        assert all(np.isfinite(test["reliability"][head]["after"]["confidence"]))
        assert math.isfinite(test["ece"][head]["after"])
    text = write_report(tmp_path / "ev", found, artifact=artifact).read_text()
    assert "gave NaN or infinite scores" in text and "room 1, condition 1, signs 1" in text
    clean_text = write_report(tmp_path / "clean", {**found, "test": clean}, artifact=artifact)
    assert "infinite scores" not in clean_text.read_text()


# 3. A temperature fitted at its bound is said.


def _logits(room: np.ndarray, target: np.ndarray) -> HeadLogits:
    """Validation logits with the given room head; the other heads as a fair model's, whose
    temperatures land inside their bounds."""
    n = len(target)
    rng = np.random.default_rng(1)
    grade, signs = rng.integers(0, 5, n), (rng.random((n, 8)) < 0.3).astype(float)
    return HeadLogits(
        room=room, condition=np.eye(5)[grade] * 2 + rng.normal(0, 1.5, (n, 5)),
        signs=(2 * signs - 1) * 1.5 + rng.normal(0, 1.5, (n, 8)),
        room_target=target, condition_target=grade, signs_target=signs,
        signs_known=np.ones(n, bool),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("scale", "bound", "served"), [(40.0, 20.0, "over"), (1e-4, 0.05, "under")]
)
def test_a_temperature_at_its_bound_is_warned_and_recorded(caplog, scale, bound, served):
    rng = np.random.default_rng(0)
    target = rng.integers(0, 6, 300)
    # Logits unrelated to the labels want T -> infinity; tiny right ones want T -> 0.
    room = rng.normal(0, scale, (300, 6)) if bound > 1 else np.eye(6)[target] * scale
    with caplog.at_level(logging.WARNING, logger="training.calibrate"):
        fitted = fit_calibration(_logits(room, target), formulation="softmax", bias_heads=[],
                                 l2=0.01)  # fmt: skip
    assert fitted.temperature_at_bound == {"room": bound}
    warned = [r.getMessage() for r in caplog.records if "bound" in r.getMessage()]
    assert len(warned) == 1 and "room" in warned[0] and f"{bound:g}" in warned[0], warned
    assert f"{served}-confident" in warned[0]
    # The bias-fitted head is judged on its final temperature too.
    with caplog.at_level(logging.WARNING, logger="training.calibrate"):
        joint = fit_calibration(_logits(room, target), formulation="softmax",
                                bias_heads=["room"], l2=0.01, min_examples=5)  # fmt: skip
    assert joint.temperature_at_bound.get("room") == bound


def test_the_report_says_a_temperature_at_its_bound(test_rows, taxonomy, tmp_path):
    manifest, rows = test_rows
    artifact, predict = fixed_predictor(taxonomy, sign_logit=-1.0)
    artifact = artifact.model_copy(update={"temperatures": Temperatures(room=20.0, signs=0.05)})
    metrics = evaluate(predict, artifact, root=manifest.root, test_rows=rows[:3],
                       taxonomy=taxonomy, with_robustness=False)  # fmt: skip
    assert metrics["calibration"]["temperature_at_bound"] == {"room": 20.0, "signs": 0.05}
    text = write_report(tmp_path / "ev", metrics, artifact=artifact).read_text()
    assert "room temperature is at its bound 20" in text
    assert "signs temperature is at its bound 0.05" in text
    assert "condition temperature" not in text


def test_a_temperature_inside_its_bounds_is_not_said_nor_changes_the_model_version(
    toy_manifest, tiny_recipe, taxonomy, tmp_path
):
    from training.build import model_version
    from vision.model import create_model

    rng = np.random.default_rng(0)
    target = rng.integers(0, 6, 300)
    room = np.eye(6)[target] * 2 + rng.normal(0, 1.5, (300, 6))
    fitted = fit_calibration(_logits(room, target), formulation="softmax", bias_heads=[], l2=0.01)
    assert fitted.temperature_at_bound == {}
    # A record about the fit, not what the model computes: the version (its digest) ignores it.
    config = tiny_recipe(toy_manifest, tmp_path)
    model = create_model("shanyraq_test", taxonomy=taxonomy)
    said = fitted.model_copy(update={"temperature_at_bound": {"room": 20.0}})
    assert model_version(config, model, said) == model_version(config, model, fitted)


# 4. The robustness plot shows a negative QWK.


def test_robustness_axis_reaches_a_negative_figure(monkeypatch, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from training import report_plots

    figures: list[Any] = []
    monkeypatch.setattr(plt, "close", figures.append)
    Curves = dict[str, dict[str, dict[str, float | None]]]
    curves: Curves = {"blur": {"1": {"condition.qwk": 0.4, "signs.map": 0.9},
                               "3": {"condition.qwk": -0.3, "signs.map": None}}}  # fmt: skip
    report_plots.plot_robustness(tmp_path / "r.png", curves)
    low_qwk, high_qwk = figures[0].axes[0].get_ylim()
    low_map, _ = figures[0].axes[1].get_ylim()
    assert low_qwk <= -0.3 and high_qwk >= 1.0
    assert low_map == 0.0  # nothing below 0: the axis starts at 0 as before
