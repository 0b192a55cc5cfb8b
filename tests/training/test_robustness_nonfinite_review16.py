"""Review 16: robustness curves count the photos they leave out because the model's scores on
a corrupted photo are NaN or infinite, as the clean evaluation counts them in `nonfinite`."""

from __future__ import annotations

import json

import numpy as np
import pytest

import training.evaluate as ev
from shanyraq.manifest import read_manifest
from training.corruptions import CORRUPTIONS, SEVERITIES
from training.report import write_report

from .fixed_model import fixed_predictor


def _broken_on_corrupted(taxonomy, *, clean_batches: int):
    """fixed_predictor's answers, with NaN room logits on the first photo and an infinite sign
    logit on the first two of every batch after the first `clean_batches` (the corrupted ones:
    `evaluate` scores the clean photos first, then each corruption and severity in turn)."""
    artifact, predict = fixed_predictor(taxonomy, sign_logit=-1.0)
    calls = iter(range(10**6))

    def broken(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        room, condition, signs = predict(batch)
        if next(calls) >= clean_batches:
            room[0, :] = np.nan
            signs[:2, 3] = np.inf
        return room, condition, signs

    return artifact, broken


@pytest.fixture
def test_photos(toy_manifest, taxonomy):
    manifest = read_manifest(toy_manifest)
    rows = manifest.by_split("test")
    artifact, _ = fixed_predictor(taxonomy, sign_logit=-1.0)
    images = ev.load_images(rows, manifest.root, artifact.preprocessing)
    assert 2 <= len(images) <= 64  # one batch, so each corrupted run loses the same photos
    return manifest, rows, images


def test_every_robustness_entry_counts_the_photos_left_out_per_head(test_photos, taxonomy):
    # Before: the entry held only the figures of the photos kept, so a curve on a model that
    # breaks on corrupted photos looked as good as the finite photos alone made it.
    _, rows, images = test_photos
    artifact, predict = _broken_on_corrupted(taxonomy, clean_batches=0)
    curves = ev.robustness(predict, images, rows, artifact, taxonomy=taxonomy)
    assert set(curves) == set(CORRUPTIONS)
    for by_severity in curves.values():
        assert set(by_severity) == {str(s) for s in SEVERITIES}
        for entry in by_severity.values():
            assert entry["nonfinite"] == {"room": 1, "condition": 0, "signs": 2}
            # The figures are still those of the photos kept.
            assert 0.0 <= entry["room.macro_f1"] <= 1.0


def test_clean_photos_leave_every_robustness_count_at_zero(test_photos, taxonomy):
    _, rows, images = test_photos
    artifact, predict = fixed_predictor(taxonomy, sign_logit=-1.0)
    curves = ev.robustness(predict, images, rows, artifact, taxonomy=taxonomy)
    counts = [entry["nonfinite"] for by in curves.values() for entry in by.values()]
    assert counts and all(c == {"room": 0, "condition": 0, "signs": 0} for c in counts)


def test_metrics_json_and_report_show_the_corrupted_photos_left_out(
    test_photos, taxonomy, tmp_path
):
    manifest, rows, _ = test_photos
    artifact, predict = _broken_on_corrupted(taxonomy, clean_batches=1)
    metrics = ev.evaluate(predict, artifact, root=manifest.root, test_rows=rows,
                          taxonomy=taxonomy)  # fmt: skip
    assert metrics["test"]["nonfinite"] == {"room": 0, "condition": 0, "signs": 0}
    report = write_report(tmp_path / "ev", metrics, artifact=artifact)

    def no_nan(constant: str) -> None:
        raise AssertionError(f"metrics.json holds {constant}, which is not JSON")

    saved = json.loads((report.parent / "metrics.json").read_text(), parse_constant=no_nan)
    assert saved["robustness"]["noise"]["2"]["nonfinite"] == {"room": 1, "condition": 0,
                                                              "signs": 2}  # fmt: skip
    assert (report.parent / "robustness.png").is_file()  # the counts are not drawn as a curve
    text = report.read_text()
    robustness = text[text.index("## Robustness") :]
    assert "NaN or infinite" in robustness
    assert "blur 1: room 1, signs 2" in robustness
    assert "condition 0" not in robustness  # only the heads that lost photos are named
