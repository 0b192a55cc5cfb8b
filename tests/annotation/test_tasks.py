"""Pre-annotations: the model's answer per head, as the metrics decode it."""

from __future__ import annotations

import numpy as np

from annotation.label_config import labels_from_result
from annotation.tasks import median_grade, predicted_labels, prediction_from_score
from training.metrics import ordinal_median
from vision.score import PhotoScore

# Two peaks: grade 1 is the most probable, but the median (what QWK and MAE score) is grade 3.
TWO_PEAKS = {1: 0.35, 2: 0.0, 3: 0.3, 4: 0.05, 5: 0.3}


def _score(taxonomy, condition: dict[int, float]) -> PhotoScore:
    room = {r: 0.9 if r == "kitchen" else 0.02 for r in taxonomy.room_names}
    signs = dict.fromkeys(taxonomy.sign_names, 0.1)
    return PhotoScore("a" * 64, "m1", room, condition, signs, np.zeros(4, dtype=np.float32))


def test_the_pre_annotated_grade_is_the_median_the_metrics_score(taxonomy):
    score = _score(taxonomy, TWO_PEAKS)
    assert score.top_condition == 1
    expected = int(ordinal_median(np.array([list(TWO_PEAKS.values())]))[0]) + 1
    assert median_grade(TWO_PEAKS) == expected == 3
    labels = predicted_labels(score, taxonomy, sign_threshold=0.5)
    assert labels.room == "kitchen" and labels.condition == 3 and labels.signs == frozenset()
    prediction = prediction_from_score(score, taxonomy, sign_threshold=0.5)
    assert labels_from_result(taxonomy, prediction["result"]) == labels
    condition_item = next(i for i in prediction["result"] if i["from_name"] == "condition")
    assert condition_item["score"] == TWO_PEAKS[3]


def test_median_grade_follows_the_grades_not_the_dict_order():
    assert median_grade({5: 0.6, 4: 0.1, 3: 0.1, 2: 0.1, 1: 0.1}) == 5
    assert median_grade({1: 0.5, 2: 0.5}) == 1  # first grade whose cumulative reaches 0.5
