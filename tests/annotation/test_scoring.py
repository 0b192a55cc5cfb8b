"""Pre-annotations from a real exported model: engine scores become Label Studio predictions."""

from __future__ import annotations

import pytest

from annotation.label_config import labels_from_result
from annotation.scoring import read_scores, score_manifest, write_scores
from annotation.tasks import predicted_labels, prediction_from_score
from shanyraq.manifest import read_manifest

from .helpers import make_manifest

engine_fixtures = pytest.importorskip("tests.vision.engine_fixtures")


@pytest.mark.slow
def test_model_scores_become_predictions_and_round_trip_as_jsonl(tmp_path, taxonomy):
    artifact = engine_fixtures.make_artifact(tmp_path / "model", taxonomy)
    manifest = tmp_path / "data" / "manifest.csv"
    make_manifest(tmp_path / "data", manifest, 3, prefix="m")
    scores = score_manifest(read_manifest(manifest), artifact)
    assert len(scores) == 3
    for score in scores.values():
        prediction = prediction_from_score(score, taxonomy, sign_threshold=0.5)
        assert prediction["model_version"] == score.model_version
        assert 0.0 <= prediction["score"] <= 1.0
        parsed = labels_from_result(taxonomy, prediction["result"])
        assert parsed == predicted_labels(score, taxonomy, sign_threshold=0.5)
    saved = read_scores(write_scores(tmp_path / "scores.jsonl", scores.values()))
    assert saved.keys() == scores.keys()
    first = next(iter(scores))
    assert (saved[first].embedding == scores[first].embedding).all()
