"""Review 15: calibration, evaluation, reports and export on degenerate inputs: non-finite
logits, photos all of one kind, figures the photos cannot define, a parity batch of one."""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest
import torch

from shanyraq.manifest import read_manifest, write_manifest
from training.calibrate import CalibrationError, HeadLogits, fit_calibration, fit_temperatures
from training.evaluate import evaluate
from training.metrics import (
    condition_metrics,
    expected_calibration_error,
    room_metrics,
    signs_metrics,
)
from training.model_card import model_card
from training.report import write_report
from vision.export import ExportRequest, check_parity, export_artifact
from vision.export_parity import ExportParityError
from vision.model import create_model, model_preprocessing

from .fixed_model import fixed_predictor
from .toy_manifest_helpers import write_toy_manifest


def _validation_logits(n: int = 60, seed: int = 0) -> HeadLogits:
    rng = np.random.default_rng(seed)
    return HeadLogits(
        room=rng.normal(0, 2, size=(n, 6)),
        condition=rng.normal(0, 2, size=(n, 5)),
        signs=rng.normal(0, 2, size=(n, 8)),
        room_target=rng.integers(0, 6, n),
        condition_target=rng.integers(0, 5, n),
        signs_target=(rng.random((n, 8)) < 0.3).astype(float),
        signs_known=np.ones(n, dtype=bool),
    )


@pytest.mark.parametrize(
    ("head", "value"), [("room", np.nan), ("condition", np.inf), ("signs", -np.inf)]
)
def test_calibration_refuses_non_finite_logits_instead_of_fitting_garbage(head, value):
    # Before: one NaN logit made every NLL NaN and the bounded search returned T = 0.49,
    # which then sharpened every served photo's probabilities.
    clean = _validation_logits()
    broken = getattr(clean, head).copy()
    broken[[3, 7], 1] = value
    logits = replace(clean, **{head: broken})
    for fit in (
        lambda: fit_temperatures(logits, formulation="softmax"),
        lambda: fit_calibration(logits, formulation="softmax", bias_heads=["room"], l2=0.01),
    ):
        with pytest.raises(CalibrationError) as caught:
            fit()
        assert caught.value.code == "calibration_nonfinite_logits"
        message = caught.value.message
        assert f"{head}: 2 of 60" in message and "train again" in message
    # The clean logits still fit, and the error names only the broken head.
    assert fit_temperatures(clean, formulation="softmax").room > 0


def test_calibration_with_a_class_absent_and_a_head_unlabelled():
    logits = _validation_logits(n=200)
    room_target = np.where(logits.room_target == 4, 0, logits.room_target)  # no class 4
    unlabelled = replace(
        logits,
        room_target=room_target,
        signs_known=np.zeros(200, dtype=bool),  # no photo has its signs labelled
        condition_target=np.full(200, -1),  # nor its grade
    )
    fitted = fit_calibration(unlabelled, formulation="softmax", bias_heads=["room", "condition"],
                             l2=0.01, min_examples=5)  # fmt: skip
    assert fitted.temperatures.signs == 1.0 and fitted.temperatures.condition == 1.0
    assert fitted.biases.room[4] == 0.0  # a class validation never shows is not pushed down
    assert fitted.biases.condition == []


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.UndefinedMetricWarning")
def test_metrics_on_photos_of_one_kind_are_undefined_not_zero():
    one_grade = condition_metrics(np.eye(5)[[2, 2, 2]], np.array([2, 2, 2]))
    assert np.isnan(one_grade["qwk"]) and one_grade["mae"] == 0.0
    # A sign no photo shows has no AP; it is left out of mAP, not counted as 0 or NaN.
    target = np.array([[1, 0], [0, 0], [1, 0]], dtype=float)
    probs = np.array([[0.9, 0.2], [0.1, 0.3], [0.8, 0.1]])
    signs = signs_metrics(probs, target, np.ones(3, dtype=bool), labels=["a", "b"])
    assert np.isnan(signs["ap"]["b"]) and signs["map"] == pytest.approx(1.0)
    labels = ["kitchen", "bathroom", "not_dwelling"]
    room = room_metrics(np.eye(3)[[0, 0]], np.array([2, 2]), labels=labels,
                        not_dwelling="not_dwelling")  # fmt: skip
    assert room["confusion"] == [[0, 0, 0], [0, 0, 0], [2, 0, 0]]
    assert np.isnan(room["per_class_recall"]["kitchen"]) and room["not_dwelling_recall"] == 0.0
    assert np.isnan(room["not_dwelling_precision"])
    assert expected_calibration_error(np.array([0.7]), np.array([1])) == pytest.approx(0.3)


