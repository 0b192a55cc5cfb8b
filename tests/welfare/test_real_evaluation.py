"""The real-scores report grades a photo as the photo model's metrics do: by the median grade."""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.synth.families import PlannedPhoto
from vision.score import PhotoScore
from welfare.aggregate import PhotoFlags
from welfare.real_evaluation import photo_figures
from welfare.real_families import HeldOut
from welfare.real_scores import RealPhoto
from welfare.simulate import SimulatedPhoto

# Two peaks: grade 1 is the most probable, the median (what QWK and accuracy score) is grade 3.
TWO_PEAKS = {1: 0.35, 2: 0.0, 3: 0.3, 4: 0.05, 5: 0.3}
PREMIUM = {1: 0.0, 2: 0.0, 3: 0.1, 4: 0.2, 5: 0.7}


def _score(taxonomy, condition: dict[int, float], sha: str) -> PhotoScore:
    room = {r: 0.9 if r == "kitchen" else 0.02 for r in taxonomy.room_names}
    signs = dict.fromkeys(taxonomy.sign_names, 0.0)
    return PhotoScore(sha, "m1", room, condition, signs, np.zeros(4, dtype=np.float32))


def test_photo_grades_are_the_median_of_the_grade_distribution(taxonomy):
    planned = [
        PlannedPhoto("f1", "kitchen", grade, frozenset(), 0, True, None, index=i)
        for i, grade in enumerate((3, 5))
    ]
    scores = [_score(taxonomy, TWO_PEAKS, "a" * 64), _score(taxonomy, PREMIUM, "b" * 64)]
    assert scores[0].top_condition == 1  # the argmax would call the first photo wrong
    held = HeldOut(
        table=pd.DataFrame({"family_id": ["f1"]}),
        planned=list(enumerate(planned)),
        simulated={"f1": [SimulatedPhoto("f1", s, PhotoFlags()) for s in scores]},
        n=1,
        seed=0,
    )
    photos = {f"f1/{i}": RealPhoto(f"f1/{i}", s, "pass", (), "") for i, s in enumerate(scores)}
    figures = photo_figures(held, photos, reused=dict.fromkeys(photos, False))
    graded = figures["condition_on_usable_photos"]
    for reading in ("engine", "simulated"):
        assert graded[reading]["n"] == 2
        assert graded[reading]["accuracy"] == 1.0, reading  # grades 3 and 5, as planned
        assert graded[reading]["qwk"] == 1.0, reading