@pytest.fixture(scope="module")
def not_dwelling_only(tmp_path_factory, taxonomy):
    """Six toy photos, every one relabelled not_dwelling (no grade, no signs)."""
    folder = tmp_path_factory.mktemp("nd")
    read = read_manifest(write_toy_manifest(folder / "data", taxonomy, n_families=3, per_family=2))
    rows = [
        replace(r, path=str(r.resolve(read.root)), room=taxonomy.not_dwelling, condition=None,
                signs=frozenset())
        for r in read.rows
    ]  # fmt: skip
    return read_manifest(write_manifest(folder / "nd.csv", rows))


def test_report_and_card_on_photos_all_not_dwelling_say_n_a_and_link_no_missing_plot(
    not_dwelling_only, taxonomy, tmp_path
):
    # A predictor that says kitchen for every photo: no grade, no sign, no photo it calls
    # not_dwelling, so QWK, MAE, AP, the condition and signs ECE and the precision are undefined.
    artifact, predict = fixed_predictor(taxonomy, sign_logit=0.0)
    metrics = evaluate(predict, artifact, root=not_dwelling_only.root,
                       test_rows=not_dwelling_only.rows, taxonomy=taxonomy)  # fmt: skip
    assert metrics["test"]["room"]["not_dwelling_recall"] == 0.0
    for by_severity in metrics["robustness"].values():
        assert all(np.isnan(s["condition.qwk"]) for s in by_severity.values())
    report = write_report(tmp_path / "ev", metrics, artifact=artifact)
    text = report.read_text()
    assert not re.search(r"\bnan\b", text, re.IGNORECASE), text
    for link in re.findall(r"\]\(([^)]+\.png)\)", text):  # before: confusion_condition.png
        assert (report.parent / link).is_file(), link
    assert "(robustness.png)" in text
    assert "not_dwelling precision n/a" in text and "QWK n/a" in text
    card = model_card(artifact, metrics, recipe=None)
    assert not re.search(r"\bnan\b", card, re.IGNORECASE), card


def test_report_reads_figures_saved_as_null(not_dwelling_only, taxonomy, tmp_path):
    """Figures from a JSON writer that keeps no NaN (null instead) read as undefined."""
    from shanyraq.json_values import finite_or_none

    artifact, predict = fixed_predictor(taxonomy, sign_logit=0.0)
    metrics = evaluate(predict, artifact, root=not_dwelling_only.root,
                       test_rows=not_dwelling_only.rows, taxonomy=taxonomy,
                       with_robustness=False)  # fmt: skip
    text = write_report(tmp_path / "ev", finite_or_none(metrics), artifact=artifact).read_text()
    assert "None" not in text and "QWK n/a" in text
    card = model_card(artifact, finite_or_none(metrics), recipe=None)
    assert "None" not in card.split("## Metrics against targets")[1]


def _request(model, version: str) -> ExportRequest:
    preprocessing = model_preprocessing(model, size=32)
    return ExportRequest(
        variant="shanyraq_test", preprocessing=preprocessing, model_version=version
    )


@pytest.fixture(scope="module")
def exported_from_one_photo(tmp_path_factory, taxonomy):
    """An export whose parity check had one photo, of an odd size."""
    model = create_model("shanyraq_test", taxonomy=taxonomy).eval()
    request = _request(model, "review15")
    photo = np.random.default_rng(1).integers(0, 256, size=(37, 91, 3), dtype=np.uint8)
    folder = tmp_path_factory.mktemp("export") / "model"
    artifact = export_artifact(model, folder, request=request, taxonomy=taxonomy,
                               parity_images=[photo])  # fmt: skip
    return model, folder, artifact, photo


def test_parity_with_one_photo_of_an_odd_size(exported_from_one_photo):
    model, folder, artifact, photo = exported_from_one_photo
    assert (folder / "model.onnx").is_file()
    assert check_parity(model, folder / "model.onnx", artifact, [photo]) < 1e-4


def test_parity_refuses_non_finite_probabilities(exported_from_one_photo, taxonomy):
    # Before: |NaN - p| > tolerance is False, so a model whose weights went NaN (a diverged
    # training run) passed the check and was exported.
    model, folder, artifact, photo = exported_from_one_photo
    broken = create_model("shanyraq_test", taxonomy=taxonomy).eval()
    broken.load_state_dict(model.state_dict())
    with torch.no_grad():
        broken.signs_head.bias.fill_(float("nan"))
    with pytest.raises(ExportParityError) as caught:
        check_parity(broken, folder / "model.onnx", artifact, [photo, photo[:20]])
    assert caught.value.code == "export_nonfinite"
    assert "signs" in caught.value.message and "2 of 2" in caught.value.message


def test_an_export_of_a_model_with_nan_weights_is_refused_and_writes_nothing(taxonomy, tmp_path):
    model = create_model("shanyraq_test", taxonomy=taxonomy).eval()
    with torch.no_grad():
        model.room_head.bias.fill_(float("nan"))
    request = _request(model, "nan")
    photo = np.zeros((32, 32, 3), dtype=np.uint8)
    with pytest.raises(ExportParityError, match="room"):
        export_artifact(model, tmp_path / "model", request=request, taxonomy=taxonomy,
                        parity_images=[photo])  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_ece_is_its_definition_with_empty_bins_and_confidences_on_bin_edges():
    rng = np.random.default_rng(3)
    confidence = np.concatenate([rng.uniform(0.6, 0.8, 50), [0.0, 1 / 15, 1.0, 1.0]])
    correct = rng.random(confidence.size) < confidence
    edges = np.linspace(0, 1, 16)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, 14)
    by_hand = (
        sum(
            (which == b).sum() * abs(correct[which == b].mean() - confidence[which == b].mean())
            for b in range(15)
            if (which == b).any()
        )
        / confidence.size
    )
    assert expected_calibration_error(confidence, correct) == pytest.approx(by_hand)
    assert np.isnan(expected_calibration_error(np.array([]), np.array([])))


def test_robustness_curves_are_the_headline_figures_without_bootstrap_draws(
    toy_manifest, taxonomy, monkeypatch
):
    # Before: each corruption and severity ran the full head_metrics, whose ECE intervals and
    # floors (700 draws per head) took nine tenths of the robustness time, then were dropped.
    import training.evaluate as ev
    from training.corruptions import CORRUPTIONS

    manifest = read_manifest(toy_manifest)
    rows = manifest.by_split("test")
    artifact, predict = fixed_predictor(taxonomy, sign_logit=-1.0)
    images = ev.load_images(rows, manifest.root, artifact.preprocessing)
    blur = ev._bind(CORRUPTIONS["blur"], 3)
    blurred = ev.collect_logits(
        predict, images, rows, spec=artifact.preprocessing, taxonomy=taxonomy, corrupt=blur
    )
    measured = ev.head_metrics(blurred, artifact, not_dwelling=taxonomy.not_dwelling)
    expected = ev.summary(measured)

    def not_here(*args, **kwargs):
        raise AssertionError("robustness drew a bootstrap it does not show")

    monkeypatch.setattr(ev, "ece_floor", not_here)
    monkeypatch.setattr(ev, "ece_interval", not_here)
    curves = ev.robustness(predict, images, rows, artifact, taxonomy=taxonomy)
    assert set(curves) == set(CORRUPTIONS)
    curve = dict(curves["blur"]["3"])
    assert curve.pop("nonfinite") == measured["nonfinite"]
    assert curve == pytest.approx(expected, nan_ok=True)
